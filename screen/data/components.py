"""The component library: anions, solvents/additives and coatings, and name resolution.

A name written in a table (``Mg[B(hfip)4]2``, ``BHFIP``, ``Mg–Sn alloy``) resolves to a
:class:`Component` through the library's names and aliases, case- and spelling-tolerant.
Anything not in the library is accepted from its structure: a SMILES for anions and
solvents/additives, a pymatgen formula or a ``:``-joined mixture of formulas for coatings.
A SMILES or formula that matches a library entry resolves to that entry.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from screen.data.paths import ANIONS_FILE, COATINGS_FILE, SOLVENTS_FILE, dataset_dir
from screen.data.schema import NONE_VALUE, ComponentKind

LIBRARY_FILES: dict[ComponentKind, str] = {
    "anion": ANIONS_FILE,
    "solvent": SOLVENTS_FILE,
    "coating": COATINGS_FILE,
}
#: Columns each library file must have.
LIBRARY_COLUMNS: dict[ComponentKind, tuple[str, ...]] = {
    "anion": ("name", "aliases", "charge", "smiles", "structure_file", "family",
              "description", "source"),
    "solvent": ("name", "aliases", "kind", "charge", "smiles", "description", "source"),
    "coating": ("name", "aliases", "composition", "coating_class", "description", "source"),
}
#: ``filler``: an inorganic particle dispersed in a polymer or gel electrolyte (e.g. MgO), written
#: as its formula unit; ``host``: a named framework or membrane that holds a liquid electrolyte
#: (MOF, porous membrane), written as its formula or repeat unit. Both go in ``additive``.
SOLVENT_KINDS = ("solvent", "additive", "salt_additive", "ionic_liquid", "polymer", "filler",
                 "host")
#: Solvent-library kinds used as (co-)solvents when a config does not list them.
DEFAULT_SOLVENT_KINDS = ("solvent",)
#: Solvent-library kinds used as additives when a config does not list them.
DEFAULT_ADDITIVE_KINDS = ("additive", "salt_additive")
COATING_CLASSES = ("alloy", "metal", "carbon", "halide", "fluoride", "oxide", "sulfide", "sulfite",
                   "nitride", "polymer", "MOF", "zeolite", "organic", "composite", "none")

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\u2043"), "-")
_SALT = re.compile(r"^(?P<m>mg|ca)(?:\[(?P<b>.+)\]|\((?P<p>.+)\)|(?P<s>[a-z].*?))2$")


class LibraryError(ValueError):
    """The component library files themselves are inconsistent."""


class UnknownComponent(ValueError):
    """A name that is neither in the library nor a valid structure."""

    def __init__(self, kind: str, value: str, reason: str, suggestions: list[str]):
        self.kind, self.value, self.reason, self.suggestions = kind, value, reason, suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} {value!r}: {reason}{hint}")


@dataclass(frozen=True)
class Component:
    """One resolved anion, solvent/additive or coating.

    ``key`` is the canonical identity used for caching and grouping: the library name for
    library entries, ``smiles:<canonical SMILES>`` or ``composition:<formula>`` otherwise.
    ``category`` is the anion family, solvent kind or coating class.
    """

    kind: ComponentKind
    name: str
    key: str
    category: str
    smiles: str | None = None
    structure_file: str | None = None
    composition: str | None = None
    charge: int | None = None
    in_library: bool = True


def normalize_name(text: str) -> str:
    """Lower-case, ASCII-dash, space-free form of a component name used for matching.

    Unicode subscripts become digits, a trailing charge sign ('-', '−', '⁻') and brackets
    enclosing the whole name are dropped: ``[B(hfip)₄]⁻`` → ``b(hfip)4``.
    """
    s = unicodedata.normalize("NFKC", text).translate(_DASHES).lower()
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"(?:\(-\)|-|1-)$", "", s)
    while len(s) > 2 and s[0] in "[(" and _closing(s) == len(s) - 1:
        s = s[1:-1]
    return s


def _closing(s: str) -> int:
    """Index of the bracket closing the one at position 0, or -1."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth == 0:
                return i
    return -1


