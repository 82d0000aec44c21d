"""RDKit descriptors and GFN2-xTB results of one molecular component; the shared base of
the anion and solvent featurizers.

3-D structures come from :func:`featurizers.geometry.embed` (its docstring explains how salts,
ionic liquids and hypervalent ions are built).

Descriptors (:func:`rdkit_descriptors`)
---------------------------------------
=====================  ========  =============================================================
label                  unit      meaning
=====================  ========  =============================================================
n_heavy                          heavy (non-H) atoms
mw_g_mol               g/mol     molecular (formula-unit) weight
volume_A3              Å^3       van der Waals volume of the 3-D structure (same grid
                                 encoding as ``AllChem.ComputeMolVolume``, 0.2 Å; see
                                 :func:`molecular_volume`); × 0.6022 gives cm^3/mol
n_F … n_O                        atoms of F, Cl, Br, I, B, Al, S, P, N, O
n_coord_O                        O with formal charge ≤ 0, not aromatic, not bonded to B, Al or
                                 a metal (lone pairs free to coordinate Mg²⁺/Ca²⁺)
n_coord_N                        N with formal charge ≤ 0 and a free lone pair: anionic N, or
                                 neutral non-aromatic N not bonded to a C/S/P=O(S) carbon
                                 (not an amide) or pyridine-type aromatic N (two neighbours,
                                 no H); never bonded to B, Al or a metal
tpsa_A2                Å^2       topological polar surface area (Ertl; N and O only)
n_rot_bonds                      rotatable bonds (RDKit default definition)
charge_spread_e        e         max − min atomic partial charge (Gasteiger)
charge_std_e           e         standard deviation of the atomic partial charges
charges_from_xtb                 1 if Gasteiger leaves an atom undefined (hexacoordinate P in
                                 PF6⁻, Ge, carborane cages …) and the two charge columns hold
                                 the GFN2-xTB (Mulliken) charges instead; 0 for Gasteiger
=====================  ========  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import (
    Descriptors,
    rdMolDescriptors,
    rdMolTransforms,
    rdShapeHelpers,
)
from rdkit.Geometry import rdGeometry

from featurizers import xtb
from featurizers.base import ComponentFeaturizer
from featurizers.charges import partial_charges
from featurizers.geometry import embed, net_charge
from screen.data.components import Component

#: Elements whose bond to an O/N means the lone pair is already donated (Lewis acids, metals).
ACCEPTOR_ELEMENTS = frozenset({
    "Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "B", "Al", "Ga", "In", "Sc", "Ti",
    "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Y", "Zr", "Ag", "Cd", "Sn", "La"})
COUNTED_ELEMENTS = ("F", "Cl", "Br", "I", "B", "Al", "S", "P", "N", "O")

DESCRIPTOR_LABELS: tuple[str, ...] = (
    "n_heavy", "mw_g_mol", "volume_A3", *(f"n_{el}" for el in COUNTED_ELEMENTS),
    "n_coord_O", "n_coord_N", "tpsa_A2", "n_rot_bonds", "charge_spread_e", "charge_std_e",
    "charges_from_xtb",
)
DESCRIPTOR_UNITS: dict[str, str] = {
    **dict.fromkeys(DESCRIPTOR_LABELS, ""),
    "mw_g_mol": "g/mol", "volume_A3": "angstrom^3", "tpsa_A2": "angstrom^2",
    "charge_spread_e": "e", "charge_std_e": "e",
}
RDKIT_BIB = """@misc{rdkit,
  author = {Landrum, Greg and others},
  title = {{RDKit}: Open-source cheminformatics},
  howpublished = {\\url{https://www.rdkit.org}},
  doi = {10.5281/zenodo.591637}
}"""
ETKDG_BIB = """@article{wang2020etkdgv3,
  author = {Wang, Shuzhe and Witek, Jagna and Landrum, Gregory A. and Riniker, Sereina},
  title = {Improving Conformer Generation for Small Rings and Macrocycles Based on Distance
           Geometry and Experimental Torsional-Angle Preferences},
  journal = {J. Chem. Inf. Model.},
  year = {2020},
  volume = {60},
  number = {4},
  pages = {2044--2058},
  doi = {10.1021/acs.jcim.0c00025}
}"""
MMFF_BIB = """@article{halgren1996mmff94,
  author = {Halgren, Thomas A.},
  title = {Merck molecular force field. {I}. Basis, form, scope, parameterization, and
           performance of {MMFF94}},
  journal = {J. Comput. Chem.},
  year = {1996},
  volume = {17},
  number = {5--6},
  pages = {490--519},
  doi = {10.1002/(SICI)1096-987X(199604)17:5/6<490::AID-JCC1>3.0.CO;2-P}
}"""
UFF_BIB = """@article{rappe1992uff,
  author = {Rapp{\\'e}, Anthony K. and Casewit, Carla J. and Colwell, K. S. and Goddard, William A.
            and Skiff, W. M.},
  title = {{UFF}, a full periodic table force field for molecular mechanics and molecular
           dynamics simulations},
  journal = {J. Am. Chem. Soc.},
  year = {1992},
  volume = {114},
  number = {25},
  pages = {10024--10035},
  doi = {10.1021/ja00051a040}
}"""
GASTEIGER_BIB = """@article{gasteiger1980peoe,
  author = {Gasteiger, Johann and Marsili, Mario},
  title = {Iterative partial equalization of orbital electronegativity -- a rapid access to
           atomic charges},
  journal = {Tetrahedron},
  year = {1980},
  volume = {36},
  number = {22},
  pages = {3219--3228},
  doi = {10.1016/0040-4020(80)80168-2}
}"""
TPSA_BIB = """@article{ertl2000tpsa,
  author = {Ertl, Peter and Rohde, Bernhard and Selzer, Paul},
  title = {Fast Calculation of Molecular Polar Surface Area as a Sum of Fragment-Based
           Contributions and Its Application to the Prediction of Drug Transport Properties},
  journal = {J. Med. Chem.},
  year = {2000},
  volume = {43},
  number = {20},
  pages = {3714--3717},
  doi = {10.1021/jm000942e}
}"""

# ------------------------------------------------------------------ descriptors
def _bonded_to_acceptor(atom: Chem.Atom) -> bool:
    return any(n.GetSymbol() in ACCEPTOR_ELEMENTS for n in atom.GetNeighbors())


def _is_acyl_like(atom: Chem.Atom) -> bool:
    """C, S or P carrying a double bond to O or S (carbonyl, sulfonyl, phosphoryl …)."""
    if atom.GetSymbol() not in ("C", "S", "P"):
        return False
    return any(b.GetBondType() == Chem.BondType.DOUBLE
               and b.GetOtherAtom(atom).GetSymbol() in ("O", "S") for b in atom.GetBonds())


def is_coordinating_o(atom: Chem.Atom) -> bool:
    """O whose lone pairs can coordinate a metal cation (see module docstring)."""
    return (atom.GetSymbol() == "O" and atom.GetFormalCharge() <= 0 and not atom.GetIsAromatic()
            and not _bonded_to_acceptor(atom))


def is_coordinating_n(atom: Chem.Atom) -> bool:
    """N with a free lone pair (see module docstring)."""
    if atom.GetSymbol() != "N" or atom.GetFormalCharge() > 0 or _bonded_to_acceptor(atom):
        return False
    if atom.GetFormalCharge() < 0:
        return True
    if atom.GetIsAromatic():
        return atom.GetDegree() == 2 and atom.GetTotalNumHs() == 0
    return not any(_is_acyl_like(n) for n in atom.GetNeighbors())


def molecular_volume(mol: Chem.Mol, grid_spacing: float = 0.2, box_margin: float = 2.0) -> float:
    """Van der Waals volume (Å^3) of the first conformer, as ``AllChem.ComputeMolVolume``.

    Same grid encoding and parameters as RDKit's function (identical result), but the occupied
    voxels are counted with NumPy instead of a Python loop over the grid (~20× faster).
    """
    work = Chem.Mol(mol)
    conf = work.GetConformer()
    rdMolTransforms.CanonicalizeConformer(conf, ignoreHs=False)
    lo, hi = rdShapeHelpers.ComputeConfBox(conf)
    shape = rdGeometry.UniformGrid3D(hi.x - lo.x + 2 * box_margin, hi.y - lo.y + 2 * box_margin,
                                     hi.z - lo.z + 2 * box_margin, spacing=grid_spacing)
    rdShapeHelpers.EncodeShape(work, shape, -1, ignoreHs=False, vdwScale=1.0)
    occupancy = shape.GetOccupancyVect()
    counts = np.zeros(len(occupancy), dtype=np.int32)
    DataStructs.ConvertToNumpyArray(occupancy, counts)
    return float(grid_spacing**3 * np.count_nonzero(counts == 3))


def rdkit_descriptors(mol: Chem.Mol, xtb_charges: np.ndarray | None = None) -> dict[str, float]:
    """Descriptors of :data:`DESCRIPTOR_LABELS` (units in :data:`DESCRIPTOR_UNITS`).

    ``mol`` must come from :func:`embed` (explicit H, one conformer). ``xtb_charges`` (e, one
    per atom in ``mol`` order) replace the Gasteiger charges when those are undefined.
    """
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    out: dict[str, float] = {
        "n_heavy": float(mol.GetNumHeavyAtoms()),
        "mw_g_mol": float(Descriptors.MolWt(mol)),
        "volume_A3": molecular_volume(mol),
    }
    for el in COUNTED_ELEMENTS:
        out[f"n_{el}"] = float(symbols.count(el))
    out["n_coord_O"] = float(sum(is_coordinating_o(a) for a in mol.GetAtoms()))
    out["n_coord_N"] = float(sum(is_coordinating_n(a) for a in mol.GetAtoms()))
    out["tpsa_A2"] = float(rdMolDescriptors.CalcTPSA(mol))
    out["n_rot_bonds"] = float(rdMolDescriptors.CalcNumRotatableBonds(mol))
    q, from_xtb = partial_charges(mol, xtb_charges)
    out["charge_spread_e"] = float(q.max() - q.min())
    out["charge_std_e"] = float(q.std())
    out["charges_from_xtb"] = float(from_xtb)
    return out


@dataclass(frozen=True)
class MolecularData:
    """Everything the molecular featurizers need of one component."""

    mol: Chem.Mol  # explicit H, one conformer (Å)
    charge: int  # total charge (e)
    xtb: xtb.XTBResult
    descriptors: dict[str, float]  # :data:`DESCRIPTOR_LABELS`


def compute(component: Component) -> MolecularData:
    """Embed, run GFN2-xTB and compute the RDKit descriptors of one component.

    Raises :class:`~screen.data.structures.StructureError` or :class:`~featurizers.xtb.XTBError`
    (both name the component).
    """
    mol = embed(component)
    charge = net_charge(component, mol)
    result = xtb.singlepoint_mol(mol, charge, f"{component.kind} {component.name}")
    return MolecularData(mol, charge, result, rdkit_descriptors(mol, result.charges))


def molecular_citations() -> list[str]:
    """BibTeX of the methods behind :func:`compute`."""
    return [RDKIT_BIB, ETKDG_BIB, MMFF_BIB, UFF_BIB, GASTEIGER_BIB, TPSA_BIB, xtb.GFN2_BIB,
            xtb.TBLITE_BIB]


#: GFN2-xTB features shared by the anion and solvent featurizers (eV, debye, e).
XTB_LABELS: tuple[str, ...] = ("homo_eV", "lumo_eV", "gap_eV", "dipole_D", "q_min_e", "q_max_e")
XTB_UNITS: dict[str, str] = {"homo_eV": "eV", "lumo_eV": "eV", "gap_eV": "eV",
                             "dipole_D": "debye", "q_min_e": "e", "q_max_e": "e"}


def xtb_values(result: xtb.XTBResult) -> dict[str, float]:
    """The :data:`XTB_LABELS` values of one xTB result."""
    return {"homo_eV": result.homo_eV, "lumo_eV": result.lumo_eV, "gap_eV": result.gap_eV,
            "dipole_D": result.dipole_D, "q_min_e": result.q_min, "q_max_e": result.q_max}


class MolecularFeaturizer(ComponentFeaturizer):
    """Shared part of the RDKit + GFN2-xTB featurizers: a subclass sets ``labels`` and
    ``units`` and implements :meth:`values` (a dict over ``labels``) for one component."""

    labels: ClassVar[tuple[str, ...]]
    units: ClassVar[dict[str, str]]

    def values(self, component: Component, data: MolecularData) -> dict[str, float]:
        """Feature values of one component from its computed :class:`MolecularData`."""
        raise NotImplementedError

    def featurize(self, component: Component) -> np.ndarray:
        """Feature vector (float64, ``labels`` order) of one component."""
        values = self.values(component, compute(component))
        return np.array([values[label] for label in self.labels], dtype=np.float64)

    def feature_labels(self) -> list[str]:
        """Feature names in output order (see the module docstring)."""
        return list(self.labels)

    def feature_units(self) -> dict[str, str]:
        """Unit of every feature ('' for counts, flags and fractions)."""
        return dict(self.units)

    def citations(self) -> list[str]:
        """BibTeX of RDKit, ETKDG, MMFF94, UFF, Gasteiger charges, TPSA, GFN2-xTB, tblite."""
        return molecular_citations()
