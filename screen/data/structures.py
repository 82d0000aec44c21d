"""Structures of components: RDKit molecules for anions/solvents, pymatgen compositions for
coatings.

Molecular anions and solvents come from SMILES; cluster anions that SMILES cannot express
(closo-carboranes) come from XYZ files shipped in ``datasets/structures/`` whose comment line
carries ``charge=<q>``; bonds are perceived with RDKit's ``rdDetermineBonds``.
"""

from __future__ import annotations

import re
from pathlib import Path

from screen.data.components import Component
from screen.data.paths import dataset_dir


class StructureError(ValueError):
    """A component's structure cannot be built (names the component and why)."""


def xyz_charge(path: Path) -> int:
    """Total charge written as ``charge=<q>`` on the XYZ comment line (0 if absent)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    match = re.search(r"charge\s*=\s*([+-]?\d+)", lines[1] if len(lines) > 1 else "")
    return int(match.group(1)) if match else 0


def molecule(component: Component, base: Path | None = None):
    """RDKit ``Mol`` (heavy atoms and any explicit H) of an anion or solvent component.

    Raises :class:`StructureError` when the SMILES does not parse or the XYZ file is missing
    or its bonds cannot be perceived.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdDetermineBonds

    RDLogger.DisableLog("rdApp.*")
    if component.smiles:
        mol = Chem.MolFromSmiles(component.smiles)
        if mol is None:
            raise StructureError(f"{component.kind} {component.name!r}: SMILES "
                                 f"{component.smiles!r} does not parse in RDKit")
        return mol
    if component.structure_file:
        path = (base or dataset_dir()) / component.structure_file
        if not path.is_file():
            raise StructureError(f"{component.kind} {component.name!r}: structure file "
                                 f"{path} is missing")
        mol = Chem.MolFromXYZFile(str(path))
        if mol is None:
            raise StructureError(f"{component.kind} {component.name!r}: {path} is not a "
                                 "readable XYZ file")
        charge = xyz_charge(path)
        try:
            rdDetermineBonds.DetermineConnectivity(mol, charge=charge)
        except Exception as exc:  # RDKit raises ValueError/RuntimeError variants
            raise StructureError(f"{component.kind} {component.name!r}: cannot perceive bonds "
                                 f"in {path}: {exc}") from exc
        return mol
    raise StructureError(f"{component.kind} {component.name!r} has neither SMILES nor a "
                         "structure file")


def phases(component: Component) -> list:
    """pymatgen ``Composition`` of each phase of a coating (empty for bare metal)."""
    from pymatgen.core import Composition

    if not component.composition:
        return []
    try:
        return [Composition(p.strip()) for p in component.composition.split(":")]
    except Exception as exc:
        raise StructureError(f"coating {component.name!r}: composition "
                             f"{component.composition!r} does not parse: {exc}") from exc


def elements(component: Component) -> frozenset[str]:
    """Element symbols of a component's structure (molecule atoms, or the elements of every
    phase of a coating; empty for bare metal / ``none``). Raises :class:`StructureError`."""
    if component.kind == "coating":
        return frozenset(str(e) for phase in phases(component) for e in phase.elements)
    mol = molecule(component)
    return frozenset(atom.GetSymbol() for atom in mol.GetAtoms())


class ElementChecker:
    """Which elements a written component (or a ``:``-joined set of them) contains, from the
    resolved structures; cached per (kind, value). ``none`` contains nothing.

    The one element test of mgscreen: the chloride filter of ``enumerate``, the
    ``chloride_free`` constraint of ``design`` and the ``chloride_present`` feature all use it.
    """

    def __init__(self, library):
        self.library = library
        self._cache: dict[tuple[str, str], frozenset[str]] = {}

    def elements(self, kind: str, value: str) -> frozenset[str]:
        """Elements of every ``:``-part of ``value`` (UnknownComponent / StructureError for a
        component that does not resolve or has no structure)."""
        from screen.data.components import is_none

        key = (kind, value)
        if key not in self._cache:
            found: set[str] = set()
            if not is_none(value):
                for part in value.split(":"):
                    found |= elements(self.library.resolve(kind, part))
            self._cache[key] = frozenset(found)
        return self._cache[key]

    def contains(self, kind: str, value: str, element: str) -> bool:
        """True if any ``:``-part of ``value`` contains ``element``."""
        return element in self.elements(kind, value)

    def contains_cl(self, kind: str, value: str) -> bool:
        """True if any ``:``-part of ``value`` has a Cl atom (``none`` → False)."""
        return self.contains(kind, value, "Cl")

    def row_has_cl(self, row) -> bool:
        """Chloride in the anion or the additive of one formulation row."""
        return self.contains_cl("anion", str(row["anion"])) or self.contains_cl(
            "solvent", str(row["additive"]))
