"""Redox and Mg²⁺-binding descriptors of anions, solvents and additives (GFN2-xTB, ALPB(THF)).

Two featurizers: :class:`AnionRedoxFeaturizer` (``anion_redox__…``) and
:class:`SolventRedoxFeaturizer` (``solvent_redox__…``; serves the solvent and the additive
columns). Both start from the 3-D structure of :func:`featurizers.geometry.embed` (the same
geometry as the anion and solvent featurizers) and use GFN2-xTB through tblite
(:mod:`featurizers.xtb`, one OpenMP thread).

Which quantities are solvated
-----------------------------
*ALPB(THF)* (tblite's parametrized analytical linearized Poisson–Boltzmann model, Ehlert et
al. 2021; one solvent for every component, so all values share one scale; THF and the glymes
have ε ≈ 7): every ``*_alpb_*`` value, both potentials and every Mg²⁺ binding energy.
*Gas phase*: ``ip_gas_eV`` and ``ea_gas_eV`` of the solvent featurizer only. Anions get no
gas-phase values: the dianion made by reducing an isolated monoanion is unbound, and a
minimal-basis number for it would be misleading.

Vertical IP and EA (ΔSCF)
-------------------------
At the embedded geometry (not relaxed for the ion): IP = E(N−1) − E(N), EA = E(N) − E(N+1),
N the electrons of the species as written (anion: its charge; solvent: neutral; salt
additive/ionic liquid: the neutral contact cluster), each minus the empirical GFN2-xTB IP/EA
shift of 4.8455 eV that the xtb program applies to its ΔSCF values (``xtb --vipea``; Bannwarth
et al. 2021). The shift is one constant: it cancels in any comparison of two species and only
sets the absolute scale. Odd electron counts are doublets (``uhf = 1``), as everywhere in
:mod:`featurizers.xtb`. Without the shift, GFN2-xTB ΔSCF IPs are ≈5 eV too high (Mg: 13.2 eV
vs 7.65 eV; with it, Cl⁻ gives EA(Cl) = 3.4 eV vs 3.61 eV).

*Adiabatic values are not computed.* Relaxing the reduced species breaks bonds for much of the
library (measured with :func:`featurizers.xtb.relax`, ALPB: THF⁻, DME⁻, G4⁻ and TEP⁻ relax by
4.4–5.8 eV while interatomic distances change by 0.8–2 Å, TFSI²⁻ by 3.0 eV, PF6²⁻ by 7.6 eV:
ring opening and fluoride loss), so an "adiabatic EA" would be a path-dependent decomposition
energy of whichever minimum L-BFGS reaches, not a redox property; and open-shell relaxations
of the large clusters and polymers (PTB: 147 atoms, ≈1 s per SCF) do not fit the time budget.

Potentials vs Mg/Mg²⁺ (a crude vertical screening scale)
------------------------------------------------------
Following the Electrolyte Genome screening (Qu et al. 2015), a solvated
IP/EA is turned into an absolute potential and referred to the metal::

    E_ox(vs Mg)  = IP_alpb/e − 4.44 V − (−2.37 V) = IP_alpb/e − 2.07 V
    E_red(vs Mg) = EA_alpb/e − 4.44 V − (−2.37 V) = EA_alpb/e − 2.07 V

4.44 V: absolute potential of the SHE (IUPAC, Trasatti 1986); −2.37 V: E°(Mg²⁺/Mg) vs SHE
(Bratsch 1989). A higher ``e_red_vs_mg_V`` means easier to reduce; above 0 V the species is
reducible by Mg metal. A lower ``e_ox_vs_mg_V`` means easier to oxidize. One scale only: vs
Ca/Ca²⁺ (−2.87 V vs SHE) every value is 0.50 V higher. These are *vertical*, single-electron
estimates without thermal or entropy corrections: reduction potentials come out far too negative for
dissociative reductions (carbonates, TFSI, PF6 — see above) and are meant for ranking, not
as electrochemical windows.

Mg²⁺ binding (1:1 clusters, ALPB(THF), relative to THF)
------------------------------------------------------
GFN2-xTB describes a bare Mg²⁺ badly (its second ionization energy comes out at 35 eV instead
of 15 eV), so E[MgL²⁺] − E[Mg²⁺] − E[L] is far too negative (Mg²⁺–H2O, gas phase: −16.6 eV,
against ≈ −3.5 eV, i.e. ≈ 80 kcal/mol, in ab initio work). The bare-ion energy is therefore
eliminated with a ligand-exchange reference: ``mg_bind_rel_thf_eV`` is the energy of
[Mg(THF)]²⁺ + L → [MgL]²⁺ + THF (anions: [Mg(THF)]²⁺ + X⁻ → [MgX]⁺ + THF), i.e.
(E[MgL] − E[L]) − (E[Mg(THF)] − E[THF]). More negative = binds Mg²⁺ more strongly than THF
does; THF itself is exactly 0. Solvents and anions are on the same scale, so the difference
of the two tells whether an anion displaces a solvent.

*Neutral molecules* (solvents, molecular additives):

1. Donor atoms: the largest group of ether O / amine N linked by 3- or 4-bond paths (the
   chelate rule of :func:`featurizers.solvent.denticity`: glymes, diamines, methoxyamines)
   if it has ≥ 2 members; otherwise the one coordinating O/N
   (:func:`featurizers.molecule.is_coordinating_o` / ``_n``) with the most negative GFN2-xTB
   (ALPB) charge — the carbonyl O of carbonates and amides, P=O of phosphates, S=O of DMSO,
   the imidazole N, nitrile N, the ether O of THF; none: NaN (haloalkanes, I2, GeCl4,
   BF3·OEt2, whose O is bound to B).
2. Free molecule: the embedded structure relaxed with GFN2-xTB/ALPB (≤ 300 L-BFGS steps).
3. Cluster, one donor: Mg on the donor's lone-pair axis (opposite the mean bond direction) at
   r_cov(Mg) + r_cov(donor) from the relaxed molecule; Mg and the atoms at most two bonds from
   the donor are relaxed, the rest stays at the free geometry (a bare Mg²⁺ would otherwise
   pull in remote parts of a flexible chain, an artefact of the missing solvation shell).
   Several donors: ETKDGv3 (fixed seed) of the molecule with a dative bond from each donor to
   Mg and donor–donor distances of 2.5–4.3 Å, the ligand part MMFF94-minimized with the donors
   fixed, then the whole cluster relaxed (≤ 300 steps).

*Anions*: the anion keeps its embedded geometry; Mg²⁺ is put at the clash-free contact
position (distance r_cov(Mg) + r_cov(X) from some atom X) of lowest Coulomb energy with the
anion's GFN2-xTB (ALPB) charges and relaxed with the anion frozen (≤ 300 steps). E[X⁻] is the
ALPB energy at the same geometry, so no relaxation energy of the anion enters.

*Salt additives, ionic liquids and polymer salts* (several fragments, an ion cluster per
:func:`featurizers.geometry.embed`): NaN — the cluster is not a ligand; its anion's binding is
the anion featurizer's business and its cation does not bind Mg²⁺. (A dianion such as S8²⁻
forms the neutral [MgX] pair; the recipe is the same.)

Known biases (GFN2-xTB, not fixed here): the bare Mg²⁺ of a 1:1 cluster is coordinatively
unsaturated and GFN2-xTB overestimates charge transfer to it, so binding grows by 1.6–2.1 eV
per extra ether O (G4 ≈ −7.4 eV relative to THF, far more than in solution), and soft,
polarizable anions bind too strongly (Cl⁻ < Br⁻ < I⁻ in strength, the reverse of experiment;
thiolates, carboranes and B(hfip)4⁻ bind more strongly than TFSI⁻; TMP binds slightly less
than THF and 2-MeTHF more, against their donor numbers and sterics). The carborane cage's
IP is low (CB11H12⁻ oxidizes before BH4⁻ here, the reverse of the measured anodic limits), so
``e_ox`` of carboranes is not trustworthy. Orderings within a class
(monodentate vs chelating ethers; the donor-number trend nitrile and carbonates (DN 14–17)
< THF (20) < amides and DMSO (27–30)) are what the number carries.

Descriptors
-----------
:class:`AnionRedoxFeaturizer` (``anion_redox__``):

=====================  ====  ==================================================================
label                  unit  meaning
=====================  ====  ==================================================================
ip_alpb_eV             eV    vertical IP of the anion, ALPB(THF) (oxidation X⁻ → X•)
ea_alpb_eV             eV    vertical EA of the anion, ALPB(THF) (reduction X⁻ → X²⁻•); NaN
                             for a monatomic anion (Cl⁻, Br⁻, I⁻: a closed valence shell has
                             no orbital to take the electron, the number would only measure the
                             basis set)
e_ox_vs_mg_V           V     ip_alpb_eV/e − 2.07 V: oxidation potential vs Mg/Mg²⁺
e_red_vs_mg_V          V     ea_alpb_eV/e − 2.07 V: reduction potential vs Mg/Mg²⁺ (NaN as EA)
mg_bind_rel_thf_eV     eV    [Mg(THF)]²⁺ + X⁻ → [MgX]⁺ + THF, ALPB(THF); negative: binds Mg²⁺
                             more strongly than THF
n_halide                     Cl, Br, I atoms not bonded to O or F (perchlorate's Cl is not a
                             halide)
n_inorganic_halide           those not bonded to C (halide ions, Al/B/metal halides, I2)
has_chloride                 1 if any such Cl, else 0
=====================  ====  ==================================================================

:class:`SolventRedoxFeaturizer` (``solvent_redox__``; solvents and additives):

=====================  ====  ==================================================================
label                  unit  meaning
=====================  ====  ==================================================================
ip_gas_eV              eV    vertical IP, gas phase
ea_gas_eV              eV    vertical EA, gas phase (minimal-basis valence EA: strongly
                             negative for ethers, whose real gas-phase anions are unbound)
ip_alpb_eV             eV    vertical IP, ALPB(THF)
ea_alpb_eV             eV    vertical EA, ALPB(THF)
e_ox_vs_mg_V           V     ip_alpb_eV/e − 2.07 V (oxidation potential vs Mg/Mg²⁺)
e_red_vs_mg_V          V     ea_alpb_eV/e − 2.07 V (reduction potential vs Mg/Mg²⁺)
mg_bind_rel_thf_eV     eV    [Mg(THF)]²⁺ + L → [MgL]²⁺ + THF, ALPB(THF) (THF: 0); NaN without a
                             donor atom and for ion clusters
mg_n_donors                  donor atoms bound to Mg in the 1:1 cluster (0: none; NaN: ion
                             cluster)
n_halide                     as for anions
n_inorganic_halide           as for anions (MgCl2, AlCl3, GeCl4, I2, LiCl …; not CH3CH2CH2Cl)
has_chloride                 as for anions
=====================  ====  ==================================================================

For salt additives and ionic liquids the IP and EA are those of the neutral contact cluster
(the formula unit as embedded): they describe that ion pair, not the free ions, and include no
concentration or counter-ion effects. Where the electron goes depends on the cluster (change
of the ALPB Mulliken charges per ion): oxidation empties the anion in MgCl2, LiTFSI, LiBH4 and
Li2S8 but the cation in EMIM-TFSI and PYR14TFSI; reduction fills the imidazolium cation of
EMIM-TFSI and BmimBF4, TFSI⁻ in PYR14TFSI, and spreads over Mg and both Cl in MgCl2.

Cost (one core, cold cache, this machine): the whole library, 36 anions and 65 solvents and
additives, takes ≈ 120 s for both featurizers together (anions 28 s, median 0.3 s, slowest
TPFA⁻ 4 s; solvents 91 s, median 0.6 s, slowest the polymer oligomers PVB (a 78-atom
chelate cluster) and PECH-OMgCl (slowly converging SCFs of a cluster with two Mg), ≈ 13 s
each). Per component: three (anions) or six
(solvents) ΔSCF single points, and one (anions, Mg only) or two (molecules) relaxations.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import numpy as np
from rdkit import Chem, DistanceGeometry, RDLogger
from rdkit.Chem import rdDistGeom
from rdkit.Chem import rdForceFieldHelpers as ff_helpers

from featurizers import xtb
from featurizers.base import ComponentFeaturizer, FeaturizationError
from featurizers.blocks import BlockSpec, register_block
from featurizers.geometry import EMBED_SEED, embed, net_charge
from featurizers.molecule import is_coordinating_n, is_coordinating_o
from featurizers.solvent import CHELATE_PATHS, is_amine_n, is_ether_o
from screen.data.components import Component
from screen.data.schema import ComponentKind

# ------------------------------------------------------------------ constants
#: ALPB solvent of every solvated quantity (tblite's parametrized THF).
SOLVENT = "thf"
#: Empirical IP/EA shift of GFN2-xTB (eV) that the xtb program subtracts from its ΔSCF
#: vertical IP and EA (``xtb --vipea`` prints it as "empirical IP shift"; Bannwarth et al.
#: 2021). Applied to IP and EA alike, so it cancels in every comparison of two species.
IPEA_SHIFT_EV = 4.8455
#: Absolute potential of the standard hydrogen electrode (V; IUPAC recommendation, Trasatti
#: 1986).
ABSOLUTE_SHE_V = 4.44
#: Standard potential of Mg²⁺/Mg vs SHE (V; Bratsch 1989: −2.372 V).
MG_VS_SHE_V = -2.37
#: Standard potential of Ca²⁺/Ca vs SHE (V; Bratsch 1989: −2.868 V); not used for a column:
#: a potential vs Ca/Ca²⁺ is the one vs Mg/Mg²⁺ + 0.50 V.
CA_VS_SHE_V = -2.87
#: L-BFGS step limit of every cluster/ligand relaxation (xtb.relax, gradient 1e-3 Eh/Bohr).
CLUSTER_MAX_STEPS = 300
#: SCF iteration limit of the Mg²⁺ clusters and the ΔSCF ions (tblite's default, 250, is too
#: tight for some Mg²⁺–ligand geometries, whose charge transfer converges slowly).
MAX_SCF = 1000
#: Donor–donor distance bounds (Å) imposed on the embedding of a chelate: wide enough for a
#: five-membered chelate ring (≈2.6 Å) and for trans donors of an octahedron (≈4.1 Å).
CHELATE_DONOR_BOUNDS = (2.5, 4.3)
#: A monodentate cluster relaxes Mg and the atoms at most this many bonds from the donor.
LOCAL_BONDS = 2
#: Halogens counted as halide.
HALIDES = ("Cl", "Br", "I")

_PT = Chem.GetPeriodicTable()
_HALIDE_Z = frozenset(_PT.GetAtomicNumber(el) for el in HALIDES)
_MG = 12

REDOX_LABELS: tuple[str, ...] = ("ip_alpb_eV", "ea_alpb_eV", "e_ox_vs_mg_V", "e_red_vs_mg_V")
BINDING_LABELS: tuple[str, ...] = ("mg_bind_rel_thf_eV",)
HALIDE_LABELS: tuple[str, ...] = ("n_halide", "n_inorganic_halide", "has_chloride")
UNITS: dict[str, str] = {
    "ip_gas_eV": "eV", "ea_gas_eV": "eV", "ip_alpb_eV": "eV", "ea_alpb_eV": "eV",
    "e_ox_vs_mg_V": "V", "e_red_vs_mg_V": "V", "mg_bind_rel_thf_eV": "eV",
    "mg_n_donors": "", "n_halide": "", "n_inorganic_halide": "", "has_chloride": "",
}

# ------------------------------------------------------------------ citations
ALPB_BIB = """@article{ehlert2021alpb,
  author = {Ehlert, Sebastian and Stahn, Marcel and Spicher, Sebastian and Grimme, Stefan},
  title = {Robust and Efficient Implicit Solvation Model for Fast Semiempirical Methods},
  journal = {J. Chem. Theory Comput.},
  year = {2021},
  volume = {17},
  number = {7},
  pages = {4250--4261},
  doi = {10.1021/acs.jctc.1c00471}
}"""
XTB_PROGRAM_BIB = """@article{bannwarth2021xtb,
  author = {Bannwarth, Christoph and Caldeweyher, Eike and Ehlert, Sebastian and Hansen, Andreas
            and Pracht, Philipp and Seibert, Jakob and Spicher, Sebastian and Grimme, Stefan},
  title = {Extended tight-binding quantum chemistry methods},
  journal = {WIREs Comput. Mol. Sci.},
  year = {2021},
  volume = {11},
  number = {2},
  pages = {e1493},
  doi = {10.1002/wcms.1493},
  note = {xtb program; source of the GFN2-xTB empirical IP/EA shift of 4.8455 eV}
}"""
TRASATTI_BIB = """@article{trasatti1986absolute,
  author = {Trasatti, Sergio},
  title = {The absolute electrode potential: an explanatory note (Recommendations 1986)},
  journal = {Pure Appl. Chem.},
  year = {1986},
  volume = {58},
  number = {7},
  pages = {955--966},
  doi = {10.1351/pac198658070955}
}"""
BRATSCH_BIB = """@article{bratsch1989standard,
  author = {Bratsch, Steven G.},
  title = {Standard Electrode Potentials and Temperature Coefficients in Water at 298.15 {K}},
  journal = {J. Phys. Chem. Ref. Data},
  year = {1989},
  volume = {18},
  number = {1},
  pages = {1--21},
  doi = {10.1063/1.555839}
}"""
QU_BIB = """@article{qu2015electrolyte,
  author = {Qu, Xiaohui and Jain, Anubhav and Rajput, Nav Nidhi and Cheng, Lei and Zhang, Yong
            and Ong, Shyue Ping and Brafman, Miriam and Maginn, Edward and Curtiss, Larry A.
            and Persson, Kristin A.},
  title = {The {Electrolyte Genome} project: A big data approach in battery materials
           discovery},
  journal = {Comput. Mater. Sci.},
  year = {2015},
  volume = {103},
  pages = {56--67},
  doi = {10.1016/j.commatsci.2015.02.050}
}"""


def redox_citations() -> list[str]:
    """BibTeX of the methods and constants behind both featurizers."""
    from featurizers.molecule import molecular_citations

    return [*molecular_citations(), ALPB_BIB, XTB_PROGRAM_BIB, TRASATTI_BIB, BRATSCH_BIB,
            QU_BIB]


# ------------------------------------------------------------------ redox
def vertical_ip_ea(numbers: np.ndarray, xyz: np.ndarray, charge: int, name: str,
                   solvent: str | None, e_n: float | None = None) -> tuple[float, float]:
    """Vertical ΔSCF IP and EA (eV) at one geometry, each minus :data:`IPEA_SHIFT_EV`.

    IP = E(N−1) − E(N), EA = E(N) − E(N+1) with N the electrons of the species of total charge
    ``charge``; ``solvent``: ALPB solvent or None (gas phase); ``e_n``: E(N) in Eh if known.
    """
    if e_n is None:
        e_n = xtb.energy(numbers, xyz, charge, name, solvent=solvent, max_scf=MAX_SCF)
    e_ox = xtb.energy(numbers, xyz, charge + 1, name, solvent=solvent, max_scf=MAX_SCF)
    e_red = xtb.energy(numbers, xyz, charge - 1, name, solvent=solvent, max_scf=MAX_SCF)
    ip = (e_ox - e_n) * xtb.HARTREE_EV - IPEA_SHIFT_EV
    ea = (e_n - e_red) * xtb.HARTREE_EV - IPEA_SHIFT_EV
    return ip, ea


def potential_vs_mg(energy_eV: float) -> float:
    """Potential (V vs Mg/Mg²⁺) of a vertical solvated IP or EA (eV):
    E = energy/e − 4.44 V (absolute SHE) − (−2.37 V) (Mg²⁺/Mg vs SHE)."""
    return energy_eV - ABSOLUTE_SHE_V - MG_VS_SHE_V


def redox_values(numbers: np.ndarray, xyz: np.ndarray, charge: int, name: str,
                 e_n_alpb: float) -> dict[str, float]:
    """The :data:`REDOX_LABELS` values (ALPB) of one structure."""
    ip, ea = vertical_ip_ea(numbers, xyz, charge, name, SOLVENT, e_n_alpb)
    return {"ip_alpb_eV": ip, "ea_alpb_eV": ea, "e_ox_vs_mg_V": potential_vs_mg(ip),
            "e_red_vs_mg_V": potential_vs_mg(ea)}


# ------------------------------------------------------------------ halides
def halide_counts(mol: Chem.Mol) -> dict[str, float]:
    """``n_halide`` (Cl, Br, I atoms not bonded to O or F, i.e. not oxo/fluoro-halogen such as
    perchlorate), ``n_inorganic_halide`` (those of them not bonded to C: halide ions,
    metal/metalloid halides, I2) and ``has_chloride`` (any such Cl)."""
    halogens = [a for a in mol.GetAtoms() if a.GetAtomicNum() in _HALIDE_Z
                and not any(n.GetSymbol() in ("O", "F") for n in a.GetNeighbors())]
    inorganic = [a for a in halogens if all(n.GetSymbol() != "C" for n in a.GetNeighbors())]
    return {"n_halide": float(len(halogens)), "n_inorganic_halide": float(len(inorganic)),
            "has_chloride": float(any(a.GetSymbol() == "Cl" for a in halogens))}


# ------------------------------------------------------------------ Mg2+ clusters
def _numbers(mol: Chem.Mol) -> np.ndarray:
    return np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=int)


def donor_atoms(mol: Chem.Mol, charges: np.ndarray) -> list[int]:
    """Atoms a Mg²⁺ is bound to in the 1:1 cluster of a neutral molecule (module docstring).

    The largest group of ether O / amine N donors linked by 3- or 4-bond paths (the chelate
    rule of :func:`featurizers.solvent.denticity`) if it has at least two members; otherwise
    the coordinating O/N (:func:`featurizers.molecule.is_coordinating_o`/``_n``) with the most
    negative GFN2-xTB charge; ``[]`` if the molecule has no coordinating O/N.
    """
    chelating = [a.GetIdx() for a in mol.GetAtoms() if is_ether_o(a) or is_amine_n(a)]
    groups: list[set[int]] = []
    if len(chelating) > 1:
        dist = Chem.GetDistanceMatrix(mol)
        for d in chelating:
            linked = [g for g in groups if any(int(dist[d, e]) in CHELATE_PATHS for e in g)]
            groups = [g for g in groups if g not in linked] + [{d}.union(*linked)]
    best = max(groups, key=lambda g: (len(g), -min(g)), default=set())
    if len(best) >= 2:
        return sorted(best)
    candidates = [a.GetIdx() for a in mol.GetAtoms()
                  if is_coordinating_o(a) or is_coordinating_n(a)]
    if not candidates:
        return []
    return [min(candidates, key=lambda i: (round(float(charges[i]), 6), i))]


def chelate_geometry(mol: Chem.Mol, donors: list[int], name: str) -> np.ndarray:
    """Start geometry (Å) of the 1:1 Mg²⁺ cluster, Mg last: ETKDGv3 of the molecule with a
    dative bond from every donor to Mg and donor–donor distances within
    :data:`CHELATE_DONOR_BOUNDS` (fixed seed, one thread; retried from random coordinates)."""
    RDLogger.DisableLog("rdApp.*")
    work = Chem.RWMol(Chem.Mol(mol))
    work.RemoveAllConformers()
    mg = work.AddAtom(Chem.Atom(_MG))
    work.GetAtomWithIdx(mg).SetFormalCharge(2)
    for d in donors:
        work.AddBond(d, mg, Chem.BondType.DATIVE)
    cluster = work.GetMol()
    Chem.SanitizeMol(cluster)
    bounds = rdDistGeom.GetMoleculeBoundsMatrix(cluster, doTriangleSmoothing=False)
    lower, upper = CHELATE_DONOR_BOUNDS
    for i in donors:
        for j in donors:
            if i < j:  # upper bounds above the diagonal, lower bounds below
                bounds[i, j], bounds[j, i] = upper, lower
    if not DistanceGeometry.DoTriangleSmoothing(bounds):
        raise FeaturizationError(f"{name!r}: inconsistent distance bounds for the Mg²⁺ chelate")
    for random_coords in (False, True):
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = EMBED_SEED
        params.numThreads = 1
        params.useRandomCoords = random_coords
        params.SetBoundsMat(bounds)
        if rdDistGeom.EmbedMolecule(cluster, params) >= 0:
            return cluster.GetConformer().GetPositions()
    raise FeaturizationError(f"{name!r}: ETKDG cannot embed the 1:1 Mg²⁺ cluster")


def place_mg(numbers: np.ndarray, xyz: np.ndarray, charges: np.ndarray,
             n_directions: int = 64) -> np.ndarray:
    """Position (Å) of a Mg²⁺ in contact with an ion: on a sphere of radius
    r_cov(Mg) + r_cov(X) around some atom X, clashing with no atom (closer than that sum), at
    the lowest Coulomb energy with the atoms' GFN2-xTB charges; ties: lowest index."""
    rcov = np.array([_PT.GetRcovalent(int(z)) for z in numbers]) + _PT.GetRcovalent(_MG)
    i = np.arange(n_directions) + 0.5
    z = 1.0 - 2.0 * i / n_directions
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    sphere = np.column_stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi),
                              z])
    cand = (xyz[:, None, :] + rcov[:, None, None] * sphere[None]).reshape(-1, 3)
    r = np.linalg.norm(cand[:, None, :] - xyz[None, :, :], axis=-1)
    ok = np.all(r >= rcov[None, :] - 1e-6, axis=1)
    if not ok.any():
        raise ValueError("no clash-free contact position for Mg²⁺")
    coulomb = np.where(ok, (2.0 * charges[None, :] / r).sum(axis=1), np.inf)
    return cand[int(np.argmin(np.round(coulomb, 8)))]


