"""System featurizer: one float32 feature row per (system, test condition).

Input is a DataFrame in the ``interfaces.csv`` system schema. Every component column is
featurized per *unique* value (``pd.factorize`` + the cached component featurizers) and joined
back by index, so the cost grows with the number of distinct components, not rows.

Blocks, in output order (names are ``<block>__<feature>``):

- ``anion__*`` — :class:`~featurizers.anion.AnionFeaturizer` of ``anion``.
- ``solvent__*`` — :class:`~featurizers.solvent.SolventFeaturizer` of each solvent, averaged
  with weights from ``solvent_ratio`` (parts normalized to sum 1; a blank ratio means equal
  parts). Sources mostly give volume ratios; without densities they are used as given.
  ``system__n_solvents`` counts the solvents.
- ``additive__*`` — the solvent/additive featurizer of ``additive`` (mean over several). For
  ``none`` the block is 0 and ``system__additive_present`` is 0; for a blank (unknown) additive
  both are NaN.
- ``coating__*`` — :class:`~featurizers.coating.CoatingFeaturizer` of ``coating`` (``none`` is a
  first-class value there).
- ``system__*`` — numbers and flags:
  ``salt_conc_M`` (mol/L), ``additive_conc_M`` (mol/L; 0 when additive is none),
  ``coating_thickness_um`` (µm; 0 for bare metal), ``current_density_mA_cm2`` and
  ``log10_current_density`` (log10 of mA cm^-2), ``areal_capacity_mAh_cm2``, ``temperature_C``,
  ``chloride_present`` (1 if the anion or an additive contains Cl), ``metal_is_Ca``,
  ``metal_ionic_radius_A`` (Shannon radius of M2+ from pymatgen, Å), ``metal_charge_density``
  (2 e / (4/3 π r³), e Å^-3), and one-hot ``cell_<type>`` over the schema's cell types
  (all 0 when blank).

Unknown (blank) values stay NaN; they are never replaced by 0 unless the text above says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from featurizers.base import ComponentFeaturizer, FeaturizationError, OnError
from screen.components import ComponentLibrary, is_none
from screen.schema import CELL_TYPES, METALS

Progress = Callable[[str], None]
#: Columns a system table must have (others are optional and treated as blank when absent).
REQUIRED_COLUMNS = ("metal", "anion", "solvent", "coating")
NUMERIC_INPUTS = ("salt_conc_M", "additive_conc_M", "coating_thickness_um",
                  "current_density_mA_cm2", "areal_capacity_mAh_cm2", "temperature_C")
SYSTEM_FEATURES = (
    "n_solvents", "additive_present", "salt_conc_M", "additive_conc_M", "coating_thickness_um",
    "current_density_mA_cm2", "log10_current_density", "areal_capacity_mAh_cm2",
    "temperature_C", "chloride_present", "metal_is_Ca", "metal_ionic_radius_A",
    "metal_charge_density", *(f"cell_{c}" for c in CELL_TYPES),
)
SYSTEM_UNITS = {
    "salt_conc_M": "mol/L", "additive_conc_M": "mol/L", "coating_thickness_um": "um",
    "current_density_mA_cm2": "mA/cm2", "log10_current_density": "log10(mA/cm2)",
    "areal_capacity_mAh_cm2": "mAh/cm2", "temperature_C": "degC",
    "metal_ionic_radius_A": "angstrom", "metal_charge_density": "e/angstrom3",
}


def metal_descriptors(metal: str) -> tuple[float, float]:
    """(Shannon ionic radius of M2+ in Å from pymatgen, charge density 2/(4/3 π r³) e Å^-3)."""
    from pymatgen.core import Species

    radius = float(Species(metal, 2).ionic_radius)
    return radius, 2.0 / (4.0 / 3.0 * math.pi * radius**3)


def parse_ratio(ratio: str | float | None, n: int) -> np.ndarray:
    """Weights (sum 1) of ``n`` solvents from a ratio like ``'1:2'``; equal when blank."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)) or not str(ratio).strip():
        return np.full(n, 1.0 / n)
    parts = np.array([float(p) for p in str(ratio).split(":")])
    if len(parts) != n or (parts <= 0).any():
        raise FeaturizationError(f"solvent_ratio {ratio!r} does not give {n} positive parts")
    return parts / parts.sum()


