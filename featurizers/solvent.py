"""Solvent/additive featurizer: donor groups, size, salt flags and GFN2-xTB frontier orbitals.

:class:`SolventFeaturizer` featurizes one resolved entry of the ``solvents.csv`` library (or a
neutral SMILES): solvents, molecular additives, salt additives written as ion sets
(``[Mg+2].[Cl-].[Cl-]``), ionic liquids (ion pairs) and polymers (capped oligomers). The same
featurizer serves the ``solvent`` and the ``additive`` columns. Salts and ionic liquids are
computed as one neutral contact cluster (:mod:`featurizers.molecule`). Output order
(``get_feature_names_out()`` prefixes ``solvent__``):

=================  ==========  ===============================================================
label              unit        meaning
=================  ==========  ===============================================================
n_ether_O                      ether O: neutral O without H bonded to exactly two sp3 C
                               (glymes, THF, DOL acetal O; not ester/carbonate O)
n_amine_N                      amine N: neutral, non-aromatic, sp3 N with only single bonds,
                               not an amide (no C/S/P=O neighbour), not bonded to B/Al/metal
n_imidazole_N                  pyridine-type N of a five-membered aromatic ring (the donor N
                               of imidazoles): neutral, two neighbours, no H
denticity                      chelating-donor estimate: donors are the ether O and amine N;
                               two donors are linked when the shortest bond path between them
                               has 3 or 4 bonds (2–3 bridging atoms, i.e. a 5- or 6-membered
                               chelate ring with the metal: O–C–C–O in glymes, N–C–C–C–N in
                               1,3-diamines); denticity = size of the largest linked group,
                               1 for isolated donors, 0 without donors. Topological upper
                               bound: geometry and ring strain are ignored
n_PO                           P=O groups (phosphates, phosphonates)
n_CO                           C=O groups (carbonates, esters, amides, ketones, urea)
n_SO                           S=O groups (sulfoxides, sulfones, sulfonyl imides)
n_coord_O                      O with lone pairs free to coordinate (charge ≤ 0, not aromatic,
                               not bonded to B/Al/metal), any type
n_coord_N                      N with a free lone pair (anionic N, amine, nitrile/imine,
                               pyridine-type N)
n_F, n_Cl,                     halogen atoms
n_Br, n_I
n_heavy                        heavy (non-H) atoms
mw_g_mol           g/mol       molar mass of the formula unit as written
volume_A3          angstrom^3  van der Waals volume of the 3-D structure
n_rot_bonds                    rotatable bonds (flexibility)
tpsa_A2            angstrom^2  topological polar surface area (N, O)
n_fragments                    disconnected fragments (1 for a molecule; ions of a salt)
is_salt                        1 if any fragment carries a net formal charge (salt additive,
                               ionic liquid, polymer salt); zwitterions such as BF3·OEt2 are 0
homo_eV            eV          GFN2-xTB HOMO energy (lower: more oxidation-resistant)
lumo_eV            eV          GFN2-xTB LUMO energy (lower: more easily reduced at the anode)
gap_eV             eV          LUMO − HOMO
dipole_D           debye       dipole magnitude (about the centre of mass)
q_min_e            e           most negative GFN2-xTB atomic charge (strongest donor site)
q_max_e            e           most positive GFN2-xTB atomic charge
=================  ==========  ===============================================================

Tabulated physical properties (donor number, dielectric constant, viscosity, boiling point)
are not used: the five seed papers give no such values for the library's solvents.
"""

from __future__ import annotations

from typing import ClassVar

from rdkit import Chem

from featurizers.blocks import BlockSpec, register_block
from featurizers.molecule import (
    ACCEPTOR_ELEMENTS,
    XTB_LABELS,
    XTB_UNITS,
    MolecularData,
    MolecularFeaturizer,
    is_coordinating_n,
    is_coordinating_o,
    xtb_values,
)
from screen.data.components import Component
from screen.data.schema import ComponentKind

GROUP_LABELS: tuple[str, ...] = (
    "n_ether_O", "n_amine_N", "n_imidazole_N", "denticity", "n_PO", "n_CO", "n_SO",
    "n_coord_O", "n_coord_N", "n_F", "n_Cl", "n_Br", "n_I")
SIZE_LABELS: tuple[str, ...] = (
    "n_heavy", "mw_g_mol", "volume_A3", "n_rot_bonds", "tpsa_A2", "n_fragments", "is_salt")
LABELS: tuple[str, ...] = (*GROUP_LABELS, *SIZE_LABELS, *XTB_LABELS)
UNITS: dict[str, str] = {
    **dict.fromkeys(LABELS, ""), "mw_g_mol": "g/mol", "volume_A3": "angstrom^3",
    "tpsa_A2": "angstrom^2", **XTB_UNITS,
}
#: Shortest bond-path lengths between two donors that count as chelating (5-/6-ring chelate).
CHELATE_PATHS = (3, 4)