def _relaxed(numbers: np.ndarray, xyz: np.ndarray, charge: int, name: str,
             free: list[int] | None = None) -> tuple[float, np.ndarray]:
    """GFN2-xTB/ALPB relaxation (≤ :data:`CLUSTER_MAX_STEPS` steps; ``free``: the atoms that
    move, default all) and the energy (Eh) of the final geometry."""
    out = xtb.relax(numbers, xyz, charge, name, max_steps=CLUSTER_MAX_STEPS, solvent=SOLVENT,
                    max_scf=MAX_SCF, free=None if free is None else np.asarray(free))
    return xtb.energy(numbers, out, charge, name, solvent=SOLVENT, max_scf=MAX_SCF), out


def _cleanup(mol: Chem.Mol, xyz: np.ndarray, fixed: list[int]) -> np.ndarray:
    """MMFF94 (else UFF) minimization of the ligand part of a chelate start geometry with the
    donor atoms held in place; unchanged if neither force field types the molecule."""
    work = Chem.Mol(mol)
    conf = work.GetConformer()
    for i, p in enumerate(xyz[: work.GetNumAtoms()]):
        conf.SetAtomPosition(i, p.tolist())
    field = None
    if ff_helpers.MMFFHasAllMoleculeParams(work):
        props = ff_helpers.MMFFGetMoleculeProperties(work)
        props.SetMMFFVariant("MMFF94")
        field = ff_helpers.MMFFGetMoleculeForceField(work, props)
    elif ff_helpers.UFFHasAllMoleculeParams(work):
        field = ff_helpers.UFFGetMoleculeForceField(work)
    if field is None:
        return xyz
    for i in fixed:
        field.AddFixedPoint(i)
    field.Initialize()
    field.Minimize(maxIts=2000)
    return np.vstack([work.GetConformer().GetPositions(), xyz[work.GetNumAtoms():]])