class SystemFeaturizer(TransformerMixin, BaseEstimator):
    """Feature matrix (float32) of systems; see the module docstring for the blocks.

    Parameters are passed to the component featurizers (``library``, ``cache_dir``,
    ``use_cache``, ``on_error``). After ``transform``, ``errors_`` maps failed components to
    the reason (only with ``on_error='nan'``).
    """

    def __init__(self, library: ComponentLibrary | None = None, cache_dir: str | None = None,
                 use_cache: bool = True, on_error: OnError = "raise"):
        self.library = library
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.on_error = on_error

    def _component_featurizers(self) -> dict[str, ComponentFeaturizer]:
        from featurizers.anion import AnionFeaturizer
        from featurizers.coating import CoatingFeaturizer
        from featurizers.solvent import SolventFeaturizer

        kwargs = dict(library=self.library_, cache_dir=self.cache_dir,
                      use_cache=self.use_cache, on_error=self.on_error)
        solvent = SolventFeaturizer(**kwargs).fit()
        return {"anion": AnionFeaturizer(**kwargs).fit(), "solvent": solvent,
                "additive": solvent, "coating": CoatingFeaturizer(**kwargs).fit()}

    def fit(self, X=None, y=None):
        """Load the library and the component featurizers; nothing is learned from X."""
        self.library_ = self.library if self.library is not None else ComponentLibrary.load()
        self.featurizers_ = self._component_featurizers()
        names = []
        for block in ("anion", "solvent", "additive", "coating"):
            labels = self.featurizers_[block].feature_labels()
            names += [f"{block}__{label}" for label in labels]
        names += [f"system__{label}" for label in SYSTEM_FEATURES]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.errors_: dict[str, str] = {}
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns (``<block>__<feature>``)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Feature matrix (n_rows, n_features), float32."""
        return self.featurize_frame(X)

    def featurize_frame(self, X: pd.DataFrame, progress: Progress | None = None) -> np.ndarray:
        """:meth:`transform` with a ``progress(block_name)`` callback after each block."""
        check_is_fitted(self, "feature_names_out_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("SystemFeaturizer needs a pandas DataFrame in the interfaces schema")
        missing = [c for c in REQUIRED_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"missing required column(s) {', '.join(missing)}; a system table "
                             f"needs {', '.join(REQUIRED_COLUMNS)}")
        self.errors_ = {}
        n = len(X)
        out = np.empty((n, len(self.feature_names_out_)), dtype=np.float32)
        col = 0
        anion = self._single_block("anion", X["anion"])
        col = self._put(out, col, anion, progress, "anion")
        solvent, n_solvents = self._solvent_block(X)
        col = self._put(out, col, solvent, progress, "solvent")
        additive, present = self._additive_block(X.get("additive"), n)
        col = self._put(out, col, additive, progress, "additive")
        coating = self._single_block("coating", X["coating"])
        col = self._put(out, col, coating, progress, "coating")
        system = self._system_block(X, present, n_solvents)
        col = self._put(out, col, system, progress, "conditions")
        for featurizer in self.featurizers_.values():
            self.errors_.update(featurizer.errors_)
        return out

    # ------------------------------------------------------------------ blocks
    @staticmethod
    def _put(out, col, block, progress, label) -> int:
        out[:, col:col + block.shape[1]] = block
        if progress is not None:
            progress(label)
        return col + block.shape[1]

    def _single_block(self, block: str, values: pd.Series) -> np.ndarray:
        """Rows of the unique-value table of one component column (NaN for blank)."""
        featurizer = self.featurizers_[block]
        codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
        table = featurizer.featurize_names([str(u) for u in uniques])
        table = np.vstack([table, np.full((1, table.shape[1]), np.nan)])  # row -1: blank
        return table[codes]

    def _solvent_block(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        featurizer = self.featurizers_["solvent"]
        width = len(featurizer.feature_labels())
        ratio = X["solvent_ratio"] if "solvent_ratio" in X else pd.Series(pd.NA, index=X.index)
        pair = X["solvent"].astype("string") + "|" + ratio.astype("string").fillna("")
        codes, uniques = pd.factorize(pair, use_na_sentinel=True)
        splits = [str(u).split("|", 1) for u in uniques]
        names = sorted({p for solvents, _ in splits for p in solvents.split(":")})
        vectors = dict(zip(names, featurizer.featurize_names(names), strict=True))
        table = np.full((len(uniques) + 1, width + 1), np.nan)
        for i, (solvents, ratio_text) in enumerate(splits):
            parts = solvents.split(":")
            try:
                weights = parse_ratio(ratio_text, len(parts))
            except (FeaturizationError, ValueError) as exc:
                if self.on_error == "raise":
                    raise FeaturizationError(f"solvent {solvents!r}: {exc}") from None
                self.errors_[f"{solvents}|{ratio_text}"] = str(exc)
                continue
            table[i, :width] = weights @ np.vstack([vectors[p] for p in parts])
            table[i, width] = len(parts)
        return table[codes, :width], table[codes, width]

    def _additive_block(self, values: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        featurizer = self.featurizers_["additive"]
        width = len(featurizer.feature_labels())
        if values is None:
            return np.full((n, width), np.nan), np.full(n, np.nan)
        codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
        uniques = [str(u) for u in uniques]
        names = sorted({p for u in uniques if not is_none(u) for p in u.split(":")})
        vectors = dict(zip(names, featurizer.featurize_names(names), strict=True))
        table = np.full((len(uniques) + 1, width + 1), np.nan)
        for i, value in enumerate(uniques):
            if is_none(value):
                table[i] = 0.0
            else:
                table[i, :width] = np.mean([vectors[p] for p in value.split(":")], axis=0)
                table[i, width] = 1.0
        return table[codes, :width], table[codes, width]

    def _chloride(self, values: pd.Series, kind: str) -> np.ndarray:
        """1 where the component (or any ':'-part) contains Cl, 0 otherwise, NaN if blank."""
        from featurizers.structures import molecule

        codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
        flags = np.full(len(uniques) + 1, np.nan)
        for i, value in enumerate(uniques):
            value = str(value)
            if is_none(value):
                flags[i] = 0.0
                continue
            try:
                mols = [molecule(self.library_.resolve(kind, p)) for p in value.split(":")]
            except Exception:  # unknown components are reported by their own block
                continue
            flags[i] = float(any(a.GetSymbol() == "Cl" for m in mols for a in m.GetAtoms()))
        return flags[codes]

    def _system_block(self, X: pd.DataFrame, additive_present: np.ndarray,
                      n_solvents: np.ndarray) -> np.ndarray:
        n = len(X)
        block = np.full((n, len(SYSTEM_FEATURES)), np.nan)
        index = {name: i for i, name in enumerate(SYSTEM_FEATURES)}
        numbers = {c: _numeric(X, c) for c in NUMERIC_INPUTS}
        block[:, index["n_solvents"]] = n_solvents
        block[:, index["additive_present"]] = additive_present
        for name in ("salt_conc_M", "current_density_mA_cm2", "areal_capacity_mAh_cm2",
                     "temperature_C"):
            block[:, index[name]] = numbers[name]
        block[:, index["additive_conc_M"]] = np.where(additive_present == 0, 0.0,
                                                      numbers["additive_conc_M"])
        coating_none = X["coating"].astype("string").str.strip().str.lower().eq("none")
        block[:, index["coating_thickness_um"]] = np.where(
            coating_none.fillna(False).to_numpy(bool), 0.0, numbers["coating_thickness_um"])
        with np.errstate(divide="ignore", invalid="ignore"):
            block[:, index["log10_current_density"]] = np.log10(numbers["current_density_mA_cm2"])
        anion_cl = self._chloride(X["anion"], "anion")
        additive_cl = (self._chloride(X["additive"], "solvent") if "additive" in X
                       else np.full(n, np.nan))
        block[:, index["chloride_present"]] = np.where(
            (anion_cl == 1) | (additive_cl == 1), 1.0,
            np.where(np.isnan(anion_cl) | np.isnan(additive_cl), np.nan, 0.0))
        metal = X["metal"].astype("string")
        for name in METALS:
            radius, density = metal_descriptors(name)
            rows = metal.eq(name).fillna(False).to_numpy(bool)
            block[rows, index["metal_is_Ca"]] = float(name == "Ca")
            block[rows, index["metal_ionic_radius_A"]] = radius
            block[rows, index["metal_charge_density"]] = density
        unknown_metal = ~metal.isin(METALS).fillna(False).to_numpy(bool)
        if unknown_metal.any() and self.on_error == "raise":
            bad = metal[unknown_metal].iloc[0]
            raise FeaturizationError(f"metal {bad!r}: accepted {', '.join(METALS)}")
        cell = (X["cell_type"].astype("string") if "cell_type" in X
                else pd.Series(pd.NA, index=X.index, dtype="string"))
        for name in CELL_TYPES:
            block[:, index[f"cell_{name}"]] = cell.eq(name).fillna(False).to_numpy(float)
        return block


def _numeric(X: pd.DataFrame, column: str) -> np.ndarray:
    """Float column (NaN when absent or blank); text that is not a number raises."""
    if column not in X:
        return np.full(len(X), np.nan)
    values = X[column]
    if values.dtype.kind in "fiu":
        return values.to_numpy(dtype=float)
    text = values.astype("string").str.strip().replace("", pd.NA)
    try:
        return pd.to_numeric(text, errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise FeaturizationError(f"column {column!r}: {exc}") from None
