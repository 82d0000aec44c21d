"""3-D structures of molecular components (anions, solvents, additives) and ion clusters.

Geometry (:func:`embed`)
------------------------
*SMILES components.* The SMILES is canonicalized first (RDKit canonical SMILES, re-parsed), so
two spellings of one structure give the identical atom order and therefore the identical
geometry. Hydrogens are made explicit and every fragment (``.``-separated part) is embedded on
its own with ETKDGv3 and a fixed random seed (:data:`EMBED_SEED`, one thread: deterministic);
if that fails, the embedding is retried from random coordinates (``useRandomCoords``, the
remedy for crowded anions such as [B(hfip)4]⁻). Each fragment is then relaxed with MMFF94 if
RDKit has MMFF94 parameters for it, else with UFF, else it keeps the ETKDG geometry.
Exception: a fragment with a hypervalent atom (≥ 5 neighbours, e.g. PF6⁻) is relaxed with
GFN2-xTB (:func:`featurizers.xtb.relax`), because neither ETKDG nor RDKit's UFF typing knows
octahedral centres (PF6⁻ came out with F–P–F angles of 30°).

*Several fragments* (salt additives such as ``[Mg+2].[Cl-].[Cl-]``, ionic liquids, polymer
salts) are built as one neutral contact cluster — the gas-phase analogue of a contact ion pair
— because ions far apart in vacuum give unphysical xTB states (charge transfer) and ions on top
of each other are worse:

1. Order: the largest fragment first; then, greedily, a fragment whose charge opposes the
   cluster's net charge (highest |charge| first), so every ion lands next to counter-ions.
2. Placement (minimum separation): a polyatomic fragment is slid rigidly along each of 64
   fixed directions towards the cluster until first contact; a monatomic ion is put on
   contact with one cluster atom (128 positions around every atom, clashing ones discarded),
   so it can enter pockets between ether arms. The position with the lowest Coulomb energy
   between placement charges (Gasteiger, else formal) is kept; ties: the most compact.
   Contact distance of an atom pair: the sum of covalent radii for a monatomic cation and a
   heavy atom (an ionic bond: Mg–Cl 2.43 Å, Li–O 1.94 Å), else 0.8 × the sum of van der
   Waals radii (H···O 2.2 Å).
3. Relaxation: clusters of at most :data:`XTB_CLUSTER_MAX_ATOMS` atoms (inorganic salts,
   small ion pairs) are relaxed with GFN2-xTB; larger ones with MMFF94 including
   inter-fragment electrostatics and van der Waals terms, typing four-coordinate B⁻/Al⁻ as
   C/Si for the force field only (MMFF94 has no borate types); if MMFF94 still cannot type
   the cluster, the contact geometry is kept (RDKit's UFF has no electrostatics and would push
   the ions apart).
4. Sanity checks: a relaxed cluster in which atoms of different fragments come closer than
   0.75 × the sum of their covalent radii is discarded for the contact geometry; any two atoms
   closer than 0.5 Å, or non-finite coordinates, raise :class:`StructureError`.

*XYZ components* (closo-carboranes): the shipped, already relaxed geometry is used unchanged
(:func:`screen.data.structures.molecule`).

The method behind the final geometry is stored on the returned molecule as the string property
``geometry`` (``MMFF94``, ``UFF``, ``ETKDG``, ``GFN2-xTB``, ``contact``, ``xyz``).

"""

from __future__ import annotations

import math

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import (
    rdDistGeom,
)
from rdkit.Chem import rdForceFieldHelpers as ff_helpers

from featurizers import xtb
from featurizers.charges import partial_charges
from screen.data.components import Component
from screen.data.paths import dataset_dir
from screen.data.structures import StructureError, molecule, xyz_charge

#: Seed of every ETKDG embedding (fixed: the geometry is a deterministic function of the SMILES).
EMBED_SEED = 0x5EED
#: Atoms with at least this many neighbours are hypervalent (PF6⁻, SF6): no force field in RDKit
#: types them correctly, so such fragments are relaxed with GFN2-xTB instead.
HYPERVALENT_DEGREE = 5
#: Multi-fragment clusters up to this many atoms are relaxed with GFN2-xTB (larger: MMFF94).
XTB_CLUSTER_MAX_ATOMS = 30

_PT = Chem.GetPeriodicTable()
_N_DIRECTIONS = 64
_CONTACT_VDW_SCALE = 0.8
_MIN_INTERFRAGMENT = 0.75  # × sum of covalent radii
_MIN_DISTANCE = 0.5  # Å, any two atoms