def lone_pair_site(mol: Chem.Mol, xyz: np.ndarray, donor: int) -> np.ndarray:
    """Mg position (Å) on the lone-pair axis of a donor: opposite to the mean of its bond
    directions, at r_cov(Mg) + r_cov(donor)."""
    atom = mol.GetAtomWithIdx(donor)
    bonds = [xyz[donor] - xyz[n.GetIdx()] for n in atom.GetNeighbors()]
    axis = np.sum([b / np.linalg.norm(b) for b in bonds], axis=0) if bonds else np.zeros(3)
    norm = float(np.linalg.norm(axis))
    axis = axis / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])
    return xyz[donor] + (_PT.GetRcovalent(_MG) + _PT.GetRcovalent(atom.GetAtomicNum())) * axis


def ligand_binding(mol: Chem.Mol, charges: np.ndarray, name: str) -> tuple[float, int]:
    """(E[MgL²⁺] − E[L] in eV, number of donor atoms) of a neutral molecule L, ALPB; (NaN, 0)
    if it has no donor atom. Recipe: module docstring."""
    donors = donor_atoms(mol, charges)
    if not donors:
        return math.nan, 0
    numbers = _numbers(mol)
    cluster_numbers = np.append(numbers, _MG)
    e_free, free_xyz = _relaxed(numbers, mol.GetConformer().GetPositions(), 0, name)
    if len(donors) == 1:
        start = np.vstack([free_xyz, lone_pair_site(mol, free_xyz, donors[0])])
        dist = Chem.GetDistanceMatrix(mol)[donors[0]]
        local = [int(i) for i in np.flatnonzero(dist <= LOCAL_BONDS)] + [len(numbers)]
        e_cluster, _ = _relaxed(cluster_numbers, start, 2, f"Mg2+ {name}", free=local)
    else:
        start = _cleanup(mol, chelate_geometry(mol, donors, name), donors)
        e_cluster, _ = _relaxed(cluster_numbers, start, 2, f"Mg2+ {name}")
    return (e_cluster - e_free) * xtb.HARTREE_EV, len(donors)


