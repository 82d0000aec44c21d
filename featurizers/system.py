r"""System featurizer: one float32 feature row per (system, test condition).

Input is a DataFrame in the ``interfaces.csv`` system schema. Every component column is
featurized per *unique* value (``pd.factorize`` + the cached component featurizers) and joined
back by index, so the cost grows with the number of distinct components, not rows.

The component blocks are the registered :class:`~featurizers.blocks.BlockSpec`\ s (or the ones
passed as ``blocks``); built in, in output order (names are ``<block>__<feature>``):

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

from featurizers.base import ComponentFeaturizer, FeaturizationError, OnError, structure_key
from featurizers.blocks import CONDITIONS_GROUP, SYSTEM_BLOCK, BlockSpec, component_blocks
from screen.data.components import ComponentLibrary, UnknownComponent, is_none
from screen.data.schema import CELL_TYPES, METALS
from screen.data.structures import ElementChecker

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


def condition_feature(name: str) -> str:
    """Output name of a ``system`` block feature, e.g. ``system__current_density_mA_cm2``."""
    if name not in SYSTEM_FEATURES:
        raise KeyError(f"{name!r} is not a system feature; known: {', '.join(SYSTEM_FEATURES)}")
    return f"{SYSTEM_BLOCK}__{name}"


class SystemFeaturizer(TransformerMixin, BaseEstimator):
    """Feature matrix (float32) of systems; see the module docstring for the blocks.

    Parameters
    ----------
    blocks : sequence of BlockSpec or None
        The component blocks, in output order (default: every registered block,
        :func:`featurizers.blocks.component_blocks`); the ``system`` block always follows.
    library, cache_dir, use_cache, on_error
        Passed to the component featurizers. After ``transform`` (only with
        ``on_error='nan'``), ``failures_`` maps (column, component as written) of each failed
        component to the reason, and ``errors_`` maps the component to the reason.
    """

    def __init__(self, blocks: tuple[BlockSpec, ...] | None = None,
                 library: ComponentLibrary | None = None, cache_dir: str | None = None,
                 use_cache: bool = True, on_error: OnError = "raise"):
        self.blocks = blocks
        self.library = library
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.on_error = on_error

    def fit(self, X=None, y=None):
        """Load the library and build the component featurizers; nothing is learned from X."""
        self.library_ = self.library if self.library is not None else ComponentLibrary.load()
        self.blocks_ = tuple(self.blocks) if self.blocks is not None else component_blocks()
        kwargs = dict(library=self.library_, cache_dir=self.cache_dir,
                      use_cache=self.use_cache, on_error=self.on_error)
        shared: dict[object, ComponentFeaturizer] = {}
        self.featurizers_: dict[str, ComponentFeaturizer] = {}
        for block in self.blocks_:  # one instance per featurizer class (solvent = additive)
            if block.featurizer not in shared:
                shared[block.featurizer] = block.featurizer(**kwargs).fit()
            self.featurizers_[block.name] = shared[block.featurizer]
        names = [f"{block.name}__{label}" for block in self.blocks_
                 for label in self.featurizers_[block.name].feature_labels()]
        names += [condition_feature(label) for label in SYSTEM_FEATURES]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.checker_ = ElementChecker(self.library_)
        self.errors_: dict[str, str] = {}
        self.failures_: dict[tuple[str, str], str] = {}
        # the same featurizers, always raising: they tell what a component's failure is
        self.strict_ = {id(f): type(f)(**{**kwargs, "on_error": "raise"}).fit()
                        for f in shared.values()}
        return self

    @property
    def n_steps(self) -> int:
        """Progress steps of one :meth:`featurize_frame` call (one per block)."""
        check_is_fitted(self, "blocks_")
        return len(self.blocks_) + 1

    def citations(self) -> list[str]:
        """BibTeX entries of every component featurizer, each once."""
        check_is_fitted(self, "featurizers_")
        out: list[str] = []
        for featurizer in self.featurizers_.values():
            out += [c for c in featurizer.citations() if c not in out]
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns (``<block>__<feature>``)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Feature matrix (n_rows, n_features), float32."""
        return self.featurize_frame(X)

    def component_problem(self, kind: str, text: str) -> str | None:
        """Why one written component (a single name, SMILES or formula) cannot be featurized
        by the blocks that read components of ``kind``, or None.

        This is the featurization check of :data:`screen.data.rules.ComponentCheck`: the
        features are computed now (through the cache, so a later :meth:`transform` reuses
        them) and any failure (GFN2-xTB, 3D embedding, missing element data) is returned as
        the featurizer's message.
        """
        check_is_fitted(self, "strict_")
        for featurizer in {id(f): f for f in self.featurizers_.values()
                           if f.kind == kind}.values():
            strict = self.strict_[id(featurizer)]
            try:
                component = strict.resolve(text)
                key = structure_key(component)
                strict.featurize_components({key: component}, {key: text})
            except (UnknownComponent, FeaturizationError) as exc:
                return str(exc)
        return None

    def featurize_frame(self, X: pd.DataFrame, progress: Progress | None = None) -> np.ndarray:
        """:meth:`transform` with a ``progress(block_name)`` callback after each block."""
        check_is_fitted(self, "feature_names_out_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("SystemFeaturizer needs a pandas DataFrame in the interfaces schema")
        missing = [c for c in REQUIRED_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"missing required column(s) {', '.join(missing)}; a system table "
                             f"needs {', '.join(REQUIRED_COLUMNS)}")
        self.errors_, self.failures_ = {}, {}
        n = len(X)
        out = np.empty((n, len(self.feature_names_out_)), dtype=np.float32)
        col = 0
        counts = {"n_solvents": np.full(n, np.nan), "additive_present": np.full(n, np.nan)}
        for block in self.blocks_:
            featurizer = self.featurizers_[block.name]
            featurizer.errors_ = {}
            values, count = self._block(block, X)
            for name, reason in featurizer.errors_.items():
                self.failures_[(block.column, name)] = reason
                self.errors_[name] = reason
            if block.combine == "mixture":
                counts["n_solvents"] = count
            elif block.combine == "additive":
                counts["additive_present"] = count
            col = self._put(out, col, values, progress, block.name)
        system = self._system_block(X, counts["additive_present"], counts["n_solvents"])
        self._put(out, col, system, progress, CONDITIONS_GROUP)
        return out

    # ------------------------------------------------------------------ blocks
    @staticmethod
    def _put(out, col, block, progress, label) -> int:
        out[:, col:col + block.shape[1]] = block
        if progress is not None:
            progress(label)
        return col + block.shape[1]

    def _block(self, block: BlockSpec, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        values = X.get(block.column, None)
        if block.combine == "single":
            return self._single_block(block, values, len(X)), None
        if block.combine == "mixture":
            return self._mixture_block(block, X)
        return self._additive_block(block, values, len(X))

    def _single_block(self, block: BlockSpec, values: pd.Series | None, n: int) -> np.ndarray:
        """Rows of the unique-value table of one component column (NaN for blank)."""
        featurizer = self.featurizers_[block.name]
        if values is None:
            return np.full((n, len(featurizer.feature_labels())), np.nan)
        codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
        table = featurizer.featurize_names([str(u) for u in uniques])
        table = np.vstack([table, np.full((1, table.shape[1]), np.nan)])  # row -1: blank
        return table[codes]

    def _mixture_block(self, block: BlockSpec, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        featurizer = self.featurizers_[block.name]
        width = len(featurizer.feature_labels())
        ratio_column = block.ratio_column
        ratio = X[ratio_column] if ratio_column and ratio_column in X \
            else pd.Series(pd.NA, index=X.index)
        pair = X[block.column].astype("string") + "|" + ratio.astype("string").fillna("")
        codes, uniques = pd.factorize(pair, use_na_sentinel=True)
        splits = [str(u).split("|", 1) for u in uniques]
        names = sorted({p for components, _ in splits for p in components.split(":")})
        vectors = dict(zip(names, featurizer.featurize_names(names), strict=True))
        table = np.full((len(uniques) + 1, width + 1), np.nan)
        for i, (components, ratio_text) in enumerate(splits):
            parts = components.split(":")
            try:
                weights = parse_ratio(ratio_text, len(parts))
            except (FeaturizationError, ValueError) as exc:
                if self.on_error == "raise":
                    raise FeaturizationError(f"{block.column} {components!r}: {exc}") from None
                self.errors_[f"{components}|{ratio_text}"] = str(exc)
                self.failures_[(ratio_column or block.column, ratio_text)] = str(exc)
                continue
            table[i, :width] = weights @ np.vstack([vectors[p] for p in parts])
            table[i, width] = len(parts)
        return table[codes, :width], table[codes, width]

    def _additive_block(self, block: BlockSpec, values: pd.Series | None,
                        n: int) -> tuple[np.ndarray, np.ndarray]:
        featurizer = self.featurizers_[block.name]
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
        codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
        flags = np.full(len(uniques) + 1, np.nan)
        for i, value in enumerate(uniques):
            try:
                flags[i] = float(self.checker_.contains_cl(kind, str(value)))
            except Exception:  # unknown components are reported by their own block
                continue
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

