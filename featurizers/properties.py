"""Tabulated solvent/additive properties (``datasets/properties.csv``) as feature blocks.

:class:`SolventPropertyFeaturizer` looks a resolved solvent-library component up in the cited
property table (its card: ``datasets/properties.md``) and returns, per property, the median of
the tabulated values (sources that differ are all kept there) and a flag saying whether any
value exists:

=========================  =========  ===========================================================
label                      unit       meaning
=========================  =========  ===========================================================
donor_number               kcal/mol   Gutmann donor number (Lewis basicity toward a cation)
acceptor_number                       Gutmann–Mayer acceptor number
dielectric_constant                   static relative permittivity of the pure liquid
viscosity_mPa_s            mPa s      dynamic viscosity of the pure liquid
boiling_point_C            degC       normal boiling point
has_<property>                        1 if the table has a value for the component, else 0
=========================  =========  ===========================================================

A component without a value (a SMILES not in the library, a salt additive, a name the table
lacks) gets NaN for the value and 0 for its flag: the imputation the models apply later is
visible in the flag. Polymer rows whose notes start with ``ANALOGUE:`` stand for the polymer's
repeat unit and are used as given (the card says which). The blocks ``solvent_props``
(ratio-weighted over a solvent mixture) and ``additive_props`` register below.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from featurizers.base import ComponentFeaturizer
from featurizers.blocks import BlockSpec, register_block
from screen.data.components import Component
from screen.data.paths import dataset_dir
from screen.data.schema import ComponentKind

PROPERTIES_FILE = "properties.csv"
PROPERTIES: tuple[str, ...] = ("donor_number", "acceptor_number", "dielectric_constant",
                               "viscosity_mPa_s", "boiling_point_C")
UNITS = {"donor_number": "kcal/mol", "viscosity_mPa_s": "mPa s", "boiling_point_C": "degC"}


@lru_cache(maxsize=4)
def property_table(path: str | None = None) -> tuple[pd.DataFrame, str]:
    """(component × property table of medians, sha256 of the file) of the cited table."""
    file = dataset_dir() / PROPERTIES_FILE if path is None else path
    data = Path(file).read_bytes()
    raw = pd.read_csv(file, dtype={"component": str, "property": str})
    raw = raw[raw["property"].isin(PROPERTIES)]
    medians = raw.groupby(["component", "property"])["value"].median().unstack()
    return medians.reindex(columns=list(PROPERTIES)), hashlib.sha256(data).hexdigest()[:12]


class SolventPropertyFeaturizer(ComponentFeaturizer):
    """Tabulated properties of solvents and additives (see the module docstring)."""

    kind: ClassVar[ComponentKind] = "solvent"
    name: ClassVar[str] = "solvent_props"

    @property
    def version(self) -> str:  # type: ignore[override]
        """Changes with the property table, so edited values never come from the cache."""
        return f"1:{property_table()[1]}"

    def featurize(self, component: Component) -> np.ndarray:
        table, _ = property_table()
        values = (table.loc[component.name].to_numpy(float)
                  if component.in_library and component.name in table.index
                  else np.full(len(PROPERTIES), np.nan))
        return np.concatenate([values, np.isfinite(values).astype(float)])

    def feature_labels(self) -> list[str]:
        return [*PROPERTIES, *(f"has_{p}" for p in PROPERTIES)]

    def feature_units(self) -> dict[str, str]:
        return {label: UNITS.get(label, "") for label in self.feature_labels()}

    def citations(self) -> list[str]:
        return ["""@article{gutmann1976,
  author = {Gutmann, V.},
  journal = {Coord. Chem. Rev.},
  year = {1976},
  volume = {18},
  pages = {225},
  doi = {10.1016/S0010-8545(00)82045-7},
  note = {donor and acceptor numbers, Tables 1-2}
}""", "every other value: the source named on its row of datasets/properties.csv"]


register_block(BlockSpec("solvent_props", "solvent", SolventPropertyFeaturizer,
                         combine="mixture", ratio_column="solvent_ratio", order=22))
register_block(BlockSpec("additive_props", "additive", SolventPropertyFeaturizer,
                         combine="additive", order=32))