@functools.lru_cache(maxsize=1)
def thf_reference_eV() -> float:
    """E[Mg(THF)²⁺] − E[THF] (eV), ALPB(THF): the zero of ``mg_bind_rel_thf_eV``."""
    thf = Component("solvent", "THF (reference)", "smiles:C1CCOC1", "reference",
                    smiles="C1CCOC1", charge=0, in_library=False)
    mol = embed(thf)
    xyz = mol.GetConformer().GetPositions()
    charges = xtb.singlepoint(_numbers(mol), xyz, 0, thf.name, solvent=SOLVENT).charges
    return ligand_binding(mol, charges, thf.name)[0]


def ion_binding(numbers: np.ndarray, xyz: np.ndarray, charge: int, charges: np.ndarray,
                e_free: float, name: str) -> float:
    """E[MgX] − E[X] (eV) of an ion X (energy ``e_free`` in Eh, ALPB, at ``xyz``): Mg²⁺ put at
    its most negative contact site (:func:`place_mg`) and relaxed in ALPB with X frozen."""
    start = np.vstack([xyz, place_mg(numbers, xyz, charges)])
    e_cluster, _ = _relaxed(np.append(numbers, _MG), start, charge + 2, f"Mg2+ {name}",
                            free=[len(numbers)])
    return (e_cluster - e_free) * xtb.HARTREE_EV


