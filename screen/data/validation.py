"""Check an interfaces table against :mod:`screen.data.schema`; list every problem.

:func:`validate` never changes, drops or coerces a row: it returns a list of
:class:`Problem` (file, row, column, value, what is accepted). :func:`to_typed_frame` converts a
table that validated cleanly into typed columns.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Literal

import pandas as pd

from screen.data.components import ComponentLibrary, UnknownComponent, is_none
from screen.data.problems import Problem
from screen.data.schema import (
    COLUMN_BY_NAME,
    COLUMN_NAMES,
    MAX_EVIDENCE_WORDS,
    MEASURED_COLUMNS,
    PROVENANCE_REQUIRED,
    SYSTEM_REQUIRED,
    USER_COLUMN_PREFIX,
    Column,
)

Mode = Literal["dataset", "lab", "systems"]
MODES: tuple[Mode, ...] = ("dataset", "lab", "systems")
_RATIO = re.compile(r"^\d+(\.\d+)?(:\d+(\.\d+)?)+$", re.ASCII)
#: A number as written in a CSV: ASCII digits, optional sign, '.' and exponent. Python's
#: ``float`` also takes '1_000', Arabic-Indic or full-width digits; pandas does not, and a
#: spreadsheet would not either, so they are refused rather than read differently downstream.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
#: Longest component text (characters) that is resolved at all; library names and SMILES of
#: library-sized molecules are far shorter.
MAX_COMPONENT_CHARS = 1000
#: Most heavy atoms in a molecule given as a SMILES (not from the library). The library's
#: largest has 59; 3D embedding and GFN2-xTB grow steeply with size (~40 s at 120, minutes
#: beyond), so larger structures are refused instead of stalling a run.
MAX_SMILES_HEAVY_ATOMS = 100
_TRUE, _FALSE = "true", "false"


def validate(table: pd.DataFrame, library: ComponentLibrary, *, file: str = "<table>",
             mode: Mode = "dataset") -> list[Problem]:
    """Every problem of ``table`` (all cells as strings, blanks as '').

    ``mode='dataset'``: a curated measurement table (provenance and one measured value per row
    required). ``mode='lab'``: a lab's own measurements (``mgscreen train --data``): the dataset
    rules except that ``source`` and ``location`` may be blank (the source defaults to the file
    name when loaded). ``mode='systems'``: systems to featurize or predict (targets not
    needed).
    """
    header = table.attrs.get("source_columns", list(table.columns))
    problems = _check_header(list(header), file, mode)
    if any(p.row is None and "missing" in p.message for p in problems):
        return problems
    cache: dict[tuple[str, str], str | None] = {}
    for i, row in enumerate(table.itertuples(index=False), start=1):
        cells = {c: ("" if v is None else str(v)) for c, v in zip(table.columns, row, strict=True)}
        problems.extend(_check_row(cells, i, file, mode, library, cache))
    return problems


def _required(mode: Mode) -> tuple[str, ...]:
    """Columns that must be present and filled in ``mode``."""
    return SYSTEM_REQUIRED + (PROVENANCE_REQUIRED if mode == "dataset" else ())


# ---------------------------------------------------------------------- header
def _check_header(columns: list[str], file: str, mode: Mode) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            out.append(Problem(file, None, col, None, "duplicate column name; each column may "
                               "appear once"))
        seen.add(col)
    for col in _required(mode):
        if col not in seen:
            out.append(Problem(file, None, col, None, "missing required column"))
    for col in columns:
        if col in COLUMN_BY_NAME or col.startswith(USER_COLUMN_PREFIX):
            continue
        close = difflib.get_close_matches(col, COLUMN_NAMES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        out.append(Problem(file, None, col, None, f"unknown column; {hint}Accepted columns are "
                           f"the schema's ({', '.join(COLUMN_NAMES)}) or names starting with "
                           f"{USER_COLUMN_PREFIX!r} for your own data"))
    return out


# ---------------------------------------------------------------------- rows
def _check_row(cells: dict[str, str], row: int, file: str, mode: Mode,
               library: ComponentLibrary, cache: dict) -> list[Problem]:
    out: list[Problem] = []

    def bad(column: str, message: str) -> None:
        out.append(Problem(file, row, column, cells.get(column, ""), message))

    values: dict[str, float] = {}
    for name, raw in cells.items():
        spec = COLUMN_BY_NAME.get(name)
        text = raw.strip()
        if spec is None or not text:
            continue
        if spec.kind == "number":
            if (msg := _number_problem(spec, text)) is not None:
                bad(name, msg)
            else:
                values[name] = float(text)
        elif spec.kind == "category" and text not in spec.allowed:
            close = difflib.get_close_matches(text, spec.allowed, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            bad(name, f"not an accepted value{hint}; accepted: {', '.join(spec.allowed)}")
        elif spec.kind == "boolean" and text.lower() not in (_TRUE, _FALSE):
            bad(name, "must be true or false")
        elif spec.kind == "ratio" and (msg := _ratio_problem(text)) is not None:
            bad(name, msg)
        elif spec.kind == "component":
            for message in _component_problems(spec, text, library, cache):
                bad(name, message)

    for name in _required(mode):
        if not cells.get(name, "").strip():
            bad(name, "required value is blank")
    _check_consistency(cells, values, mode, bad)
    return out


def _number_problem(spec: Column, text: str) -> str | None:
    try:
        value = float(text)
    except ValueError:
        return f"not a number; expected {spec.bounds_text()} (blank if unknown)"
    if not math.isfinite(value):
        return f"not a finite number; expected {spec.bounds_text()} (blank if unknown)"
    if not _NUMBER.match(text):
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


def _ratio_problem(text: str) -> str | None:
    if not _RATIO.match(text):
        return "must be numbers joined with ':' such as 1:1 or 5:1, or blank"
    if not all(0 < float(part) < math.inf for part in text.split(":")):
        return "every part must be a positive finite number, such as 1:1 or 5:1 (blank if unknown)"
    return None


def _component_problems(spec: Column, text: str, library: ComponentLibrary,
                        cache: dict) -> list[str]:
    if spec.none_allowed and is_none(text):
        return []
    if len(text) > MAX_COMPONENT_CHARS:
        return [f"{len(text)} characters; a component is at most {MAX_COMPONENT_CHARS} "
                "characters (a library name or alias, a SMILES or a formula)"]
    parts = text.split(":") if spec.multi else [text]
    messages = []
    for part in parts:
        key = (spec.component, part)
        if key not in cache:
            cache[key] = _resolve_problem(library, spec.component, part)
        if cache[key] is not None and cache[key] not in messages:
            messages.append(cache[key])
    return messages


def _resolve_problem(library: ComponentLibrary, kind: str, text: str) -> str | None:
    """Why ``text`` cannot be featurized as a ``kind`` component, or None."""
    try:
        component = library.resolve(kind, text)
    except UnknownComponent as exc:
        return str(exc)
    if component.in_library or not component.smiles:
        return None
    from rdkit import Chem

    mol = Chem.MolFromSmiles(component.smiles)
    heavy = mol.GetNumHeavyAtoms() if mol is not None else 0
    if heavy > MAX_SMILES_HEAVY_ATOMS:
        return (f"the {kind} SMILES has {heavy} heavy atoms; a SMILES is accepted up to "
                f"{MAX_SMILES_HEAVY_ATOMS} (3D embedding and GFN2-xTB would take minutes to "
                "hours): use a smaller model molecule or a repeat unit")
    return None


def _check_consistency(cells: dict[str, str], values: dict[str, float], mode: Mode, bad) -> None:
    def has(name: str) -> bool:
        return bool(cells.get(name, "").strip())

    if has("overpotential_V") and not has("overpotential_kind"):
        bad("overpotential_kind", "required when overpotential_V is given (polarization, "
            "hysteresis, plating, stripping or nucleation)")
    if has("overpotential_kind") and not has("overpotential_V"):
        bad("overpotential_kind", "given without an overpotential_V")
    life = has("cycle_life_h") or has("cycle_life_cycles")
    if life and not has("cycle_life_censored"):
        bad("cycle_life_censored", "required when a cycle life is given: true if the cell had "
            "not failed ('over N h'), false if it failed")
    if has("cycle_life_censored") and not life:
        bad("cycle_life_censored", "given without cycle_life_h or cycle_life_cycles")
    if has("passivation") and mode != "systems" and not has("passivation_evidence"):
        bad("passivation_evidence", "required when passivation is given")
    if has("passivation_basis") and not has("passivation"):
        bad("passivation_basis", "given without a passivation label")
    words = len(cells.get("passivation_evidence", "").split())
    if words > MAX_EVIDENCE_WORDS:
        bad("passivation_evidence", f"{words} words; at most {MAX_EVIDENCE_WORDS}")
    if has("additive_conc_M") and (not has("additive") or is_none(cells["additive"])):
        bad("additive_conc_M", "given but additive is blank or 'none'")
    if has("additive_conc_M") and ":" in cells.get("additive", ""):
        bad("additive_conc_M", "ambiguous with several additives; put their amounts in notes")
    if has("solvent_ratio") and has("solvent"):
        n_ratio = cells["solvent_ratio"].count(":") + 1
        n_solvent = cells["solvent"].count(":") + 1
        if n_ratio != n_solvent:
            bad("solvent_ratio", f"has {n_ratio} parts but solvent has {n_solvent}")
    if has("cathode") and cells.get("cell_type", "").strip() not in ("", "full_cell"):
        bad("cathode", "a cathode is only given for cell_type full_cell")
    if mode != "systems" and not any(has(c) for c in MEASURED_COLUMNS):
        bad("overpotential_V", "row has no measured value; a data-set row needs at least one "
            f"of {', '.join(MEASURED_COLUMNS)}")
    del values  # numeric values are range-checked per cell; kept for future cross-checks


def to_typed_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a validated string table: numbers → float64 (NaN blank; the IEEE double
    nearest to the decimal written, as Python's ``float``), booleans →
    pandas ``boolean``, text → pandas ``string`` (<NA> blank). Schema columns come first in
    schema order; missing schema columns are added as blank."""
    out = {}
    for name in COLUMN_NAMES:
        spec = COLUMN_BY_NAME[name]
        raw = table[name].astype(str).str.strip() if name in table else pd.Series(
            [""] * len(table), index=table.index)
        if spec.kind == "number":  # Python's float: the correctly rounded value of the text
            out[name] = raw.map(lambda t: float(t) if t else math.nan).astype("float64")
        elif spec.kind == "boolean":
            out[name] = raw.str.lower().map({_TRUE: True, _FALSE: False}).astype("boolean")
        else:
            out[name] = raw.replace("", pd.NA).astype("string")
    for name in table.columns:
        if name not in out:
            out[name] = table[name].astype("string")
    return pd.DataFrame(out, index=table.index)
