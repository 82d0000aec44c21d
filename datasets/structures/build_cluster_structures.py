#!/usr/bin/env python
"""Build relaxed XYZ structures for the cluster anions of the mgscreen library.

Anions built (closo 12-vertex icosahedral cages, charge -1):
  CB11H12   closo-1-carba-dodecaborate, [HCB11H11]- (H on every vertex)
  FCB11H11  1-fluoro-1-carba-closo-dodecaborate, F on the carbon vertex, H on the 11 B

Procedure (deterministic):
  1. ideal icosahedron (vertices (0,+-1,+-phi) and cyclic permutations) scaled so the
     cage edge is 1.77 A; vertex 0 is the carbon atom;
  2. one exo substituent per vertex placed radially: B-H 1.19 A, C-H 1.10 A, C-F 1.36 A;
  3. relaxation with GFN2-xTB (tblite ASE calculator, total charge -1, closed shell)
     using ase.optimize.BFGS to fmax = 0.01 eV/A;
  4. sanity check: every cage-cage contact (B-B, C-B edges) within 1.6-2.0 A, every cage
     atom carries exactly one exo H/F, 30 cage edges;
  5. write <name>.xyz beside this script with the charge in the comment line.

Run:  python datasets/structures/build_cluster_structures.py  (needs: pip install ase)
Requires: numpy, ase, tblite (python bindings).
"""
import os
import sys

# single-threaded numerics so that repeated runs give identical files
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.optimize import BFGS  # noqa: E402
from tblite.ase import TBLite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = HERE  # this script lives in datasets/structures/

EDGE = 1.77          # initial cage edge length, A
EXO = {("B", "H"): 1.19, ("C", "H"): 1.10, ("C", "F"): 1.36}
FMAX = 0.01          # eV/A


def icosahedron(edge):
    phi = (1.0 + 5 ** 0.5) / 2.0
    v = []
    for s1 in (1, -1):
        for s2 in (1, -1):
            v.append((0.0, s1 * 1.0, s2 * phi))
            v.append((s1 * 1.0, s2 * phi, 0.0))
            v.append((s2 * phi, 0.0, s1 * 1.0))
    v = np.array(v, dtype=float)
    # ideal edge for this vertex set is 2.0
    v *= edge / 2.0
    # put vertex with largest z first (carbon position), deterministic order
    order = np.lexsort((v[:, 0], v[:, 1], -v[:, 2]))
    return v[order]


def build(cage_atoms_exo):
    """cage_atoms_exo: list of (cage_symbol, exo_symbol) for 12 vertices."""
    verts = icosahedron(EDGE)
    symbols, pos = [], []
    for (cs, _), r in zip(cage_atoms_exo, verts, strict=True):
        symbols.append(cs)
        pos.append(r)
    for (cs, xs), r in zip(cage_atoms_exo, verts, strict=True):
        u = r / np.linalg.norm(r)
        symbols.append(xs)
        pos.append(r + u * EXO[(cs, xs)])
    return Atoms(symbols=symbols, positions=np.array(pos))


def check(atoms):
    sym = atoms.get_chemical_symbols()
    d = atoms.get_all_distances()
    cage = [i for i, s in enumerate(sym) if s in ("B", "C")]
    exo = [i for i, s in enumerate(sym) if s in ("H", "F")]
    edges = []
    for a in range(len(cage)):
        for b in range(a + 1, len(cage)):
            i, j = cage[a], cage[b]
            if d[i, j] < 2.2:
                edges.append(d[i, j])
    problems = []
    if len(edges) != 30:
        problems.append(f"expected 30 cage edges, found {len(edges)}")
    if edges and (min(edges) < 1.6 or max(edges) > 2.0):
        problems.append(f"cage edge out of 1.6-2.0 A: {min(edges):.3f}-{max(edges):.3f}")
    for i in cage:
        n = [j for j in exo if d[i, j] < 1.6]
        if len(n) != 1:
            problems.append(f"cage atom {i}{sym[i]} has {len(n)} exo neighbours")
    for j in exo:
        n = [i for i in cage if d[i, j] < 1.6]
        if len(n) != 1:
            problems.append(f"exo atom {j}{sym[j]} bonded to {len(n)} cage atoms")
    return problems, (min(edges), max(edges)) if edges else (None, None)


def relax(atoms, charge):
    atoms.calc = TBLite(method="GFN2-xTB", charge=charge, multiplicity=1, verbosity=0)
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=FMAX, steps=2000)
    f = np.abs(atoms.get_forces()).max()
    return atoms, atoms.get_potential_energy(), f


def write_xyz(path, atoms, comment):
    with open(path, "w") as fh:
        fh.write(f"{len(atoms)}\n{comment}\n")
        for s, p in zip(atoms.get_chemical_symbols(), atoms.get_positions(), strict=True):
            p = np.round(p, 6) + 0.0  # avoid "-0.000000"
            fh.write(f"{s:2s} {p[0]:12.6f} {p[1]:12.6f} {p[2]:12.6f}\n")


SPECS = {
    "CB11H12": dict(charge=-1, vertices=[("C", "H")] + [("B", "H")] * 11,
                    label="CB11H12- (closo-1-carba-dodecaborate, [HCB11H11]-)"),
    "FCB11H11": dict(charge=-1, vertices=[("C", "F")] + [("B", "H")] * 11,
                     label="FCB11H11- (1-fluoro-1-carba-closo-dodecaborate, F on C)"),
}


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    ok = True
    for name, spec in SPECS.items():
        atoms = build(spec["vertices"])
        atoms, e, fmax = relax(atoms, spec["charge"])
        problems, (emin, emax) = check(atoms)
        comment = (f"charge={spec['charge']} {spec['label']} relaxed GFN2-xTB (tblite) "
                   f"BFGS fmax {FMAX} eV/A; E={e:.6f} eV")
        path = os.path.join(OUTDIR, f"{name}.xyz")
        write_xyz(path, atoms, comment)
        status = "OK" if not problems else "PROBLEM: " + "; ".join(problems)
        print(f"{name}: E={e:.4f} eV, max|F|={fmax:.4f} eV/A, cage edges "
              f"{emin:.3f}-{emax:.3f} A -> {status} ({path})")
        ok &= not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