# ------------------------------------------------------------------ geometry
def embed(component: Component) -> Chem.Mol:
    """Molecule with explicit H and one 3-D conformer (Å); see the module docstring.

    Raises :class:`~screen.data.structures.StructureError` (naming the component) when the
    structure does not parse, cannot be embedded or gives an insane geometry.
    """
    RDLogger.DisableLog("rdApp.*")
    if component.smiles:
        mol = Chem.MolFromSmiles(Chem.MolToSmiles(molecule(component)))
        if mol is None:
            raise StructureError(f"{component.kind} {component.name!r}: canonical SMILES of "
                                 f"{component.smiles!r} does not re-parse")
        out = _embed_smiles(Chem.AddHs(mol), component)
    else:
        out = molecule(component)  # XYZ file: relaxed geometry, explicit H, bonds perceived
        out.UpdatePropertyCache(strict=False)
        Chem.FastFindRings(out)
        out.SetProp("geometry", "xyz")
    _check_distances(out, component)
    return out


def net_charge(component: Component, mol: Chem.Mol) -> int:
    """Total charge (e): the formal charge of a SMILES, the file/library charge of an XYZ."""
    if component.smiles:
        return Chem.GetFormalCharge(mol)
    if component.charge is not None:
        return int(component.charge)
    return xyz_charge(dataset_dir() / component.structure_file)


def _embed_smiles(mol: Chem.Mol, component: Component) -> Chem.Mol:
    atom_maps: list[tuple[int, ...]] = []
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True, fragsMolAtomMapping=atom_maps)
    embedded = [_embed_fragment(frag, component) for frag in frags]
    coords = [xyz for xyz, _ in embedded]
    if len(frags) == 1:
        positions, geometry = coords[0], embedded[0][1]
    else:
        positions = np.zeros((mol.GetNumAtoms(), 3))
        for idx, xyz in zip(atom_maps, _assemble(frags, coords), strict=True):
            positions[list(idx)] = xyz
        positions, geometry = _relax_cluster(mol, positions, atom_maps, component)
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(positions):
        conf.SetAtomPosition(i, p.tolist())
    mol.RemoveAllConformers()
    mol.AddConformer(conf, assignId=True)
    mol.SetProp("geometry", geometry)
    mol.SetIntProp("n_fragments", len(frags))
    return mol


def _embed_fragment(frag: Chem.Mol, component: Component) -> tuple[np.ndarray, str]:
    """Coordinates (Å, centred) and relaxation method of one fragment."""
    frag = Chem.Mol(frag)
    for random_coords in (False, True):
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = EMBED_SEED
        params.numThreads = 1
        params.useRandomCoords = random_coords
        if rdDistGeom.EmbedMolecule(frag, params) >= 0:
            break
    else:
        raise StructureError(f"{component.kind} {component.name!r}: ETKDG cannot embed "
                             f"fragment {Chem.MolToSmiles(frag)!r}, even from random coordinates")
    if any(a.GetDegree() >= HYPERVALENT_DEGREE for a in frag.GetAtoms()):
        numbers = [a.GetAtomicNum() for a in frag.GetAtoms()]
        xyz = xtb.relax(numbers, frag.GetConformer().GetPositions(),
                        Chem.GetFormalCharge(frag), component.name)
        method = "GFN2-xTB"
    else:
        method = _relax(frag, interfragment=False)
        xyz = frag.GetConformer().GetPositions()
    return xyz - xyz.mean(axis=0), method


def _relax_cluster(mol: Chem.Mol, contact: np.ndarray, atom_maps: list[tuple[int, ...]],
                   component: Component) -> tuple[np.ndarray, str]:
    """Relax an assembled multi-fragment cluster: GFN2-xTB if small, else MMFF94 (directly or
    through :func:`_mmff_surrogate`), else keep the contact geometry. A relaxation that fails or
    leaves an inter-fragment clash falls back to the contact geometry."""
    relaxed, method = None, "contact"
    if mol.GetNumAtoms() <= XTB_CLUSTER_MAX_ATOMS:
        numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
        try:
            relaxed = xtb.relax(numbers, contact, Chem.GetFormalCharge(mol), component.name)
            method = "GFN2-xTB"
        except xtb.XTBError:
            relaxed = None
    elif (work := _mmff_surrogate(mol)) is not None:
        work.RemoveAllConformers()
        conf = Chem.Conformer(mol.GetNumAtoms())
        for i, p in enumerate(contact):
            conf.SetAtomPosition(i, p.tolist())
        work.AddConformer(conf, assignId=True)
        _relax(work, interfragment=True)
        relaxed, method = work.GetConformer().GetPositions(), "MMFF94"
    if relaxed is None or _interfragment_clash(mol, relaxed, atom_maps):
        return contact, "contact"
    return relaxed, method


