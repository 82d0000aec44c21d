"""Atomic partial charges of a molecule: Gasteiger, or GFN2-xTB charges where Gasteiger fails."""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def partial_charges(mol: Chem.Mol, xtb_charges: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """Gasteiger charges (e) of all atoms, or the xTB charges when Gasteiger cannot type one.

    Returns ``(charges, from_xtb)``. Raises ValueError if Gasteiger fails and no xTB charges
    were given: a missing charge is never replaced by 0.
    """
    work = Chem.Mol(mol)
    try:
        AllChem.ComputeGasteigerCharges(work, nIter=12, throwOnParamFailure=False)
        q = np.array([a.GetDoubleProp("_GasteigerCharge") for a in work.GetAtoms()])
    except (RuntimeError, ValueError, KeyError):
        q = np.full(mol.GetNumAtoms(), np.nan)
    if np.all(np.isfinite(q)):
        return q, False
    if xtb_charges is None or len(xtb_charges) != mol.GetNumAtoms():
        raise ValueError("Gasteiger charges undefined for some atoms and no xTB charges given")
    return np.asarray(xtb_charges, dtype=float), True