_PATTERNS = {
    "n_PO": Chem.MolFromSmarts("[#15]=[#8]"),
    "n_PO_ylide": Chem.MolFromSmarts("[#15+]-[#8-;D1]"),
    "n_CO": Chem.MolFromSmarts("[#6]=[#8]"),
    "n_SO": Chem.MolFromSmarts("[#16]=[#8]"),
    "n_SO_ylide": Chem.MolFromSmarts("[#16+]-[#8-;D1]"),
}


def is_ether_o(atom: Chem.Atom) -> bool:
    """Neutral O without H whose two neighbours are both sp3 carbons."""
    if atom.GetSymbol() != "O" or atom.GetFormalCharge() != 0 or atom.GetTotalNumHs() != 0:
        return False
    nbrs = list(atom.GetNeighbors())
    return len(nbrs) == 2 and all(
        n.GetSymbol() == "C" and n.GetHybridization() == Chem.HybridizationType.SP3
        for n in nbrs)


def is_amine_n(atom: Chem.Atom) -> bool:
    """Neutral, non-aromatic sp3 N with single bonds only, not an amide, not bonded to an
    acceptor (B, Al, metal)."""
    if (atom.GetSymbol() != "N" or atom.GetFormalCharge() != 0 or atom.GetIsAromatic()
            or atom.GetHybridization() != Chem.HybridizationType.SP3):
        return False
    if any(b.GetBondType() != Chem.BondType.SINGLE for b in atom.GetBonds()):
        return False
    return is_coordinating_n(atom) and not any(
        n.GetSymbol() in ACCEPTOR_ELEMENTS for n in atom.GetNeighbors())


def is_imidazole_n(atom: Chem.Atom) -> bool:
    """Pyridine-type (two-connected, H-free, neutral) aromatic N in a five-membered ring."""
    return (atom.GetSymbol() == "N" and atom.GetIsAromatic() and atom.GetFormalCharge() == 0
            and atom.GetDegree() == 2 and atom.GetTotalNumHs() == 0 and atom.IsInRingSize(5))


def denticity(mol: Chem.Mol) -> int:
    """Largest group of ether O / amine N donors linked by 3- or 4-bond paths (module doc)."""
    donors = [a.GetIdx() for a in mol.GetAtoms() if is_ether_o(a) or is_amine_n(a)]
    if not donors:
        return 0
    dist = Chem.GetDistanceMatrix(mol)
    parent = {d: d for d in donors}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, i in enumerate(donors):
        for j in donors[k + 1:]:
            if int(dist[i, j]) in CHELATE_PATHS:
                parent[root(i)] = root(j)
    sizes: dict[int, int] = {}
    for d in donors:
        sizes[root(d)] = sizes.get(root(d), 0) + 1
    return max(sizes.values())


def group_counts(mol: Chem.Mol) -> dict[str, float]:
    """Donor-group, carbonyl-type and halogen counts of :data:`GROUP_LABELS`."""
    atoms = list(mol.GetAtoms())
    symbols = [a.GetSymbol() for a in atoms]

    def matches(key: str) -> int:
        return len(mol.GetSubstructMatches(_PATTERNS[key]))

    return {
        "n_ether_O": float(sum(map(is_ether_o, atoms))),
        "n_amine_N": float(sum(map(is_amine_n, atoms))),
        "n_imidazole_N": float(sum(map(is_imidazole_n, atoms))),
        "denticity": float(denticity(mol)),
        "n_PO": float(matches("n_PO") + matches("n_PO_ylide")),
        "n_CO": float(matches("n_CO")),
        "n_SO": float(matches("n_SO") + matches("n_SO_ylide")),
        "n_coord_O": float(sum(map(is_coordinating_o, atoms))),
        "n_coord_N": float(sum(map(is_coordinating_n, atoms))),
        **{f"n_{el}": float(symbols.count(el)) for el in ("F", "Cl", "Br", "I")},
    }


def fragment_info(mol: Chem.Mol) -> dict[str, float]:
    """``n_fragments`` and ``is_salt`` (some fragment has a net formal charge)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return {"n_fragments": float(len(frags)),
            "is_salt": float(any(Chem.GetFormalCharge(f) != 0 for f in frags))}


class SolventFeaturizer(MolecularFeaturizer):
    """Features of solvents and additives (see the module docstring for the list and units)."""

    kind: ClassVar[ComponentKind] = "solvent"
    name: ClassVar[str] = "solvent"
    version: ClassVar[str] = "1"
    labels = LABELS
    units = UNITS

    def values(self, component: Component, data: MolecularData) -> dict[str, float]:
        """Donor-group counts, size, fragments and xTB values of one solvent or additive."""
        return {**data.descriptors, **group_counts(data.mol), **fragment_info(data.mol),
                **xtb_values(data.xtb)}


register_block(BlockSpec("solvent", "solvent", SolventFeaturizer, combine="mixture",
                         ratio_column="solvent_ratio", order=20))
register_block(BlockSpec("additive", "additive", SolventFeaturizer, combine="additive",
                         order=30))