def canonical_smiles(smiles: str) -> tuple[str, int] | None:
    """RDKit canonical SMILES and net formal charge, or None if RDKit cannot parse it."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return Chem.MolToSmiles(mol), Chem.GetFormalCharge(mol)


def canonical_composition(text: str) -> str | None:
    """Canonical ``:``-joined reduced formulas of a composition or mixture, or None.

    ``Mg3Bi2:Bi`` and ``Bi : Mg6Bi4`` give the same string. Each phase must parse in pymatgen
    and contain only real elements.
    """
    from pymatgen.core import Composition, Element

    phases = [p.strip() for p in text.split(":")]
    if not phases or any(not p for p in phases):
        return None
    out = []
    for phase in phases:
        if not re.fullmatch(r"[A-Za-z0-9().\[\] ]+", phase) or not re.match(r"[A-Z]", phase):
            return None
        try:
            comp = Composition(phase)
        except Exception:  # pymatgen raises several types for unparsable formulas
            return None
        if comp.num_atoms <= 0 or not all(isinstance(el, Element) for el in comp.elements):
            return None
        out.append(comp.reduced_formula)
    return ":".join(sorted(out))


def infer_coating_class(composition: str) -> str:
    """Coating class of a formula/mixture that is not in the library (documented heuristic).

    Several phases → composite; pure C → carbon; only metals → metal (one element) or alloy;
    C with H → organic; otherwise the anion-forming element decides: F → fluoride, other
    halogens → halide, O with S → sulfite, O → oxide, S/Se/Te → sulfide, N → nitride.
    """
    from pymatgen.core import Composition

    phases = composition.split(":")
    if len(phases) > 1:
        return "composite"
    comp = Composition(phases[0])
    symbols = {el.symbol for el in comp.elements}
    if symbols == {"C"}:
        return "carbon"
    if all(el.is_metal or el.is_metalloid for el in comp.elements):
        return "metal" if len(symbols) == 1 else "alloy"
    if {"C", "H"} <= symbols:
        return "organic"
    if "F" in symbols:
        return "fluoride"
    if symbols & {"Cl", "Br", "I"}:
        return "halide"
    if "O" in symbols:
        return "sulfite" if "S" in symbols else "oxide"
    if symbols & {"S", "Se", "Te"}:
        return "sulfide"
    if "N" in symbols:
        return "nitride"
    return "composite"


class ComponentLibrary:
    """The three library tables, indexed for resolution.

    Build with :meth:`load`; :meth:`resolve` maps a written name (or structure) to a
    :class:`Component`.
    """

    def __init__(self, entries: dict[ComponentKind, list[Component]],
                 aliases: dict[ComponentKind, dict[str, str]]):
        self.entries = entries
        self._alias = aliases  # normalized spelling -> canonical name, per kind
        self._by_name = {k: {c.name: c for c in v} for k, v in entries.items()}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, directory: str | Path | None = None) -> ComponentLibrary:
        """Read ``anions.csv``, ``solvents.csv`` and ``coatings.csv`` from ``directory``.

        Defaults to the embedded data directory. Raises :class:`LibraryError` naming the file,
        row and value of any inconsistency (missing column, duplicate name or alias, bad
        charge, unknown category).
        """
        directory = Path(directory) if directory is not None else dataset_dir()
        entries: dict[ComponentKind, list[Component]] = {}
        aliases: dict[ComponentKind, dict[str, str]] = {}
        for kind, filename in LIBRARY_FILES.items():
            entries[kind], aliases[kind] = _read_library_file(kind, directory / filename)
        return cls(entries, aliases)

    # ------------------------------------------------------------------ lookups
    def names(self, kind: ComponentKind) -> list[str]:
        """Canonical names of one kind, in file order."""
        return [c.name for c in self.entries[kind]]

    def get(self, kind: ComponentKind, name: str) -> Component:
        """Library entry by canonical name (KeyError if absent)."""
        return self._by_name[kind][name]

    @cached_property
    def _by_smiles(self) -> dict[ComponentKind, dict[str, Component]]:
        out: dict[ComponentKind, dict[str, Component]] = {"anion": {}, "solvent": {}}
        for kind in out:
            for comp in self.entries[kind]:
                if comp.smiles:
                    canon = canonical_smiles(comp.smiles)
                    if canon:
                        out[kind].setdefault(canon[0], comp)
        return out

    @cached_property
    def _by_composition(self) -> dict[str, Component]:
        out: dict[str, Component] = {}
        for comp in self.entries["coating"]:
            if comp.composition:
                canon = canonical_composition(comp.composition)
                if canon:
                    out.setdefault(canon, comp)
        return out

    def resolve(self, kind: ComponentKind, value: str) -> Component:
        """Resolve one written component (a single name, not a ':'-list).

        Order: library name/alias (tolerant spelling; for anions also the salt spelling
        ``Mg(X)2``/``Ca[X]2``) → structure (SMILES / formula), matched back to the library when
        it is the same structure → otherwise an ad-hoc component from the structure. Raises
        :class:`UnknownComponent` with close-match suggestions.
        """
        text = value.strip()
        if not text:
            raise UnknownComponent(kind, value, "empty name", [])
        norm = normalize_name(text)
        hit = self._alias[kind].get(norm)
        if hit is None and kind == "anion" and (m := _SALT.match(norm)):
            inner = normalize_name(m.group("b") or m.group("p") or m.group("s"))
            hit = self._alias[kind].get(inner)
        if hit is not None:
            return self._by_name[kind][hit]
        if kind == "coating":
            return self._resolve_composition(text)
        return self._resolve_smiles(kind, text)

    def resolve_many(self, kind: ComponentKind, value: str) -> list[Component]:
        """Resolve a ':'-joined list (solvent mixture, several additives)."""
        return [self.resolve(kind, part) for part in value.split(":")]

    def suggestions(self, kind: ComponentKind, value: str, n: int = 3) -> list[str]:
        """Up to ``n`` canonical names whose spellings are close to ``value``."""
        norm = normalize_name(value)
        close = difflib.get_close_matches(norm, list(self._alias[kind]), n=n * 3, cutoff=0.6)
        out: list[str] = []
        for spelling in close:
            name = self._alias[kind][spelling]
            if name not in out:
                out.append(name)
        return out[:n]

    # ------------------------------------------------------------------ structures
    def _resolve_smiles(self, kind: ComponentKind, text: str) -> Component:
        canon = canonical_smiles(text)
        if canon is None:
            raise UnknownComponent(
                kind, text,
                f"not a name in the {LIBRARY_FILES[kind]} library and not a SMILES RDKit can "
                "parse (accepted: a library name or alias, or a SMILES)",
                self.suggestions(kind, text))
        smiles, charge = canon
        if (known := self._by_smiles[kind].get(smiles)) is not None:
            return known
        if kind == "anion" and charge >= 0:
            raise UnknownComponent(kind, text, f"SMILES has net charge {charge:+d}; an anion "
                                   "must carry a negative formal charge", [])
        if kind == "solvent" and charge != 0:
            raise UnknownComponent(kind, text, f"SMILES has net charge {charge:+d}; a solvent "
                                   "or additive must be neutral (write salts as ion pairs)", [])
        category = "unknown" if kind == "anion" else "unknown"
        return Component(kind, smiles, f"smiles:{smiles}", category, smiles=smiles,
                         charge=charge, in_library=False)

    def _resolve_composition(self, text: str) -> Component:
        canon = canonical_composition(text)
        if canon is None:
            raise UnknownComponent(
                "coating", text,
                "not a name in the coatings.csv library and not a formula or ':'-mixture of "
                "formulas pymatgen can parse (accepted: a library name or alias, 'none', "
                "a formula such as Mg3Bi2, or a mixture such as Bi:Mg3Bi2:MgCl2)",
                self.suggestions("coating", text))
        if (known := self._by_composition.get(canon)) is not None:
            return known
        return Component("coating", canon, f"composition:{canon}", infer_coating_class(canon),
                         composition=canon, in_library=False)


def _split_aliases(text: str) -> list[str]:
    return [a.strip() for a in text.split(";") if a.strip()]


def _read_library_file(kind: ComponentKind, path: Path):
    """Parse and check one library CSV; return its components and alias index."""
    if not path.is_file():
        raise LibraryError(f"{path}: component library file is missing")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        header = rows[0].keys() if rows else []
    missing = [c for c in LIBRARY_COLUMNS[kind] if c not in header]
    if missing:
        raise LibraryError(f"{path}: missing column(s) {', '.join(missing)}; a {kind} library "
                           f"needs {', '.join(LIBRARY_COLUMNS[kind])}")
    components: list[Component] = []
    alias: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        name = (row["name"] or "").strip()
        where = f"{path.name} row {i} (name {name!r})"
        if not name:
            raise LibraryError(f"{where}: empty name")
        comp = _library_component(kind, row, name, where)
        components.append(comp)
        for spelling in [name, *_split_aliases(row["aliases"] or "")]:
            norm = normalize_name(spelling)
            if alias.get(norm, name) != name:
                raise LibraryError(f"{where}: spelling {spelling!r} is already used by "
                                   f"{alias[norm]!r}; every name/alias must be unique")
            alias[norm] = name
    return components, alias


def _library_component(kind: ComponentKind, row: dict, name: str, where: str) -> Component:
    if kind == "coating":
        cls_ = (row["coating_class"] or "").strip()
        if cls_ not in COATING_CLASSES:
            raise LibraryError(f"{where}: coating_class {cls_!r} is not one of "
                               f"{', '.join(COATING_CLASSES)}")
        comp = (row["composition"] or "").strip() or None
        return Component(kind, name, name, cls_, composition=comp)
    try:
        charge = int((row["charge"] or "").strip())
    except ValueError:
        raise LibraryError(f"{where}: charge {row['charge']!r} is not an integer") from None
    smiles = (row["smiles"] or "").strip() or None
    if kind == "anion":
        if charge >= 0:
            raise LibraryError(f"{where}: an anion's charge must be negative, got {charge}")
        structure = (row["structure_file"] or "").strip() or None
        if not smiles and not structure:
            raise LibraryError(f"{where}: needs a smiles or a structure_file")
        return Component(kind, name, name, (row["family"] or "").strip() or "unknown",
                         smiles=smiles, structure_file=structure, charge=charge)
    category = (row["kind"] or "").strip()
    if category not in SOLVENT_KINDS:
        raise LibraryError(f"{where}: kind {category!r} is not one of {', '.join(SOLVENT_KINDS)}")
    if not smiles:
        raise LibraryError(f"{where}: needs a smiles")
    return Component(kind, name, name, category, smiles=smiles, charge=charge)


def salt_parts(text: str) -> tuple[str, str] | None:
    """(metal, anion as written) of a salt written ``Mg(X)2``, ``Ca[X]2`` or ``MgX2`` (any case
    and bracket style, as :meth:`ComponentLibrary.resolve` reads it), e.g. ``Ca(BH4)2`` →
    ``('Ca', 'bh4')``; None for any other spelling (``APC``, mixtures)."""
    match = _SALT.match(normalize_name(text))
    if match is None:
        return None
    return match.group("m").capitalize(), match.group("b") or match.group("p") or match.group("s")


def is_none(value: str) -> bool:
    """True for the literal 'none' (no additive / bare metal), any case."""
    return value.strip().lower() == NONE_VALUE


def resolve_names(library: ComponentLibrary, kind: str, names: tuple[str, ...], key: str,
                  where: str, none_ok: bool = False) -> list[str]:
    """Canonical library names of ``names`` (duplicates and aliases of one entry once);
    an unknown name raises :class:`~screen.data.config.ConfigError` naming ``where``, ``key`` and
    close matches."""
    from screen.data.config import ConfigError

    out: list[str] = []
    for name in names:
        if none_ok and is_none(name):
            resolved = NONE_VALUE
        else:
            try:
                resolved = library.resolve(kind, name).name
            except UnknownComponent as exc:
                raise ConfigError(f"{where}: {key!r}: {exc}") from None
        if resolved not in out:
            out.append(resolved)
    return out