# ------------------------------------------------------------------ featurizers
class _RedoxFeaturizer(ComponentFeaturizer):
    """Shared part: labels/units/citations; a subclass implements :meth:`values`."""

    labels: ClassVar[tuple[str, ...]]

    def values(self, component: Component, mol: Chem.Mol, charge: int) -> dict[str, float]:
        """Feature values of one embedded component."""
        raise NotImplementedError

    def featurize(self, component: Component) -> np.ndarray:
        """Feature vector (float64, ``labels`` order) of one component."""
        mol = embed(component)
        values = self.values(component, mol, net_charge(component, mol))
        return np.array([values[label] for label in self.labels], dtype=np.float64)

    def feature_labels(self) -> list[str]:
        """Feature names in output order (see the module docstring)."""
        return list(self.labels)

    def feature_units(self) -> dict[str, str]:
        """Unit of every feature ('' for counts and flags)."""
        return {label: UNITS[label] for label in self.labels}

    def citations(self) -> list[str]:
        """BibTeX of RDKit/ETKDG/force fields, GFN2-xTB, tblite, ALPB, the xtb program (IP/EA
        shift), the absolute SHE potential, the Mg²⁺/Mg standard potential and the Electrolyte
        Genome screening papers."""
        return redox_citations()


class AnionRedoxFeaturizer(_RedoxFeaturizer):
    """Redox, Mg²⁺-binding and halide descriptors of salt anions (module docstring)."""

    kind: ClassVar[ComponentKind] = "anion"
    name: ClassVar[str] = "anion_redox"
    version: ClassVar[str] = "1"
    labels = (*REDOX_LABELS, *BINDING_LABELS, *HALIDE_LABELS)

    def values(self, component: Component, mol: Chem.Mol, charge: int) -> dict[str, float]:
        """ALPB IP/EA and potentials, Mg²⁺ binding relative to THF, halide counts."""
        name = f"anion {component.name}"
        numbers, xyz = _numbers(mol), mol.GetConformer().GetPositions()
        ref = xtb.singlepoint(numbers, xyz, charge, name, solvent=SOLVENT)
        out = redox_values(numbers, xyz, charge, name, ref.energy_Eh)
        if len(numbers) == 1:  # Cl-, Br-, I-: no valence orbital to reduce (module docstring)
            out["ea_alpb_eV"] = out["e_red_vs_mg_V"] = math.nan
        bind = ion_binding(numbers, xyz, charge, ref.charges, ref.energy_Eh, name)
        out["mg_bind_rel_thf_eV"] = bind - thf_reference_eV()
        return {**out, **halide_counts(mol)}


