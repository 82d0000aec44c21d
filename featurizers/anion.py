"""Anion featurizer: RDKit descriptors, GFN2-xTB frontier orbitals and charge delocalization.

:class:`AnionFeaturizer` turns one resolved anion (SMILES, or an XYZ cluster such as the
closo-carboranes) into 30 numbers, in this order (``get_feature_names_out()`` prefixes them with
``anion__``). Structure and methods: :mod:`featurizers.molecule` (geometry, descriptors) and
:mod:`featurizers.xtb` (GFN2-xTB, gas phase, isolated anion).

=========================  ==========  ========================================================
label                      unit        meaning
=========================  ==========  ========================================================
n_heavy                                heavy (non-H) atoms
mw_g_mol                   g/mol       molar mass
volume_A3                  angstrom^3  van der Waals volume of the 3-D structure
n_F, n_Cl, n_Br, n_I                   halogen atoms
n_B, n_Al, n_S, n_P,                   atoms of these elements
n_N, n_O
n_coord_O                              O whose lone pairs can reach a cation (charge ≤ 0, not
                                       aromatic, not bonded to B/Al/metal): sulfonyl, alkoxide,
                                       ether O; not the B–O–C / Al–O–C oxygens of borates and
                                       aluminates
n_coord_N                              N with a free lone pair (anionic N, amine, pyridine-type)
tpsa_A2                    angstrom^2  topological polar surface area (N, O)
n_rot_bonds                            rotatable bonds
charge_spread_e            e           max − min atomic partial charge (Gasteiger, else xTB)
charge_std_e               e           standard deviation of the atomic partial charges
charges_from_xtb                       1 if the two charge columns are GFN2-xTB charges
                                       because Gasteiger cannot type an atom (B, Al, carborane)
formal_charge_e            e           total charge of the anion (−1, −2)
homo_eV                    eV          GFN2-xTB HOMO energy (lower: harder to oxidize)
lumo_eV                    eV          GFN2-xTB LUMO energy (lower: easier to reduce)
gap_eV                     eV          LUMO − HOMO
dipole_D                   debye       dipole magnitude about the centre of mass
q_min_e                    e           most negative GFN2-xTB (Mulliken) atomic charge
q_max_e                    e           most positive GFN2-xTB atomic charge
charge_per_heavy_atom_e    e           |total charge| / heavy atoms (charge density of the
                                       formula; small for large weakly coordinating anions)
neg_fraction_on_min_atom               q_min / (sum of the negative xTB charges): share of the
                                       negative charge on the most negative atom (1 = all on
                                       one atom as in Cl⁻; small = delocalized)
n_eff_negative_atoms                   participation number of the negative xTB charges,
                                       (Σ q⁻)² / Σ (q⁻)² with q⁻ = min(q, 0): the effective
                                       number of atoms sharing the negative charge
=========================  ==========  ========================================================

Gas-phase orbital energies of anions are shifted up by the excess charge (a LUMO above 0 eV is
normal); compare anions of the same charge. Citations: :meth:`AnionFeaturizer.citations`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from featurizers.blocks import BlockSpec, register_block
from featurizers.molecule import (
    DESCRIPTOR_LABELS,
    DESCRIPTOR_UNITS,
    XTB_LABELS,
    XTB_UNITS,
    MolecularData,
    MolecularFeaturizer,
    xtb_values,
)
from screen.data.components import Component
from screen.data.schema import ComponentKind

DELOCALIZATION_LABELS: tuple[str, ...] = (
    "charge_per_heavy_atom_e", "neg_fraction_on_min_atom", "n_eff_negative_atoms")
LABELS: tuple[str, ...] = (*DESCRIPTOR_LABELS, "formal_charge_e", *XTB_LABELS,
                           *DELOCALIZATION_LABELS)
UNITS: dict[str, str] = {
    **DESCRIPTOR_UNITS, **XTB_UNITS, "formal_charge_e": "e",
    "charge_per_heavy_atom_e": "e", "neg_fraction_on_min_atom": "",
    "n_eff_negative_atoms": "",
}


def delocalization(charges: np.ndarray, total_charge: int, n_heavy: int) -> dict[str, float]:
    """Charge-delocalization descriptors of :data:`DELOCALIZATION_LABELS` (see module doc)."""
    neg = np.minimum(np.asarray(charges, dtype=float), 0.0)
    if not neg.any():
        raise ValueError("no atom carries a negative xTB charge")
    return {
        "charge_per_heavy_atom_e": abs(total_charge) / max(n_heavy, 1),
        "neg_fraction_on_min_atom": float(neg.min() / neg.sum()),
        "n_eff_negative_atoms": float(neg.sum() ** 2 / np.sum(neg**2)),
    }


class AnionFeaturizer(MolecularFeaturizer):
    """Features of salt anions (see the module docstring for the list and units)."""

    kind: ClassVar[ComponentKind] = "anion"
    name: ClassVar[str] = "anion"
    version: ClassVar[str] = "1"
    labels = LABELS
    units = UNITS

    def values(self, component: Component, data: MolecularData) -> dict[str, float]:
        """Descriptors, formal charge, xTB values and charge delocalization of one anion."""
        return {**data.descriptors, "formal_charge_e": float(data.charge),
                **xtb_values(data.xtb),
                **delocalization(data.xtb.charges, data.charge,
                                 int(data.descriptors["n_heavy"]))}


register_block(BlockSpec("anion", "anion", AnionFeaturizer, combine="single", order=10))