def _mmff_surrogate(mol: Chem.Mol) -> Chem.Mol | None:
    """Copy of ``mol`` that MMFF94 can type, or None.

    MMFF94 has no four-coordinate borate/aluminate types, so for the *geometry* of a cluster
    B⁻ and Al⁻ with four neighbours are typed as their isoelectronic, likewise tetrahedral
    neighbours C and Si (the xTB calculation still uses B and Al).
    """
    work = Chem.RWMol(mol)
    for atom in work.GetAtoms():
        if atom.GetFormalCharge() == -1 and atom.GetDegree() == 4 and atom.GetSymbol() in (
                "B", "Al"):
            atom.SetAtomicNum(6 if atom.GetSymbol() == "B" else 14)
            atom.SetFormalCharge(0)
    work = work.GetMol()
    try:
        Chem.SanitizeMol(work)
    except (ValueError, RuntimeError):
        return None
    return work if ff_helpers.MMFFHasAllMoleculeParams(work) else None


def _relax(mol: Chem.Mol, interfragment: bool) -> str:
    """Minimize in place: MMFF94, else UFF (not for clusters), else nothing; return the method."""
    field, method = None, "ETKDG"
    if ff_helpers.MMFFHasAllMoleculeParams(mol):
        props = ff_helpers.MMFFGetMoleculeProperties(mol)
        props.SetMMFFVariant("MMFF94")
        field = ff_helpers.MMFFGetMoleculeForceField(
            mol, props, ignoreInterfragInteractions=not interfragment)
        method = "MMFF94"
    elif not interfragment and ff_helpers.UFFHasAllMoleculeParams(mol):
        field = ff_helpers.UFFGetMoleculeForceField(mol)
        method = "UFF"
    if field is None:
        return "ETKDG"
    field.Initialize()
    for _ in range(10):  # 10 × 1000 steps at most; not converging still improves the geometry
        if field.Minimize(maxIts=1000) == 0:
            break
    return method


def _fibonacci_directions(n: int) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (deterministic)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    r = np.sqrt(1.0 - z * z)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def _atom_table(frag: Chem.Mol) -> np.ndarray:
    """Per-atom columns: covalent radius, vdW radius (Å), placement charge (e), monatomic-cation
    flag, heavy-atom flag.

    The placement charge is the Gasteiger charge (so a cation is drawn to the donor O/N atoms
    of an anion, not to its formal-charge centre), or the formal charge when Gasteiger cannot
    type every atom of the fragment.
    """
    atoms = list(frag.GetAtoms())
    formal = np.array([a.GetFormalCharge() for a in atoms], dtype=float)
    try:
        charge, _ = partial_charges(frag, None)
    except ValueError:
        charge = formal
    return np.array([[_PT.GetRcovalent(a.GetAtomicNum()), _PT.GetRvdw(a.GetAtomicNum()),
                      q, len(atoms) == 1 and a.GetFormalCharge() > 0, a.GetAtomicNum() > 1]
                     for a, q in zip(atoms, charge, strict=True)], dtype=float)


def _contact_distances(cluster: np.ndarray, frag: np.ndarray) -> np.ndarray:
    """Closest allowed distance (Å) of every cluster atom (rows) to every fragment atom."""
    ionic = ((cluster[:, None, 3] > 0) | (frag[None, :, 3] > 0)) \
        & (cluster[:, None, 4] > 0) & (frag[None, :, 4] > 0)
    return np.where(ionic, cluster[:, None, 0] + frag[None, :, 0],
                    _CONTACT_VDW_SCALE * (cluster[:, None, 1] + frag[None, :, 1]))


def _coulomb(q_a: np.ndarray, xyz_a: np.ndarray, q_b: np.ndarray, xyz_b: np.ndarray) -> float:
    """Coulomb energy (e²/Å) between the placement charges of two atom sets."""
    ia, ib = np.flatnonzero(q_a), np.flatnonzero(q_b)
    if not len(ia) or not len(ib):
        return 0.0
    r = np.linalg.norm(xyz_a[ia][:, None, :] - xyz_b[ib][None, :, :], axis=-1)
    return float(np.sum(np.outer(q_a[ia], q_b[ib]) / r))


def _place_rigid(cl_xyz: np.ndarray, cl_tab: np.ndarray, xyz: np.ndarray,
                 tab: np.ndarray) -> np.ndarray:
    """Slide a polyatomic fragment in from each direction to first contact; keep the lowest
    Coulomb energy (ties: the most compact)."""
    contact = _contact_distances(cl_tab, tab)
    centre = cl_xyz.mean(axis=0)
    w = (xyz[None, :, :] + centre) - cl_xyz[:, None, :]  # (n_cluster, n_frag, 3)
    ww = np.einsum("ijk,ijk->ij", w, w)
    best: tuple[float, float, np.ndarray] | None = None
    for u in _fibonacci_directions(_N_DIRECTIONS):
        b = w @ u
        disc = b * b - (ww - contact**2)
        # pair (i, j) clashes for t in (-b - sqrt(disc), -b + sqrt(disc)): slide in from far
        t = max(0.0, float(np.max(np.where(disc > 0, -b + np.sqrt(np.abs(disc)), 0.0))))
        moved = xyz + centre + t * u
        key = (round(_coulomb(cl_tab[:, 2], cl_xyz, tab[:, 2], moved), 6), round(t, 6))
        if best is None or key < best[:2]:
            best = (*key, moved)
    return best[2]


