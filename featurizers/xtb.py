"""GFN2-xTB single points through tblite, for the molecular featurizers.

Method: GFN2-xTB (tblite's defaults: electronic temperature 300 K, SCF accuracy 1, at most 250
iterations), gas phase, on the geometry of :func:`featurizers.geometry.embed`. Coordinates are
shifted so that the centre of mass is at the origin (the dipole of an ion depends on the
origin; it is reported about the centre of mass) and converted to Bohr. Total charge = the
component's formal charge. Spin: closed shell unless the electron count is odd, then one
unpaired electron (``uhf=1``); high-spin ions (e.g. Cr³⁺ in CrCl3) are therefore treated as
doublets — a known limitation.

Frontier orbitals. tblite fills orbitals with Fermi smearing, so occupations can be fractional
when orbitals near the Fermi level are (near-)degenerate. The HOMO is taken as the orbital
that holds the N-th electron under aufbau filling of the energy-sorted orbitals, i.e. index
ceil(N/2) − 1 with N the (integer) sum of the occupations; the LUMO is the next orbital. For a
closed shell this is the highest orbital with occupation > 1, for a doublet the singly
occupied orbital; unlike an occupation threshold it cannot jump when smearing splits a
degenerate pair. Gap = LUMO − HOMO.

Outputs (:class:`XTBResult`): HOMO, LUMO and gap in eV; dipole magnitude in Debye (tblite gives
e·Bohr); Mulliken atomic charges in e (most negative, most positive). A failed SCF raises
:class:`XTBError` naming the component — never zeros. The calculation runs with one OpenMP
thread (``threadpoolctl``), so the numbers do not depend on ``OMP_NUM_THREADS``.

Implicit solvation (optional, off by default): ``solvent="thf"`` (any solvent name tblite knows)
adds tblite's parametrized ALPB model (analytical linearized Poisson–Boltzmann, with its
CDS and empirical shift terms) to :func:`singlepoint`, :func:`relax` and :func:`energy`.
Without it every calculation is the gas-phase one described above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Bohr radius in Å (CODATA 2014, as in the brief).
BOHR_A = 0.52917721067
#: Hartree in eV (CODATA 2018).
HARTREE_EV = 27.211386245988
#: e·Bohr in Debye.
EBOHR_DEBYE = 2.541746473
#: Iteration limit of :func:`relax`.
RELAX_MAX_STEPS = 300
#: Convergence of :func:`relax`: largest gradient component (Eh/Bohr).
RELAX_GTOL = 1e-3

GFN2_BIB = """@article{bannwarth2019gfn2,
  author = {Bannwarth, Christoph and Ehlert, Sebastian and Grimme, Stefan},
  title = {{GFN2-xTB} -- An Accurate and Broadly Parametrized Self-Consistent Tight-Binding
           Quantum Chemical Method with Multipole Electrostatics and Density-Dependent
           Dispersion Contributions},
  journal = {J. Chem. Theory Comput.},
  year = {2019},
  volume = {15},
  number = {3},
  pages = {1652--1671},
  doi = {10.1021/acs.jctc.8b01176}
}"""
TBLITE_BIB = """@software{tblite,
  author = {Ehlert, Sebastian and others},
  title = {tblite: Light-weight tight-binding framework},
  url = {https://github.com/tblite/tblite},
  note = {Python interface, version 0.8}
}"""


class XTBError(RuntimeError):
    """A GFN2-xTB calculation failed; the message names the component and the reason."""


@dataclass(frozen=True)
class XTBResult:
    """Results of one GFN2-xTB single point (units in the field names' docstrings)."""

    homo_eV: float
    lumo_eV: float
    dipole_D: float
    charges: np.ndarray  # Mulliken atomic charges (e), in atom order
    energy_Eh: float
    n_electrons: int
    uhf: int

    @property
    def gap_eV(self) -> float:
        """LUMO − HOMO (eV)."""
        return self.lumo_eV - self.homo_eV

    @property
    def q_min(self) -> float:
        """Most negative atomic charge (e)."""
        return float(self.charges.min())

    @property
    def q_max(self) -> float:
        """Most positive atomic charge (e)."""
        return float(self.charges.max())


def frontier_orbitals(energies: np.ndarray, occupations: np.ndarray) -> tuple[float, float, int]:
    """HOMO and LUMO energies (input units) and electron count; see the module docstring."""
    energies = np.asarray(energies, dtype=float)
    occupations = np.asarray(occupations, dtype=float)
    if energies.ndim != 1 or energies.shape != occupations.shape:
        raise ValueError(f"unexpected orbital arrays {energies.shape} / {occupations.shape}")
    total = float(occupations.sum())
    n_el = round(total)
    if abs(total - n_el) > 1e-4:
        raise ValueError(f"orbital occupations sum to {total:.6f}, not an integer")
    order = np.argsort(energies, kind="stable")
    h = math.ceil(n_el / 2) - 1
    if h < 0 or h + 1 >= len(energies):
        raise ValueError(f"{n_el} electrons in {len(energies)} orbitals: no HOMO/LUMO pair")
    return float(energies[order[h]]), float(energies[order[h + 1]]), n_el


def singlepoint(numbers: np.ndarray, positions_A: np.ndarray, charge: int, name: str,
                masses: np.ndarray | None = None, solvent: str | None = None) -> XTBResult:
    """GFN2-xTB single point of one structure.

    ``numbers``: atomic numbers; ``positions_A``: (n, 3) Cartesian coordinates in Å;
    ``charge``: total charge (e); ``name``: used in error messages; ``masses`` (amu) set the
    centre of mass (default: geometric centre); ``solvent``: ALPB solvent name (default: gas
    phase). Raises :class:`XTBError`.
    """
    from tblite.interface import Calculator
    from threadpoolctl import threadpool_limits

    numbers = np.asarray(numbers, dtype=int)
    xyz = np.asarray(positions_A, dtype=float)
    weights = np.ones(len(numbers)) if masses is None else np.asarray(masses, dtype=float)
    xyz = xyz - (weights[:, None] * xyz).sum(axis=0) / weights.sum()
    uhf = int((int(numbers.sum()) - charge) % 2)
    try:
        with threadpool_limits(limits=1):
            calc = Calculator("GFN2-xTB", numbers, xyz / BOHR_A, charge=float(charge), uhf=uhf)
            calc.set("verbosity", 0)
            if solvent is not None:
                calc.add("alpb-solvation", solvent)
            res = calc.singlepoint()
        energies = np.asarray(res.get("orbital-energies"))
        occupations = np.asarray(res.get("orbital-occupations"))
        charges = np.asarray(res.get("charges"), dtype=float)
        dipole = np.asarray(res.get("dipole"), dtype=float)
        energy = float(res.get("energy"))
        homo, lumo, n_el = frontier_orbitals(energies, occupations)
    except Exception as exc:  # tblite raises TBLiteRuntimeError/ValueError variants
        raise XTBError(f"GFN2-xTB failed for {name!r} (charge {charge:+d}, uhf {uhf}): "
                       f"{exc}") from exc
    values = np.concatenate([[homo, lumo, energy], dipole, charges])
    if not np.all(np.isfinite(values)):
        raise XTBError(f"GFN2-xTB gave non-finite results for {name!r}")
    return XTBResult(homo_eV=homo * HARTREE_EV, lumo_eV=lumo * HARTREE_EV,
                     dipole_D=float(np.linalg.norm(dipole)) * EBOHR_DEBYE, charges=charges,
                     energy_Eh=energy, n_electrons=n_el, uhf=uhf)


def relax(numbers: np.ndarray, positions_A: np.ndarray, charge: int, name: str,
          max_steps: int = RELAX_MAX_STEPS, solvent: str | None = None,
          max_scf: int | None = None, free: np.ndarray | None = None) -> np.ndarray:
    """GFN2-xTB geometry relaxation; positions in Å in and out.

    L-BFGS until the largest gradient component is below :data:`RELAX_GTOL` (Eh/Bohr) or
    ``max_steps`` iterations; each SCF restarts from the previous wavefunction. Used only where
    no force field describes a structure (see :mod:`featurizers.molecule`) and for the Mg²⁺
    clusters of :mod:`featurizers.redox`. ``solvent``: ALPB solvent name (default: gas phase);
    ``max_scf``: SCF iteration limit (default: tblite's, 250); ``free``: indices of the atoms
    that move (default: all), the others keep their positions. Raises :class:`XTBError` if an
    SCF fails.
    """
    from scipy.optimize import minimize
    from tblite.interface import Calculator
    from threadpoolctl import threadpool_limits

    numbers = np.asarray(numbers, dtype=int)
    x0 = np.asarray(positions_A, dtype=float) / BOHR_A
    uhf = int((int(numbers.sum()) - charge) % 2)
    try:
        with threadpool_limits(limits=1):
            calc = Calculator("GFN2-xTB", numbers, x0, charge=float(charge), uhf=uhf)
            calc.set("verbosity", 0)
            if max_scf is not None:
                calc.set("max-iter", int(max_scf))
            if solvent is not None:
                calc.add("alpb-solvation", solvent)

            state: dict[str, object] = {}

            def energy_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
                calc.update(x.reshape(-1, 3))
                res = calc.singlepoint(state.get("res"))  # restart from the last wavefunction
                state["res"] = res
                return float(res.get("energy")), np.asarray(res.get("gradient")).ravel()

            if free is None:
                out = minimize(energy_gradient, x0.ravel(), jac=True, method="L-BFGS-B",
                               options={"maxiter": max_steps, "gtol": RELAX_GTOL})
                return out.x.reshape(-1, 3) * BOHR_A
            moving = np.asarray(free, dtype=int)

            def partial(x: np.ndarray) -> tuple[float, np.ndarray]:
                full = x0.copy()
                full[moving] = x.reshape(-1, 3)
                value, grad = energy_gradient(full.ravel())
                return value, grad.reshape(-1, 3)[moving].ravel()

            out = minimize(partial, x0[moving].ravel(), jac=True, method="L-BFGS-B",
                           options={"maxiter": max_steps, "gtol": RELAX_GTOL})
            final = np.array(positions_A, dtype=float)  # frozen atoms: exactly as given
            final[moving] = out.x.reshape(-1, 3) * BOHR_A
            return final
    except Exception as exc:  # tblite raises TBLiteRuntimeError/ValueError variants
        raise XTBError(f"GFN2-xTB relaxation failed for {name!r} (charge {charge:+d}): "
                       f"{exc}") from exc


def energy(numbers: np.ndarray, positions_A: np.ndarray, charge: int, name: str,
           solvent: str | None = None, max_scf: int | None = None) -> float:
    """GFN2-xTB total energy (Eh) of one structure, nothing else.

    Unlike :func:`singlepoint` it needs no HOMO/LUMO pair, so it also works for a bare ion
    without valence electrons (Mg²⁺). Spin as in :func:`singlepoint`; ``solvent``: ALPB
    solvent name (default: gas phase); ``max_scf``: SCF iteration limit (default: tblite's,
    250). Raises :class:`XTBError` (also for a non-finite energy).
    """
    from tblite.interface import Calculator
    from threadpoolctl import threadpool_limits

    numbers = np.asarray(numbers, dtype=int)
    xyz = np.asarray(positions_A, dtype=float)
    uhf = int((int(numbers.sum()) - charge) % 2)
    try:
        with threadpool_limits(limits=1):
            calc = Calculator("GFN2-xTB", numbers, xyz / BOHR_A, charge=float(charge), uhf=uhf)
            calc.set("verbosity", 0)
            if max_scf is not None:
                calc.set("max-iter", int(max_scf))
            if solvent is not None:
                calc.add("alpb-solvation", solvent)
            value = float(calc.singlepoint().get("energy"))
    except Exception as exc:  # tblite raises TBLiteRuntimeError/ValueError variants
        raise XTBError(f"GFN2-xTB failed for {name!r} (charge {charge:+d}, uhf {uhf}): "
                       f"{exc}") from exc
    if not math.isfinite(value):
        raise XTBError(f"GFN2-xTB gave a non-finite energy for {name!r}")
    return value


def singlepoint_mol(mol, charge: int, name: str) -> XTBResult:
    """:func:`singlepoint` of an RDKit molecule with one conformer (explicit H)."""
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    masses = np.array([a.GetMass() for a in mol.GetAtoms()])
    return singlepoint(numbers, mol.GetConformer().GetPositions(), charge, name, masses)
