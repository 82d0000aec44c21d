"""Base class of the component featurizers: matminer's featurizer idea, vectorized and cached.

A subclass implements :meth:`ComponentFeaturizer.featurize` for ONE resolved
:class:`~screen.data.components.Component` (matminer style) plus :meth:`feature_labels`,
:meth:`feature_units` and :meth:`citations`. The base class makes it a scikit-learn transformer
whose input is one column of component names (names, aliases, SMILES or formulas): it resolves
the *unique* values once, featurizes each unique structure once (on-disk cache keyed by the
canonical structure and the featurizer version), and returns the rows by index — it never
featurizes per row.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from featurizers.cache import FeatureCache
from featurizers.interrupts import hook_rdkit, raise_if_interrupted
from screen.data.components import Component, ComponentLibrary, UnknownComponent
from screen.data.paths import dataset_dir
from screen.data.schema import ComponentKind

OnError = Literal["raise", "nan"]


class FeaturizationError(ValueError):
    """A component could not be featurized; the message names it and says why."""


def structure_key(component: Component) -> str:
    """Canonical identity of a component's *structure* (cache key).

    Molecules: canonical SMILES; cluster anions: SHA-256 of the structure file and its charge;
    coatings: canonical composition and class (bare metal: ``none``). Two spellings of one
    structure share a key; editing a library structure changes it.
    """
    from screen.data.components import canonical_composition, canonical_smiles

    if component.smiles:
        canon = canonical_smiles(component.smiles)
        return f"smiles:{canon[0] if canon else component.smiles}"
    if component.structure_file:
        path = dataset_dir() / component.structure_file
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        return f"xyz:{digest}:charge={component.charge}"
    if component.composition:
        canon = canonical_composition(component.composition) or component.composition
        return f"composition:{canon}|class:{component.category}"
    return f"{component.kind}:{component.name}|class:{component.category}"


def column_values(X) -> np.ndarray:
    """1-D object array of strings from a 1-D/2-D (one column) array, Series or DataFrame."""
    if hasattr(X, "iloc"):
        X = X.to_numpy()
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise ValueError(f"expected one column of component names, got {arr.shape[1]}")
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D or one-column input, got shape {arr.shape}")
    return arr


class ComponentFeaturizer(TransformerMixin, BaseEstimator):
    """Featurize one column of component names; see the module docstring.

    Parameters
    ----------
    library : ComponentLibrary or None
        Library used to resolve names (default: the embedded one, loaded in ``fit``).
    cache_dir : str or None
        Feature-cache directory (default: :func:`featurizers.cache.default_cache_dir`).
    use_cache : bool
        Read and write the on-disk cache.
    on_error : {'raise', 'nan'}
        ``'raise'``: an unknown component or a failed computation raises
        :class:`FeaturizationError`; ``'nan'``: its row is NaN and the failure is listed in
        ``errors_`` (name → reason) after ``transform``.
    """

    kind: ClassVar[ComponentKind]
    name: ClassVar[str]
    version: ClassVar[str]

    def __init__(self, library: ComponentLibrary | None = None, cache_dir: str | None = None,
                 use_cache: bool = True, on_error: OnError = "raise"):
        self.library = library
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.on_error = on_error

    # ------------------------------------------------------------ to implement
    @abstractmethod
    def featurize(self, component: Component) -> np.ndarray:
        """Feature vector (float64, len == len(feature_labels())) of one component."""

    @abstractmethod
    def feature_labels(self) -> list[str]:
        """Names of the features, in output order (without the featurizer prefix)."""

    @abstractmethod
    def feature_units(self) -> dict[str, str]:
        """Unit of each feature label ('' for dimensionless/counts/flags)."""

    @abstractmethod
    def citations(self) -> list[str]:
        """BibTeX entries of the methods and data the features rest on."""

    def implementors(self) -> list[str]:
        """Who wrote this featurizer."""
        return ["mgscreen developers"]

    # ------------------------------------------------------------ sklearn API
    def __sklearn_tags__(self):
        """Input: one column of strings (n x 1; 1-D also accepted); output: float64.

        ``one_d_array`` stays False: to scikit-learn it means "1-D input only", while the usual
        input is an (n, 1) column from a ``ColumnTransformer``.
        """
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True  # a single column of names
        tags.requires_fit = True  # fit loads the library
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []  # strings in, float64 out
        return tags

    def fit(self, X=None, y=None):
        """Load the library (if not given); nothing is learned from X (it is not inspected)."""
        if self.on_error not in ("raise", "nan"):
            raise ValueError(f"on_error={self.on_error!r}; accepted: 'raise', 'nan'")
        self.library_ = self.library if self.library is not None else ComponentLibrary.load()
        self.n_features_in_ = 1
        self.errors_: dict[str, str] = {}
        return self

    @property
    def cache_version(self) -> str:
        """Version string stored in the cache: ``version`` plus a hash of the feature labels,
        so changed features never reuse stale vectors even if ``version`` was not bumped."""
        labels = "\n".join(self.feature_labels()).encode()
        return f"{self.version}:{hashlib.sha256(labels).hexdigest()[:12]}"

    def transform(self, X) -> np.ndarray:
        """Feature matrix (n_rows, n_features), float64; identical values share one vector.

        Missing values (None/NaN/blank) mean "unknown" and give NaN rows, not errors.
        ``errors_`` lists this call's failures (with ``on_error='nan'``).
        """
        check_is_fitted(self, "library_")
        self.errors_ = {}
        values = pd.Series(column_values(X), dtype="string").str.strip().replace("", pd.NA)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        table = self.featurize_names([str(u) for u in uniques])
        table = np.vstack([table, np.full((1, table.shape[1]), np.nan)])  # code -1: missing
        return table[codes]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Feature names prefixed with the featurizer name, e.g. ``anion__homo_eV``."""
        check_is_fitted(self, "library_")
        return np.asarray([f"{self.name}__{label}" for label in self.feature_labels()],
                          dtype=object)

    # ------------------------------------------------------------ the work
    def resolve(self, value: str) -> Component:
        """Resolve one written component (raise :class:`UnknownComponent`)."""
        return self.library_.resolve(self.kind, value)

    def featurize_names(self, names: list[str]) -> np.ndarray:
        """Matrix (len(names), n_features) for distinct written names; cache-backed."""
        n_features = len(self.feature_labels())
        out = np.full((len(names), n_features), np.nan)
        keyed: dict[str, list[int]] = {}
        components: dict[str, Component] = {}
        written: dict[str, str] = {}
        for i, name in enumerate(names):
            name = str(name)
            try:
                comp = self.resolve(name)
            except UnknownComponent as exc:
                self._fail(name, str(exc))
                continue
            key = structure_key(comp)
            keyed.setdefault(key, []).append(i)
            components.setdefault(key, comp)
            written.setdefault(key, name)
        vectors = self.featurize_components(components, written)
        for key, rows in keyed.items():
            if key in vectors:
                out[rows] = vectors[key]
        return out

    def featurize_components(self, components: dict[str, Component],
                             written: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """Vectors by structure key: cached ones read, missing ones computed and stored.
        ``written`` maps keys to the name the user wrote (used in error messages)."""
        written = written or {}
        version = self.cache_version
        cache = FeatureCache(self.cache_dir) if self.use_cache else None
        found = cache.get_many(self.name, version, components) if cache else {}
        n_features = len(self.feature_labels())
        computed: dict[str, np.ndarray] = {}
        if len(found) < len(components):
            hook_rdkit()  # an interrupted RDKit search must not end up in the cache
        for key, comp in components.items():
            if key in found and len(found[key]) == n_features:
                continue
            name = written.get(key, comp.name)
            try:
                vec = np.asarray(self.featurize(comp), dtype=np.float64)
            except FeaturizationError as exc:
                self._fail(name, str(exc), wrapped=True)
                continue
            except Exception as exc:  # any failure is reported with the component's name
                self._fail(name, f"{type(exc).__name__}: {exc}")
                continue
            raise_if_interrupted()  # a swallowed Ctrl-C may have cut a search short
            if vec.shape != (n_features,):
                raise FeaturizationError(f"{self.name} featurizer returned {vec.shape} for "
                                         f"{comp.name!r}, expected ({n_features},)")
            computed[key] = vec
        if cache and computed:
            cache.put_many(self.name, version, computed)
        return {**{k: v for k, v in found.items() if len(v) == n_features}, **computed}

    def _fail(self, name: str, reason: str, wrapped: bool = False) -> None:
        """Raise (on_error='raise') or record a failure; ``wrapped``: reason already names it."""
        if self.on_error == "raise":
            raise FeaturizationError(reason if wrapped else f"{self.kind} {name!r}: {reason}")
        self.errors_[str(name)] = reason