def _place_atom(cl_xyz: np.ndarray, cl_tab: np.ndarray, tab: np.ndarray) -> np.ndarray:
    """Put a monatomic ion where it touches a cluster atom without clashing and the Coulomb
    energy is lowest (it can enter pockets, e.g. between ether arms); ties: nearest the
    centre."""
    contact = _contact_distances(cl_tab, tab)[:, 0]
    sphere = _fibonacci_directions(2 * _N_DIRECTIONS)
    cand = (cl_xyz[:, None, :] + contact[:, None, None] * sphere[None, :, :]).reshape(-1, 3)
    d = np.linalg.norm(cand[:, None, :] - cl_xyz[None, :, :], axis=-1)
    cand = cand[np.all(d >= contact[None, :] - 1e-6, axis=1)]
    charged = np.flatnonzero(cl_tab[:, 2])
    energy = np.zeros(len(cand))
    if len(charged) and tab[0, 2]:
        r = np.linalg.norm(cand[:, None, :] - cl_xyz[charged][None, :, :], axis=-1)
        energy = (cl_tab[charged, 2][None, :] * tab[0, 2] / r).sum(axis=1)
    spread = np.linalg.norm(cand - cl_xyz.mean(axis=0), axis=1)
    best = np.lexsort((np.round(spread, 6), np.round(energy, 6)))[0]
    return cand[best][None, :]


def _assembly_order(frags: tuple[Chem.Mol, ...]) -> list[int]:
    """Largest fragment first; then, greedily, a fragment whose charge opposes the cluster's net
    charge (highest |charge|, then largest), so every ion is placed next to counter-ions."""
    charge = [Chem.GetFormalCharge(f) for f in frags]
    size = [f.GetNumAtoms() for f in frags]
    left = sorted(range(len(frags)), key=lambda k: (-size[k], -abs(charge[k]), k))
    order = [left.pop(0)]
    while left:
        net = sum(charge[k] for k in order)
        opposite = [k for k in left if net * charge[k] < 0]
        pick = min(opposite, key=lambda k: (-abs(charge[k]), -size[k], k)) if opposite \
            else left[0]
        left.remove(pick)
        order.append(pick)
    return order


def _assemble(frags: tuple[Chem.Mol, ...], coords: list[np.ndarray]) -> list[np.ndarray]:
    """Contact-cluster coordinates of the fragments (input order); see the module docstring."""
    tables = [_atom_table(f) for f in frags]
    order = _assembly_order(frags)
    placed: dict[int, np.ndarray] = {order[0]: coords[order[0]]}
    for k in order[1:]:
        cl_xyz = np.vstack([placed[j] for j in placed])
        cl_tab = np.vstack([tables[j] for j in placed])
        if len(coords[k]) == 1:
            placed[k] = _place_atom(cl_xyz, cl_tab, tables[k])
        else:
            placed[k] = _place_rigid(cl_xyz, cl_tab, coords[k], tables[k])
    return [placed[k] for k in range(len(frags))]


def _interfragment_clash(mol: Chem.Mol, xyz: np.ndarray, atom_maps: list[tuple[int, ...]]) -> bool:
    rcov = np.array([_PT.GetRcovalent(a.GetAtomicNum()) for a in mol.GetAtoms()])
    frag_of = np.empty(mol.GetNumAtoms(), dtype=int)
    for f, idx in enumerate(atom_maps):
        frag_of[list(idx)] = f
    d = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    other = frag_of[:, None] != frag_of[None, :]
    return bool(np.any(other & (d < _MIN_INTERFRAGMENT * (rcov[:, None] + rcov[None, :]))))


def _check_distances(mol: Chem.Mol, component: Component) -> None:
    xyz = mol.GetConformer().GetPositions()
    if not np.all(np.isfinite(xyz)):
        raise StructureError(f"{component.kind} {component.name!r}: non-finite coordinates")
    if len(xyz) > 1:
        d = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
        d[np.diag_indices_from(d)] = np.inf
        if d.min() < _MIN_DISTANCE:
            raise StructureError(f"{component.kind} {component.name!r}: two atoms are "
                                 f"{d.min():.2f} Å apart in the embedded structure")
