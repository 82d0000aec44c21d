"""The rules a table of systems is checked against, in one place.

:func:`cell_problems` checks one cell (number, category, true/false, ratio, component);
:data:`ROW_RULES` check the columns of one row together (an additive concentration without an
additive, a solvent named twice, a Mg alloy coating on a Ca anode, a salt whose anion is not
the row's anion ...). :class:`~screen.data.candidate_checks.CandidateChecker` applies them to a
table once per distinct value (or distinct combination of a rule's columns), which is how both
``mgscreen data validate`` (:func:`screen.data.validation.validate`) and the candidate check of
``predict``, ``rank`` and ``enumerate`` run: one set of rules, one engine.

A finding is an ``error`` when the value cannot be right (the command stops, or the row goes to
the rejects file with ``--skip-invalid``) and a ``warning`` when it is only unusual (printed
with its row; the row is kept).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from screen.data.chemistry import structure_problem
from screen.data.components import ComponentLibrary, UnknownComponent, is_none, salt_parts
from screen.data.problems import Severity
from screen.data.schema import (
    MAX_EVIDENCE_WORDS,
    MEASURED_COLUMNS,
    METALS,
    PROVENANCE_REQUIRED,
    SYSTEM_REQUIRED,
    Column,
)

Mode = Literal["dataset", "lab", "systems"]
#: ``dataset``: the curated data set (provenance required); ``lab``: a lab's own measurements
#: (``mgscreen train --data``): the dataset rules, but ``source``/``location`` may be blank;
#: ``systems``: systems to featurize or predict (no targets).
MODES: tuple[Mode, ...] = ("dataset", "lab", "systems")
#: ``component_check(kind, text)``: why a component that resolves cannot be featurized, or
#: None (the featurizers provide one:
#: :meth:`featurizers.system.SystemFeaturizer.component_problem`).
ComponentCheck = Callable[[str, str], "str | None"]
Cells = Mapping[str, str]

RATIO = re.compile(r"^\d+(\.\d+)?(:\d+(\.\d+)?)+$", re.ASCII)
#: A number as written in a CSV: ASCII digits, optional sign, '.' and exponent. Python's
#: ``float`` also takes '1_000', Arabic-Indic or full-width digits; pandas does not, and a
#: spreadsheet would not either, so they are refused rather than read differently downstream.
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
#: Longest component text (characters) that is resolved at all; library names and SMILES of
#: library-sized molecules are far shorter.
MAX_COMPONENT_CHARS = 1000
TRUE, FALSE = "true", "false"
#: The other anode metal, for the metal/coating consistency warning.
OTHER_METAL = {"Mg": "Ca", "Ca": "Mg"}
assert set(OTHER_METAL) == set(METALS)


@dataclass
class RuleContext:
    """What the rules need besides the cells: the library, the mode, the optional
    featurization check and per-value caches shared across rows and partitions."""

    library: ComponentLibrary
    mode: Mode = "systems"
    component_check: ComponentCheck | None = None
    _components: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _keys: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _elements: object = None

    def component_problem(self, kind: str, text: str) -> str | None:
        """Why one written component (a single name, not a ':'-list) is refused, or None."""
        key = (kind, text)
        if key not in self._components:
            self._components[key] = self._component_problem(kind, text)
        return self._components[key]

    def _component_problem(self, kind: str, text: str) -> str | None:
        try:
            component = self.library.resolve(kind, text)
        except UnknownComponent as exc:
            return str(exc)
        problem = structure_problem(component)
        if problem is None and self.component_check is not None and not component.in_library:
            problem = self.component_check(kind, text)
        return problem

    def key(self, kind: str, text: str) -> str | None:
        """The resolved identity of a component (None if it does not resolve)."""
        if (kind, text) not in self._keys:
            try:
                self._keys[(kind, text)] = self.library.resolve(kind, text).key
            except UnknownComponent:
                self._keys[(kind, text)] = None
        return self._keys[(kind, text)]

    def elements(self, kind: str, text: str) -> frozenset[str] | None:
        """Elements of a component (None if it does not resolve or has no structure)."""
        from screen.data.structures import ElementChecker, StructureError

        if self._elements is None:
            self._elements = ElementChecker(self.library)
        try:
            return self._elements.elements(kind, text)
        except (UnknownComponent, StructureError):
            return None


# ---------------------------------------------------------------------------- cells
def cell_problems(spec: Column, text: str, context: RuleContext) -> list[str]:
    """Every problem of one stripped, non-blank cell of column ``spec``."""
    if spec.kind == "number":
        message = number_problem(spec, text)
    elif spec.kind == "category" and text not in spec.allowed:
        close = difflib.get_close_matches(text, spec.allowed, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"not an accepted value{hint}; accepted: {', '.join(spec.allowed)}"
    elif spec.kind == "boolean" and text.lower() not in (TRUE, FALSE):
        message = "must be true or false"
    elif spec.kind == "ratio":
        message = ratio_problem(text)
    elif spec.kind == "component":
        return component_problems(spec, text, context)
    else:
        message = None
    return [] if message is None else [message]


def number_problem(spec: Column, text: str) -> str | None:
    """Why ``text`` is not an accepted value of the number column ``spec``, or None."""
    try:
        value = float(text)
    except ValueError:
        return f"not a number; expected {spec.bounds_text()} (blank if unknown)"
    if not math.isfinite(value):
        return f"not a finite number; expected {spec.bounds_text()} (blank if unknown)"
    if not NUMBER.match(text):
        return (f"not a plain number: write ASCII digits with '.' as decimal point, such as "
                f"0.5 or 1e-3; expected {spec.bounds_text()} (blank if unknown)")
    too_low = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
    too_high = spec.high is not None and value > spec.high
    if too_low or too_high:
        extra = " (blank means unknown; never write 0 for unknown)" if value == 0 else ""
        return f"out of range; accepted: {spec.bounds_text()}{extra}"
    if spec.integer and value != int(value):
        return "must be a whole number"
    return None


def ratio_problem(text: str) -> str | None:
    """Why ``text`` is not a solvent ratio such as ``1:1``, or None."""
    if not RATIO.match(text):
        return "must be numbers joined with ':' such as 1:1 or 5:1, or blank"
    if not all(0 < float(part) < math.inf for part in text.split(":")):
        return "every part must be a positive finite number, such as 1:1 or 5:1 (blank if unknown)"
    return None


def component_problems(spec: Column, text: str, context: RuleContext) -> list[str]:
    """Problems of a component cell: every ':'-part must resolve and be accepted
    (:mod:`screen.data.chemistry`, and the featurization check when one is given)."""
    if spec.none_allowed and is_none(text):
        return []
    if len(text) > MAX_COMPONENT_CHARS:
        return [f"{len(text)} characters; a component is at most {MAX_COMPONENT_CHARS} "
                "characters (a library name or alias, a SMILES or a formula)"]
    parts = text.split(":") if spec.multi else [text]
    messages: list[str] = []
    for part in parts:
        message = context.component_problem(str(spec.component), part)
        if message is not None and message not in messages:
            messages.append(message)
    return messages


# ---------------------------------------------------------------------------- rows
Finding = tuple[str, str, Severity]  # (column, message, severity)


@dataclass(frozen=True)
class RowRule:
    """A check of several columns of one row. ``check(cells, context)`` gets the stripped text
    of ``columns`` ('' when blank or absent) and returns findings. ``blank_only``: the rule
    only asks whether a cell is blank (it then gets '' or a placeholder text), so it is
    evaluated once per pattern of blanks instead of once per distinct combination."""

    name: str
    columns: tuple[str, ...]
    check: Callable[[Cells, RuleContext], list[Finding]]
    modes: tuple[Mode, ...] = MODES
    blank_only: bool = False


def _required(cells: Cells, context: RuleContext) -> list[Finding]:
    required = SYSTEM_REQUIRED + (PROVENANCE_REQUIRED if context.mode == "dataset" else ())
    return [(c, "required value is blank", "error") for c in required if not cells[c]]


def _overpotential(cells: Cells, context: RuleContext) -> list[Finding]:
    if cells["overpotential_V"] and not cells["overpotential_kind"]:
        return [("overpotential_kind", "required when overpotential_V is given (polarization, "
                 "hysteresis, plating, stripping or nucleation)", "error")]
    if cells["overpotential_kind"] and not cells["overpotential_V"]:
        return [("overpotential_kind", "given without an overpotential_V", "error")]
    return []


def _censored(cells: Cells, context: RuleContext) -> list[Finding]:
    life = bool(cells["cycle_life_h"] or cells["cycle_life_cycles"])
    if life and not cells["cycle_life_censored"]:
        return [("cycle_life_censored", "required when a cycle life is given: true if the cell "
                 "had not failed ('over N h'), false if it failed", "error")]
    if cells["cycle_life_censored"] and not life:
        return [("cycle_life_censored", "given without cycle_life_h or cycle_life_cycles",
                 "error")]
    return []


def _passivation(cells: Cells, context: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    if cells["passivation"] and context.mode != "systems" and not cells["passivation_evidence"]:
        out.append(("passivation_evidence", "required when passivation is given", "error"))
    if cells["passivation_basis"] and not cells["passivation"]:
        out.append(("passivation_basis", "given without a passivation label", "error"))
    words = len(cells["passivation_evidence"].split())
    if words > MAX_EVIDENCE_WORDS:
        out.append(("passivation_evidence", f"{words} words; at most {MAX_EVIDENCE_WORDS}",
                    "error"))
    return out


def _additive_amount(cells: Cells, context: RuleContext) -> list[Finding]:
    if not cells["additive_conc_M"]:
        return []
    if not cells["additive"] or is_none(cells["additive"]):
        return [("additive_conc_M", "given but additive is blank or 'none'", "error")]
    if ":" in cells["additive"]:
        return [("additive_conc_M", "ambiguous with several additives; put their amounts in "
                 "notes", "error")]
    return []


def _coating_thickness(cells: Cells, context: RuleContext) -> list[Finding]:
    if cells["coating_thickness_um"] and cells["coating"] and is_none(cells["coating"]):
        return [("coating_thickness_um", "given but coating is 'none': a bare anode has no "
                 "coating thickness; leave it blank (or name the coating)", "error")]
    return []


def _solvent_ratio(cells: Cells, context: RuleContext) -> list[Finding]:
    if cells["solvent_ratio"] and cells["solvent"]:
        n_ratio = cells["solvent_ratio"].count(":") + 1
        n_solvent = cells["solvent"].count(":") + 1
        if n_ratio != n_solvent:
            return [("solvent_ratio", f"has {n_ratio} parts but solvent has {n_solvent}",
                     "error")]
    return []


def _repeated(column: str) -> Callable[[Cells, RuleContext], list[Finding]]:
    """A ':'-list naming one component twice (``DME:DME``, ``DME:dme``, ``DME:COCCOC``)."""
    def check(cells: Cells, context: RuleContext) -> list[Finding]:
        text = cells[column]
        if ":" not in text or is_none(text):
            return []
        parts = text.split(":")
        keys = [context.key("solvent", p) for p in parts]
        for i, key in enumerate(keys):
            if key is not None and key in keys[:i]:
                first = parts[keys.index(key)]
                return [(column, f"names one component twice ({first!r} and {parts[i]!r} are "
                         f"the same {'solvent' if column == 'solvent' else 'additive'}): list "
                         "each once, e.g. write 'DME' for 'DME:DME' (and leave the ratio "
                         "blank for a single solvent)", "error")]
        return []
    return check


def _cathode(cells: Cells, context: RuleContext) -> list[Finding]:
    if cells["cathode"] and cells["cell_type"] not in ("", "full_cell"):
        return [("cathode", "a cathode is only given for cell_type full_cell", "error")]
    return []


def _measured(cells: Cells, context: RuleContext) -> list[Finding]:
    if not any(cells[c] for c in MEASURED_COLUMNS):
        return [("overpotential_V", "row has no measured value; a data-set row needs at least "
                 f"one of {', '.join(MEASURED_COLUMNS)}", "error")]
    return []


def _metal_coating(cells: Cells, context: RuleContext) -> list[Finding]:
    metal, coating = cells["metal"], cells["coating"]
    if metal not in OTHER_METAL or not coating or is_none(coating):
        return []
    found = context.elements("coating", coating)
    other = OTHER_METAL[metal]
    if found and other in found and metal not in found:
        return [("coating", f"contains {other} but the anode metal is {metal}: a {other} alloy "
                 f"or compound on a {metal} anode is unusual (alloy coatings form from the "
                 "anode metal); check the metal and the coating", "warning")]
    return []


def _salt(cells: Cells, context: RuleContext) -> list[Finding]:
    parts = salt_parts(cells["salt"]) if cells["salt"] else None
    if parts is None:
        return []
    salt_metal, salt_anion = parts
    out: list[Finding] = []
    salt_key = context.key("anion", salt_anion)
    row_key = context.key("anion", cells["anion"]) if cells["anion"] else None
    if salt_key is not None and row_key is not None and salt_key != row_key:
        salt_name = context.library.resolve("anion", salt_anion).name
        row_name = context.library.resolve("anion", cells["anion"]).name
        out.append(("salt", f"the salt's anion is {salt_name} but column anion says "
                    f"{row_name}: the anion column is the salt's anion; correct one of them",
                    "error"))
    if cells["metal"] in OTHER_METAL and salt_metal != cells["metal"]:
        out.append(("salt", f"a {salt_metal} salt with a {cells['metal']} anode; check the "
                    "metal and the salt", "warning"))
    return out


def _efficiency_fraction(cells: Cells, context: RuleContext) -> list[Finding]:
    text = cells["coulombic_efficiency_pct"]
    try:
        value = float(text) if text else math.nan
    except ValueError:
        return []  # reported by the cell check
    if 0 < value <= 1:
        return [("coulombic_efficiency_pct", f"{text} % is implausibly low: the column is in "
                 f"percent, so this looks like a fraction (write {value * 100:g} for "
                 f"{value:g})", "warning")]
    return []


ROW_RULES: tuple[RowRule, ...] = (
    RowRule("required", SYSTEM_REQUIRED + PROVENANCE_REQUIRED, _required, blank_only=True),
    RowRule("overpotential", ("overpotential_V", "overpotential_kind"), _overpotential,
            blank_only=True),
    RowRule("cycle_life", ("cycle_life_h", "cycle_life_cycles", "cycle_life_censored"),
            _censored, blank_only=True),
    RowRule("passivation", ("passivation", "passivation_evidence", "passivation_basis"),
            _passivation),
    RowRule("additive_amount", ("additive", "additive_conc_M"), _additive_amount),
    RowRule("coating_thickness", ("coating", "coating_thickness_um"), _coating_thickness),
    RowRule("solvent_ratio", ("solvent", "solvent_ratio"), _solvent_ratio),
    RowRule("repeated_solvent", ("solvent",), _repeated("solvent")),
    RowRule("repeated_additive", ("additive",), _repeated("additive")),
    RowRule("cathode", ("cathode", "cell_type"), _cathode),
    RowRule("measured", MEASURED_COLUMNS, _measured, modes=("dataset", "lab"), blank_only=True),
    RowRule("metal_coating", ("metal", "coating"), _metal_coating),
    RowRule("salt", ("salt", "metal", "anion"), _salt),
    RowRule("efficiency_fraction", ("coulombic_efficiency_pct",), _efficiency_fraction),
)