class SolventRedoxFeaturizer(_RedoxFeaturizer):
    """Redox, Mg²⁺-binding and halide descriptors of solvents and additives (module doc)."""

    kind: ClassVar[ComponentKind] = "solvent"
    name: ClassVar[str] = "solvent_redox"
    version: ClassVar[str] = "1"
    labels = ("ip_gas_eV", "ea_gas_eV", *REDOX_LABELS, *BINDING_LABELS, "mg_n_donors",
              *HALIDE_LABELS)

    def values(self, component: Component, mol: Chem.Mol, charge: int) -> dict[str, float]:
        """Gas and ALPB IP/EA, potentials, Mg²⁺ binding relative to THF, halide counts."""
        name = f"{component.kind} {component.name}"
        numbers, xyz = _numbers(mol), mol.GetConformer().GetPositions()
        ref = xtb.singlepoint(numbers, xyz, charge, name, solvent=SOLVENT)
        out = redox_values(numbers, xyz, charge, name, ref.energy_Eh)
        out["ip_gas_eV"], out["ea_gas_eV"] = vertical_ip_ea(numbers, xyz, charge, name, None)
        frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
        if len(frags) > 1 or charge != 0:  # ion cluster (salt, ionic liquid): not a ligand
            bind, n_donors = math.nan, math.nan
        else:
            bind, n_donors = ligand_binding(mol, ref.charges, name)
            bind -= thf_reference_eV()  # NaN stays NaN
        out.update(mg_bind_rel_thf_eV=bind, mg_n_donors=float(n_donors))
        return {**out, **halide_counts(mol)}


register_block(BlockSpec("anion_redox", "anion", AnionRedoxFeaturizer, combine="single",
                         order=11))
register_block(BlockSpec("solvent_redox", "solvent", SolventRedoxFeaturizer, combine="mixture",
                         ratio_column="solvent_ratio", order=21))
register_block(BlockSpec("additive_redox", "additive", SolventRedoxFeaturizer,
                         combine="additive", order=31))
