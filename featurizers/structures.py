"""Structures of components: RDKit molecules for anions/solvents, pymatgen compositions for
coatings.

Molecular anions and solvents come from SMILES; cluster anions that SMILES cannot express
(closo-carboranes) come from XYZ files shipped in ``datasets/structures/`` whose comment line
carries ``charge=<q>``; bonds are perceived with RDKit's ``rdDetermineBonds``.
"""

from __future__ import annotations

import re
from pathlib import Path

from screen.components import Component
from screen.paths import dataset_dir


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
