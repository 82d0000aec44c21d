"""Overpotential models: direct regressors, a Butler–Volmer physics model, conformal intervals.

Every estimator takes X as a pandas DataFrame of float features (the system features of
``featurizers.system.SystemFeaturizer`` plus the one-hot ``kind__<overpotential_kind>``
columns built by ``screen.learn.modeling_data``) and y = ``overpotential_V`` (V, magnitude > 0).

Factories (plain dicts, e.g. read from TOML)
--------------------------------------------
``make_overpotential_model(params, random_state=None)`` dispatches
on ``params["family"]`` (hyperparameters may sit at the top level or in a nested ``params``
table, as in ``[model.params]``; ``random_state`` defaults to the seed given, else 0):

* ``"random_forest"`` (``RandomForestRegressor``; defaults ``n_estimators=200``,
  ``random_state=0``), ``"gradient_boosting"`` (``HistGradientBoostingRegressor``; defaults
  ``min_samples_leaf=3`` — the sklearn default of 20 learns nothing from ~40 rows —
  ``random_state=0``), ``"gaussian_process"`` (``GaussianProcessRegressor`` with the kernel
  ``ConstantKernel(constant_value) * RBF(length_scale) + WhiteKernel(noise_level)``, an
  isotropic RBF on the standardized features, defaults ``constant_value=1.0``,
  ``length_scale=10.0`` (the order of the distance between standardized rows with ~200
  features), ``noise_level=0.1``, all three optimized by the GP's marginal likelihood within
  the bounds 1e-3..1e3, 1e-2..1e4, 1e-6..10; and ``normalize_y=True``, ``random_state=0``),
  ``"kernel_ridge"`` (``KernelRidge``, default ``kernel="rbf"``; it has no intercept, so
  predictions shrink toward 0 V far from the data — ``log_target`` makes that shrink toward
  1 V instead): see :func:`make_direct_regressor`. Keys: ``family``; ``log_target`` (bool,
  default false: fit log η and predict exp of it); ``scale`` (bool, StandardScaler after the
  median imputer; default true for gaussian_process / kernel_ridge, false for the tree
  models); every other key is a hyperparameter of the regressor (its constructor argument;
  for the GP also ``constant_value`` / ``length_scale`` / ``noise_level`` of the kernel
  above, but not ``kernel`` itself).
* ``"butler_volmer"``: :class:`ButlerVolmerRegressor`; every other key is one of its
  constructor arguments.

An unknown key raises ``ValueError`` naming it and listing the accepted keys.
Note: HistGradientBoosting uses OpenMP threads; on ~40 rows on a busy machine that is ~10×
slower than one thread — wrap training in ``threadpoolctl.threadpool_limits(1, "openmp")``.

The physics model
-----------------
See :class:`ButlerVolmerRegressor`. Symmetric-cell overpotential at current density j:

    η(j) = k_kind · [ (4RT / nF) · asinh( j / (2 i0) ) + (j / 1000) · R_film ]

η in V, j and i0 in mA cm⁻² (only their ratio enters the asinh), T in K, n = 2 (Mg²⁺,
Ca²⁺), F = 96485.33 C mol⁻¹, R = 8.314 J mol⁻¹ K⁻¹, R_film in Ω cm² (j/1000 is j in
A cm⁻², so j/1000 · R_film is in V). The first term is the Butler–Volmer equation with
symmetric transfer coefficients (α = 1/2) solved for the overpotential of one electrode,
j = 2 i0 sinh(nFη_e / 2RT), times two because a symmetric cell polarizes a plating and a
stripping electrode with the same |η_e|. Its low-current limit is the linear relation that
Chai et al. (seed 000, Eq. (1), the line ``$$i = i_0 \\frac{F}{RT} \\cdot \\frac{\\eta}{2}
\\quad (1)$$``) use to get i0 from the symmetric-cell polarization at several current
densities: j = i0 (nF/RT)(η/2). Eq. (1) as printed has no n, i.e. n = 1; with the default
n = 2 our i0 is half the value Eq. (1) would give for the same η (``n_electrons=1``
reproduces their convention exactly). The ohmic term is the film (and electrolyte)
area-specific resistance of the whole cell. k_kind = 1 for the reference kind
(``polarization``). Seed 004 (Drvarič Talian et al.) shows the limits of the picture: after
activation the stripping overpotential rises with j (94/84/150/310 mV at 0.3/1/3/10 mA cm⁻²),
but plating stays ≈ 550 mV from 0.3 to 3 mA cm⁻²; and a passive-film resistance of
~1 MΩ cm² would imply 300 V–1 kV, which is never observed. Hence the film resistance is
capped smoothly (``max_film_resistance_ohm_cm2``, default 1000 Ω cm², above the 30–300 Ω cm²
that seed 004 estimates) so that extrapolation to high current stays physical.

Conformal intervals
-------------------
:class:`ConformalRegressor` (saved-model form, plain sklearn + numpy, skops-safe) and
:func:`fit_predict_intervals` (per-fold helper for cross-validation, MAPIE 1.6
``mapie.regression.CrossConformalRegressor`` with ``method="plus"``, i.e. CV+) both compute
CV+ intervals (Barber, Candès, Ramdas & Tibshirani 2021, "Predictive inference with the
jackknife+", Ann. Statist. 49(1) 486–507) with the same finite-sample quantiles as MAPIE.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from featurizers.system import condition_feature
from screen.learn.models.common import COMMON_TRUSTED_TYPES, MedianImputer, flatten_config

__all__ = [
    "ButlerVolmerRegressor", "ConformalRegressor", "DIRECT_FAMILIES", "FAMILIES",
    "MissingCurrentDensityWarning", "SKOPS_TRUSTED_TYPES", "UnpredictableRowsWarning",
    "UnseenKindWarning", "fit_predict_intervals",
    "make_direct_regressor", "make_overpotential_model",
]

FARADAY = 96485.33212  # C mol^-1
GAS_CONSTANT = 8.314462618  # J mol^-1 K^-1
ZERO_CELSIUS = 273.15  # K
LN10 = math.log(10.0)

CURRENT_FEATURE = condition_feature("current_density_mA_cm2")
TEMPERATURE_FEATURE = condition_feature("temperature_C")
KIND_PREFIX = "kind__"  # the kind one-hot columns (screen.learn.targets.overpotential)

DIRECT_FAMILIES = ("random_forest", "gradient_boosting", "gaussian_process", "kernel_ridge")
FAMILIES = (*DIRECT_FAMILIES, "butler_volmer")

#: Types skops 0.16 does not trust by default that a saved overpotential model may contain
#: (pass to ``skops.io.load(trusted=...)``): our two estimator classes; numpy.dtype (the
#: ``_fit_dtype`` every fitted SimpleImputer stores); numpy.log / numpy.exp (the target
#: transform of ``log_target``); the GP kernel classes; and the tree storage of
#: random_forest (``sklearn.tree._tree.Tree``) and gradient_boosting (``TreePredictor``).
#: skops distrusts the last two because their node indices are not bounds-checked (a forged
#: file could crash predict): trust them only for model files this project wrote itself.
SKOPS_TRUSTED_TYPES: list[str] = [
    *COMMON_TRUSTED_TYPES,
    "screen.learn.models.overpotential.ButlerVolmerRegressor",
    "screen.learn.models.overpotential.ConformalRegressor",
    "numpy.log",
    "numpy.exp",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.gaussian_process.kernels.ConstantKernel",
    "sklearn.gaussian_process.kernels.Product",
    "sklearn.gaussian_process.kernels.RBF",
    "sklearn.gaussian_process.kernels.Sum",
    "sklearn.gaussian_process.kernels.WhiteKernel",
]


class UnpredictableRowsWarning(UserWarning):
    """Some rows cannot be answered by the physics model: it returns NaN for them."""


class MissingCurrentDensityWarning(UnpredictableRowsWarning):
    """Some rows have no (or a negative) current density: the physics model returns NaN."""


class UnseenKindWarning(UnpredictableRowsWarning):
    """Some rows are of an overpotential kind with no training row: the model returns NaN."""


# --------------------------------------------------------------------------- direct models

_COMMON_KEYS = ("family", "log_target", "scale")
_GP_KERNEL_DEFAULTS = {"constant_value": 1.0, "length_scale": 10.0, "noise_level": 0.1}
_DEFAULT_SCALE = {"random_forest": False, "gradient_boosting": False,
                  "gaussian_process": True, "kernel_ridge": True}


def _base_regressor(family: str):
    if family == "random_forest":
        return RandomForestRegressor(n_estimators=200, random_state=0)
    if family == "gradient_boosting":
        return HistGradientBoostingRegressor(min_samples_leaf=3, random_state=0)
    if family == "gaussian_process":
        return GaussianProcessRegressor(normalize_y=True, random_state=0)
    if family == "kernel_ridge":
        return KernelRidge(kernel="rbf")
    raise ValueError(f"unknown overpotential model family {family!r}; accepted: "
                     f"{', '.join(FAMILIES)}")


def _gp_kernel(constant_value: float, length_scale: float, noise_level: float):
    return (ConstantKernel(constant_value, (1e-3, 1e3))
            * RBF(length_scale=length_scale, length_scale_bounds=(1e-2, 1e4))
            + WhiteKernel(noise_level=noise_level, noise_level_bounds=(1e-6, 10.0)))


def _check_keys(params: dict, accepted: list[str], what: str) -> None:
    for key in params:
        if key not in accepted:
            raise ValueError(f"unknown key {key!r} for {what}; accepted keys: "
                             f"{', '.join(sorted(accepted))}")


def make_direct_regressor(params: dict):
    """Pipeline(median imputer → optional StandardScaler → regressor), see the module docstring.

    With ``log_target`` the pipeline is wrapped in ``TransformedTargetRegressor(func=np.log,
    inverse_func=np.exp)`` (y must then be > 0, which overpotential magnitudes are).
    """
    params = dict(params)
    if "family" not in params:
        raise ValueError(f"missing key 'family'; accepted families: {', '.join(DIRECT_FAMILIES)}")
    family = params.pop("family")
    if family not in DIRECT_FAMILIES:
        raise ValueError(f"unknown direct regressor family {family!r}; accepted: "
                         f"{', '.join(DIRECT_FAMILIES)}")
    reg = _base_regressor(family)
    hyper_keys = list(reg.get_params(deep=False))
    if family == "gaussian_process":   # the kernel is built from its three numbers
        hyper_keys = [k for k in hyper_keys if k != "kernel"] + list(_GP_KERNEL_DEFAULTS)
    _check_keys(params, [*_COMMON_KEYS, *hyper_keys], f"family {family!r}")

    log_target = bool(params.pop("log_target", False))
    scale = bool(params.pop("scale", _DEFAULT_SCALE[family]))
    if family == "gaussian_process":
        kernel_args = {k: float(params.pop(k, v)) for k, v in _GP_KERNEL_DEFAULTS.items()}
        params["kernel"] = _gp_kernel(**kernel_args)
    reg.set_params(**params)

    steps = [("impute", MedianImputer())]
    if scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", reg))
    pipe = Pipeline(steps)
    if log_target:
        return TransformedTargetRegressor(regressor=pipe, func=np.log, inverse_func=np.exp)
    return pipe


def make_overpotential_model(params: dict | None = None, random_state: int | None = None):
    """Overpotential estimator from a plain dict: a direct family or ``"butler_volmer"``.

    Keys as in the module docstring; hyperparameters may also sit in a nested ``params`` table
    (``[model.params]`` in TOML). ``random_state`` (e.g. the config's seed) is passed to the
    families that take one unless the dict sets its own; default 0. Unknown keys → ValueError.
    """
    params = flatten_config(params, "overpotential model")
    if "family" not in params:
        raise ValueError(f"missing key 'family'; accepted families: {', '.join(FAMILIES)}")
    family = params["family"]
    if family not in FAMILIES:
        raise ValueError(f"unknown overpotential model family {family!r}; accepted: "
                         f"{', '.join(FAMILIES)}")
    if family == "butler_volmer":
        accepted = ["family", *ButlerVolmerRegressor().get_params(deep=False)]
        _check_keys(params, accepted, "family 'butler_volmer'")
        params.pop("family")
        params.setdefault("random_state", 0 if random_state is None else random_state)
        return ButlerVolmerRegressor(**params)
    if "random_state" in _base_regressor(family).get_params(deep=False):
        params.setdefault("random_state", 0 if random_state is None else random_state)
    return make_direct_regressor(params)




# --------------------------------------------------------------------------- physics model

def _softplus10(z):
    """log10(1 + 10**z), overflow-free."""
    return np.logaddexp(0.0, z * LN10) / LN10


class ButlerVolmerRegressor(RegressorMixin, BaseEstimator):
    """Physics-informed overpotential model: learned log10 i0 and log10 R_film + Butler–Volmer.

    Relation (η in V, j and i0 in mA cm⁻², T in K, R_film in Ω cm², n = ``n_electrons``)::

        η(j) = k_kind · [ (4RT/nF) · asinh(j / (2 i0)) + (j/1000) · R_film ]

    — symmetric-cell Butler–Volmer with α = 1/2 (two electrodes at |η_e|, j = 2 i0
    sinh(nFη_e/2RT)); its low-current limit j = i0 (nF/RT)(η/2) is Eq. (1) of seed 000
    (printed there without n, i.e. n = 1 — set ``n_electrons=1`` to reproduce that convention;
    with n = 2 the learned i0 is half theirs). See the module docstring.

    Parameterization. Chemistry features z = all columns except the current density (any
    column whose name is ``current_feature`` or contains ``"current_density"``, e.g. the
    featurizer's log10 current density) and the ``kind_features_prefix`` columns; they are
    median-imputed and standardized (fitted on the training rows). Then

        log10 i0 = b_i + z · w_i,     log10 R_film = C − log10(1 + 10**(C − (b_R + z · w_R)))

    with C = log10(``max_film_resistance_ohm_cm2``) — a smooth cap: R_film ≈ 10**(b_R + z·w_R)
    well below the cap, never above it (``None`` = no cap). Hence i0 > 0, 0 ≤ R_film and η
    strictly increasing in j by construction. The temperature column is both the T of RT/F
    (°C, NaN or missing → ``default_temperature_C``) and a chemistry feature (Arrhenius
    dependence of i0).

    Kind. η is multiplied by k_kind = exp(Σ_k s_k · kind_k) over the one-hot
    ``kind__<k>`` columns: the reference kind (``kind__<reference_kind>``, default
    ``polarization``) and rows with no kind set have k = 1, so i0 and R_film describe the
    symmetric-cell polarization; every other kind seen in training (nucleation spike,
    hysteresis, single-electrode plating / stripping) gets its own learned factor, so rows of
    different kinds are never silently pooled. ``kind_factors_`` reports them and
    ``kind_counts_`` their training rows. A kind with no training row (e.g. all its rows
    lacked a current density, or a grouped CV fold held them all out) has no factor: with
    ``unseen_kind="nan"`` (default) its rows — and rows with a nonzero ``kind__`` column
    unseen in fit — are predicted as NaN with an :class:`UnseenKindWarning`, never as
    polarization; ``"neutral"`` predicts them with factor 1 (still warning) — the conformal
    wrappers use it for their internal fold models only, so that every calibration row gets
    a score. Predicting for a new system with
    ``kind__polarization = 1`` (or no kind column set) gives the polarization.

    Fit. ``scipy.optimize.least_squares`` (trf, analytic Jacobian) on the residuals
    ln η_pred − ln y (``target_space="log"``, default: overpotentials span 0.05–2 V, relative
    errors matter, and each row weighs the same) or η_pred − y (``"linear"``), plus the ridge
    residuals sqrt(alpha)·(w_i, w_R, s). Intercepts are not penalized. Rows whose current
    density is missing, non-finite or ≤ 0, or whose y is missing (or ≤ 0 in log space)
    cannot be used: they are dropped (``n_fit_rows_`` used, ``n_dropped_rows_`` dropped).
    The solver is deterministic (zero initial weights); ``random_state`` is accepted for a
    uniform API and unused.

    Missing current density at prediction. ``missing_current="nan"`` (default) predicts NaN
    for a row without a current density; ``"median"`` asks for the median current density of
    the training rows (``current_median_``, mA cm⁻²) — the same imputation every other model
    of mgscreen applies to an unknown condition, and reported as imputed by ``predict``.

    Prediction. ``predict(X)`` returns η at each row's own current density; rows without a
    usable current density (NaN, non-finite or < 0) get NaN and one
    :class:`MissingCurrentDensityWarning` is emitted per call (``usable_rows(X)`` gives the
    mask of answerable rows beforehand; both warnings subclass
    :class:`UnpredictableRowsWarning`). ``predict_at(X, j)`` gives η for the same systems at
    any current density (scalar or one value per row, mA cm⁻²), whatever X's current column
    holds.
    ``exchange_current_density(X)`` (mA cm⁻²) and ``film_resistance(X)`` (Ω cm²) need no
    current density.
    """

    def __init__(self, alpha: float = 1.0, current_feature: str = CURRENT_FEATURE,
                 temperature_feature: str = TEMPERATURE_FEATURE,
                 default_temperature_C: float = 25.0, kind_features_prefix: str = KIND_PREFIX,
                 reference_kind: str = "polarization", n_electrons: float = 2,
                 max_film_resistance_ohm_cm2: float | None = 1000.0,
                 target_space: str = "log", unseen_kind: str = "nan", max_nfev: int = 500,
                 missing_current: str = "nan", random_state=None):
        self.alpha = alpha
        self.current_feature = current_feature
        self.temperature_feature = temperature_feature
        self.default_temperature_C = default_temperature_C
        self.kind_features_prefix = kind_features_prefix
        self.reference_kind = reference_kind
        self.n_electrons = n_electrons
        self.max_film_resistance_ohm_cm2 = max_film_resistance_ohm_cm2
        self.target_space = target_space
        self.unseen_kind = unseen_kind
        self.max_nfev = max_nfev
        self.missing_current = missing_current
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ---- helpers
    def _check_params(self) -> None:
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ValueError(f"alpha must be a number >= 0, got {self.alpha!r}")
        if self.target_space not in ("log", "linear"):
            raise ValueError(f"target_space must be 'log' or 'linear', got {self.target_space!r}")
        if self.unseen_kind not in ("nan", "neutral"):
            raise ValueError(f"unseen_kind must be 'nan' or 'neutral', got {self.unseen_kind!r}")
        if self.missing_current not in ("nan", "median"):
            raise ValueError("missing_current must be 'nan' or 'median', got "
                             f"{self.missing_current!r}")
        if not self.n_electrons > 0:
            raise ValueError(f"n_electrons must be > 0, got {self.n_electrons!r}")
        cap = self.max_film_resistance_ohm_cm2
        if cap is not None and not cap > 0:
            raise ValueError(f"max_film_resistance_ohm_cm2 must be > 0 or None, got {cap!r}")

    @staticmethod
    def _frame(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ButlerVolmerRegressor needs X as a pandas DataFrame with the feature "
                            "names (it finds the current density, temperature and kind__ "
                            f"columns by name); got {type(X).__name__}")
        return X

    def _checked_frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "coef_log10_i0_")
        X = self._frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks {len(missing)} feature column(s) seen in fit: "
                             f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
        return X

    def _split_columns(self, columns) -> tuple[list[str], list[str]]:
        kinds = [c for c in columns if str(c).startswith(self.kind_features_prefix)]
        chem = [c for c in columns if c not in kinds and c != self.current_feature
                and "current_density" not in str(c)]
        return chem, kinds

    def _temperature_K(self, X: pd.DataFrame) -> np.ndarray:
        if self.temperature_feature in X.columns:
            t = pd.to_numeric(X[self.temperature_feature], errors="coerce").to_numpy(float)
            t = np.where(np.isfinite(t), t, self.default_temperature_C)
        else:
            t = np.full(len(X), float(self.default_temperature_C))
        return t + ZERO_CELSIUS

    def _current(self, X: pd.DataFrame) -> np.ndarray:
        j = pd.to_numeric(X[self.current_feature], errors="coerce").to_numpy(float)
        if self.missing_current == "median" and hasattr(self, "current_median_"):
            j = np.where(np.isfinite(j), j, self.current_median_)
        return j

    def _design(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        Xc = X[self.chemistry_features_].to_numpy(dtype=float)
        Z = self.scaler_.transform(self.imputer_.transform(Xc))
        if self.kind_features_:
            K = X[self.kind_features_].to_numpy(dtype=float)
            K = np.where(np.isfinite(K), K, 0.0)
        else:
            K = np.zeros((len(X), 0))
        return np.asarray(Z, dtype=float), K

    def _log10_film(self, c):
        """Capped log10 R_film and its derivative with respect to the uncapped value."""
        cap = self.max_film_resistance_ohm_cm2
        if cap is None:
            c = np.minimum(c, 300.0)
            return c, np.ones_like(c)
        C = math.log10(cap)
        return C - _softplus10(C - c), expit((C - c) * LN10)

    def _eta_parts(self, j, T, a, c):
        """Cell overpotential (V) and d ln η / d a, d ln η / d c for a = log10 i0, c = log10 R."""
        A = 4.0 * GAS_CONSTANT * T / (self.n_electrons * FARADAY)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lu = np.log(j) - math.log(2.0) - a * LN10          # ln(j / (2 i0))
            big = lu > 20.0
            u = np.exp(np.where(big, 0.0, lu))
            ash = np.where(big, lu + math.log(2.0), np.arcsinh(u))  # asinh(u) ≈ ln 2u, u ≫ 1
            g = np.where(big, 1.0, u / np.sqrt(1.0 + u * u))        # u / sqrt(1 + u²)
            c_eff, dc = self._log10_film(c)
            film = j * 1e-3 * 10.0 ** c_eff
            ct = A * ash
            eta = ct + film
            dlog_da = -A * g * LN10 / eta
            dlog_dc = film * LN10 * dc / eta
        return eta, dlog_da, dlog_dc

    # ---- sklearn API
    def fit(self, X, y):
        self._check_params()
        X = self._frame(X)
        if self.current_feature not in X.columns:
            raise ValueError(f"X has no current-density column {self.current_feature!r}")
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        chem, kinds = self._split_columns(list(X.columns))
        reference = self.kind_features_prefix + self.reference_kind
        self.chemistry_features_ = chem
        self.kind_features_ = [k for k in kinds if k != reference]

        j = pd.to_numeric(X[self.current_feature], errors="coerce").to_numpy(float)
        ok = np.isfinite(j) & (j > 0) & np.isfinite(y)
        if self.target_space == "log":
            ok &= y > 0
        self.n_fit_rows_ = int(ok.sum())
        if ok.any():  # the current density asked when a row gives none (missing_current)
            self.current_median_ = float(np.median(j[ok]))
        self.n_dropped_rows_ = int(len(y) - ok.sum())
        if self.n_fit_rows_ < 2:
            raise ValueError(f"only {self.n_fit_rows_} row(s) have a positive current density "
                             f"({self.current_feature}) and a valid target; need >= 2")
        Xf = X.loc[ok]
        jf, yf, Tf = j[ok], y[ok], self._temperature_K(Xf)
        self.imputer_ = MedianImputer()
        self.scaler_ = StandardScaler()
        self.scaler_.fit(self.imputer_.fit_transform(Xf[chem].to_numpy(dtype=float)))
        Z_full, K = self._design(Xf)
        # Representer trick: the data term depends on w only through Z w, so the ridge optimum
        # lies in the row space of Z. With Z = U S Vᵀ (rank r <= n), w = V γ gives Z w = (U S) γ
        # and ‖w‖ = ‖γ‖: the same minimum over 2 + 2r + m instead of 2 + 2p + m parameters.
        _, sv, Vt = np.linalg.svd(Z_full, full_matrices=False)
        keep = sv > 1e-10 * max(float(sv.max(initial=0.0)), 1.0)
        V = Vt[keep].T
        Z = Z_full @ V
        n, p = Z.shape
        m = K.shape[1]
        sa = math.sqrt(float(self.alpha))
        log_y = np.log(np.where(yf > 0, yf, 1.0))

        def unpack(theta):
            return theta[0], theta[1], theta[2:2 + p], theta[2 + p:2 + 2 * p], theta[2 + 2 * p:]

        def model(theta):
            bi, bR, wi, wR, s = unpack(theta)
            a = bi + Z @ wi
            c = bR + Z @ wR
            eta, da, dc = self._eta_parts(jf, Tf, a, c)
            log_k = K @ s
            return eta * np.exp(log_k), da, dc

        def residuals(theta):
            pred, _, _ = model(theta)
            r = np.log(pred) - log_y if self.target_space == "log" else pred - yf
            return np.concatenate([r, sa * theta[2:]])

        def jacobian(theta):
            pred, da, dc = model(theta)
            J = np.zeros((n + 2 * p + m, 2 + 2 * p + m))
            J[:n, 0] = da
            J[:n, 1] = dc
            J[:n, 2:2 + p] = da[:, None] * Z
            J[:n, 2 + p:2 + 2 * p] = dc[:, None] * Z
            J[:n, 2 + 2 * p:] = K
            if self.target_space == "linear":
                J[:n] *= pred[:, None]
            J[n:, 2:] = sa * np.eye(2 * p + m)
            return J

        # start: film negligible (1 Ω cm²), i0 from the median row treated as pure charge transfer
        A = 4.0 * GAS_CONSTANT * Tf / (self.n_electrons * FARADAY)
        x = np.minimum(yf / A, 40.0)
        a0 = float(np.clip(np.median(np.log10(jf / (2.0 * np.sinh(np.maximum(x, 1e-6))))),
                           -15.0, 3.0))
        theta0 = np.zeros(2 + 2 * p + m)
        theta0[0], theta0[1] = a0, 0.0
        lower = np.full_like(theta0, -np.inf)
        upper = np.full_like(theta0, np.inf)
        lower[0], upper[0] = -20.0, 4.0    # log10 i0 intercept, mA cm^-2
        lower[1], upper[1] = -6.0, 8.0     # log10 R_film intercept, ohm cm^2 (capped anyway)
        sol = least_squares(residuals, theta0, jac=jacobian, bounds=(lower, upper),
                            method="trf", max_nfev=self.max_nfev)
        if sol.status <= 0:
            warnings.warn(f"ButlerVolmerRegressor: least_squares stopped before convergence "
                          f"({sol.message}); raise max_nfev", ConvergenceWarning, stacklevel=2)
        bi, bR, wi, wR, s = unpack(sol.x)
        self.intercept_log10_i0_ = float(bi)
        self.intercept_log10_film_ = float(bR)
        self.coef_log10_i0_ = V @ np.asarray(wi, dtype=float)
        self.coef_log10_film_ = V @ np.asarray(wR, dtype=float)
        self.kind_log_factors_ = np.asarray(s, dtype=float)
        self.kind_factors_ = {k: float(np.exp(v))
                              for k, v in zip(self.kind_features_, s, strict=True)}
        self.kind_counts_ = {k: int(np.sum(K[:, i] > 0))
                             for i, k in enumerate(self.kind_features_)}
        self.fit_status_ = int(sol.status)
        self.fit_cost_ = float(sol.cost)
        self.n_iter_ = int(sol.nfev)
        return self

    def _log10_params(self, X: pd.DataFrame):
        Z, K = self._design(X)
        a = self.intercept_log10_i0_ + Z @ self.coef_log10_i0_
        c = self.intercept_log10_film_ + Z @ self.coef_log10_film_
        return a, c, K @ self.kind_log_factors_

    def _unseen_kind_rows(self, X: pd.DataFrame) -> np.ndarray:
        """Rows with a nonzero kind__ column that has no factor (no training row, or new)."""
        seen = {k for k, n in self.kind_counts_.items() if n > 0}
        seen.add(self.kind_features_prefix + self.reference_kind)
        unseen = [c for c in X.columns
                  if str(c).startswith(self.kind_features_prefix) and c not in seen]
        if not unseen:
            return np.zeros(len(X), dtype=bool)
        values = X[unseen].to_numpy(dtype=float)
        return (np.where(np.isfinite(values), values, 0.0) != 0).any(axis=1)

    def _warn_unseen(self, X: pd.DataFrame, unseen: np.ndarray) -> None:
        if unseen.any():
            kinds = sorted({str(c) for c in X.columns if str(c).startswith(
                self.kind_features_prefix) and (X.loc[unseen, c].fillna(0) != 0).any()})
            what = ("NaN" if self.unseen_kind == "nan"
                    else "made with factor 1 (unseen_kind='neutral')")
            warnings.warn(f"{int(unseen.sum())} row(s) are of overpotential kind(s) without "
                          f"training rows ({', '.join(kinds)}): their prediction is {what}",
                          UnseenKindWarning, stacklevel=3)

    def _eta(self, X: pd.DataFrame, j: np.ndarray) -> np.ndarray:
        a, c, log_k = self._log10_params(X)
        out = np.full(len(X), np.nan)
        unseen = self._unseen_kind_rows(X)
        self._warn_unseen(X, unseen)
        ok = np.isfinite(j) & (j >= 0)
        if self.unseen_kind == "nan":
            ok &= ~unseen
        pos = ok & (j > 0)
        eta, _, _ = self._eta_parts(j[pos], self._temperature_K(X)[pos], a[pos], c[pos])
        out[pos] = eta * np.exp(log_k[pos])
        out[ok & (j == 0)] = 0.0
        return out

    def usable_rows(self, X) -> np.ndarray:
        """Rows ``predict`` can answer: finite current density >= 0 and (once fitted) a kind
        with training rows. Before fit only the current density is checked (training rows)."""
        X = self._frame(X)
        if self.current_feature not in X.columns:
            return np.zeros(len(X), dtype=bool)
        j = self._current(X)
        ok = np.isfinite(j) & (j >= 0)
        if hasattr(self, "kind_counts_") and self.unseen_kind == "nan":
            ok &= ~self._unseen_kind_rows(X)
        return ok

    def predict(self, X) -> np.ndarray:
        """η (V) at each row's own current density; NaN (and a warning) where it is missing."""
        X = self._checked_frame(X)
        j = self._current(X)
        bad = ~(np.isfinite(j) & (j >= 0))
        if bad.any():
            warnings.warn(f"{int(bad.sum())} of {len(j)} row(s) have no usable current density "
                          f"({self.current_feature}); their predicted overpotential is NaN — use "
                          "predict_at(X, current_density) to choose one",
                          MissingCurrentDensityWarning, stacklevel=2)
        return self._eta(X, j)

    def predict_at(self, X, current_density_mA_cm2) -> np.ndarray:
        """η (V) of the systems in X at the given current density (mA cm⁻², scalar or per row)."""
        X = self._checked_frame(X)
        j = np.broadcast_to(np.asarray(current_density_mA_cm2, dtype=float), (len(X),)).copy()
        if np.any(j[np.isfinite(j)] < 0):
            raise ValueError("current density must be >= 0 (a magnitude, mA cm^-2)")
        return self._eta(X, j)

    def exchange_current_density(self, X) -> np.ndarray:
        """Exchange current density i0 (mA cm⁻², > 0) of the systems in X."""
        X = self._checked_frame(X)
        a, _, _ = self._log10_params(X)
        return 10.0 ** np.clip(a, -300.0, 300.0)

    def film_resistance(self, X) -> np.ndarray:
        """Area-specific film resistance R_film (Ω cm², >= 0, <= the cap) of the systems in X."""
        X = self._checked_frame(X)
        _, c, _ = self._log10_params(X)
        return 10.0 ** self._log10_film(c)[0]


# --------------------------------------------------------------------------- conformal

#: Conformity scores of :class:`ConformalRegressor` (``uncertainty.conformity`` of a config).
CONFORMITY_SCORES = ("absolute", "gamma", "log", "normalized")
_SCORES = CONFORMITY_SCORES


def forest_moments(estimator, X) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) of the trees' predictions at each row of ``X`` for a fitted
    forest, or a pipeline ending in one (the earlier steps transform ``X`` first). The mean is
    the forest's prediction; the sd, how much the ensemble disagrees, is the difficulty of the
    ``"normalized"`` conformity score. One pass over the trees gives both."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    trees = getattr(final, "estimators_", None)  # boosting stages are arrays: not a forest
    if trees is None or not len(trees) or not all(hasattr(t, "predict") for t in trees):
        raise ValueError(f"conformity_score='normalized' (uncertainty.conformity) needs a "
                         f"fitted forest (an estimator with estimators_, e.g. model.family "
                         f"extra_trees or random_forest), got {type(final).__name__}")
    Z = X
    for _, step in (steps[:-1] if steps else []):
        Z = step.transform(Z)
    Z = np.ascontiguousarray(Z, dtype=np.float32)  # what DecisionTreeRegressor.predict feeds
    # its fitted ``tree_`` after validating X once per tree: validated here once for all trees
    # (30x less overhead per tree; equal values, see tests/test_models_overpotential.py)
    values = np.column_stack([np.asarray(t.tree_.predict(Z), dtype=float).reshape(len(Z), -1)[:, 0]
                              if hasattr(t, "tree_") else np.asarray(t.predict(Z), dtype=float)
                              for t in trees])
    return values.mean(axis=1), values.std(axis=1)


def _check_conformal_args(confidence, cv, conformity_score) -> None:
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(cv) < 2:
        raise ValueError(f"cv must be >= 2 folds, got {cv!r}")
    if conformity_score not in _SCORES:
        raise ValueError(f"conformity_score must be one of {_SCORES}, got {conformity_score!r}")


def _rows(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]


def _usable(estimator, X) -> np.ndarray:
    """Rows the estimator can use or predict (physics model: current density; once fitted,
    also a kind with training rows). Other estimators: every row."""
    if hasattr(estimator, "usable_rows"):
        return np.asarray(estimator.usable_rows(X), dtype=bool)
    return np.ones(len(X), dtype=bool)


def _fold_estimator(estimator):
    """Clone for an internal CV+ fold: the physics model answers kinds unseen in that fold."""
    est = clone(estimator)
    if "unseen_kind" in est.get_params(deep=False):
        est.set_params(unseen_kind="neutral")
    return est


def _order_stat(values: np.ndarray, k: int, largest: bool) -> np.ndarray:
    """k-th smallest (or largest) value of each row (1-based k); ±inf when k > n."""
    n = values.shape[1]
    if k > n:
        return np.full(values.shape[0], -np.inf if largest else np.inf)
    srt = np.sort(values, axis=1)
    return srt[:, n - k] if largest else srt[:, k - 1]


class ConformalRegressor(RegressorMixin, BaseEstimator):
    """CV+ prediction intervals around any regressor (Barber et al. 2021, jackknife+ / CV+).

    ``fit`` splits the usable training rows (all rows, or ``estimator.usable_rows(X)`` for the
    physics model) with ``KFold(cv, shuffle=True, random_state)``, fits one clone per fold
    and scores its out-of-fold rows: R_i = |y_i − μ_{−k(i)}(x_i)| (``"absolute"``) or
    s_i = (y_i − μ)/μ (``"gamma"``, relative; needs positive y and predictions). For a new x,
    with α = 1 − confidence and the n calibration rows:

    * absolute: high = ⌈(1−α)(n+1)⌉-th smallest of {μ_{−k(i)}(x) + R_i},
      low = ⌈(1−α)(n+1)⌉-th largest of {μ_{−k(i)}(x) − R_i};
    * gamma: the same with α/2 on each side of {μ_{−k(i)}(x)·(1 + s_i)};
    * log: s_i = ln y_i − ln μ_{−k(i)}(x_i), and the α/2-quantiles on each side of
      {μ_{−k(i)}(x)·exp(s_i)} — an interval built on the log scale the model predicts on, so
      both ends are positive overpotentials (the default of the overpotential target);
    * normalized (forests only): R_i = |y_i − μ_{−k(i)}(x_i)| / (σ_{−k(i)}(x_i) + σ₀), σ the
      spread of the fold forest's trees (:func:`forest_moments`) and σ₀ its median over the
      calibration rows; the absolute rule with R_i·(σ_{−k(i)}(x) + σ₀) — an interval as wide
      as the trees disagree at x (locally adaptive CV+, still distribution-free);

    ±inf when n is too small for the level — exactly MAPIE 1.6's ``CrossConformalRegressor
    (method="plus")`` quantiles. The point prediction is the mean of μ_{−k(i)}(x) over i
    (MAPIE's default ``aggregate_point_predictions="mean"``). Overpotentials are magnitudes,
    so ``low`` is clipped at 0 (this cannot lower coverage). ``estimator_`` is fitted on all
    usable rows; rows it cannot answer (physics model: no current density, or a kind without
    training rows) get NaN with an :class:`UnpredictableRowsWarning`. It is also kept for
    physics queries (``predict_at``, ``exchange_current_density``) but does not enter the
    point prediction. The fold models of the physics model use ``unseen_kind="neutral"`` so
    that a kind held out of one fold still gets calibration scores. Only sklearn/numpy
    objects are stored, so the fitted model saves with skops.
    """

    def __init__(self, estimator=None, confidence: float = 0.9, cv: int = 5, random_state=0,
                 conformity_score: str = "absolute"):
        self.estimator = estimator
        self.confidence = confidence
        self.cv = cv
        self.random_state = random_state
        self.conformity_score = conformity_score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y):
        if self.estimator is None:
            raise ValueError("ConformalRegressor needs an estimator")
        _check_conformal_args(self.confidence, self.cv, self.conformity_score)
        y = np.asarray(y, dtype=float).ravel()
        base = clone(self.estimator)
        idx = np.flatnonzero(_usable(base, X) & np.isfinite(y))
        n_splits = min(int(self.cv), len(idx))
        if n_splits < 2:
            raise ValueError(f"ConformalRegressor needs >= 2 usable rows, got {len(idx)}")
        folds = KFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        self.estimators_ = []
        self.fold_index_ = np.full(len(idx), -1, dtype=int)
        oof = np.full(len(idx), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnpredictableRowsWarning)
            spread = np.full(len(idx), np.nan)
            for f, (tr, te) in enumerate(folds.split(idx)):
                est = _fold_estimator(self.estimator).fit(_rows(X, idx[tr]), y[idx[tr]])
                if self.conformity_score == "normalized":
                    oof[te], spread[te] = forest_moments(est, _rows(X, idx[te]))
                else:
                    oof[te] = est.predict(_rows(X, idx[te]))
                self.fold_index_[te] = f
                self.estimators_.append(est)
        yc = y[idx]
        scored = np.isfinite(oof)       # always true for the estimators of this module
        self.fold_index_, oof, yc_s = self.fold_index_[scored], oof[scored], yc[scored]
        if self.conformity_score in ("gamma", "log"):
            if np.any(yc_s <= 0) or np.any(oof <= 0):
                raise ValueError(f"conformity_score={self.conformity_score!r} needs positive "
                                 "targets and predictions")
            self.conformity_scores_ = ((yc_s - oof) / oof if self.conformity_score == "gamma"
                                       else np.log(yc_s) - np.log(oof))
        elif self.conformity_score == "normalized":
            spread = spread[scored]
            self.spread_floor_ = float(np.median(spread)) if np.median(spread) > 0 else 1e-12
            self.conformity_scores_ = np.abs(yc_s - oof) / (spread + self.spread_floor_)
        else:
            self.conformity_scores_ = np.abs(yc_s - oof)
        self.n_calibration_ = int(scored.sum())
        self.estimator_ = clone(self.estimator).fit(_rows(X, idx), yc)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = np.shape(X)[1]
        return self

    def _fold_predictions(self, X) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnpredictableRowsWarning)
            cols = [np.asarray(e.predict(X), dtype=float) for e in self.estimators_]
        return np.column_stack(cols)[:, self.fold_index_]   # (n_test, n_calibration)

    def predict_interval(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, low, high) in V at ``confidence``; NaN rows where no prediction."""
        check_is_fitted(self, "estimators_")
        if self.conformity_score == "normalized":  # one pass over the trees: mean and sd
            moments = [forest_moments(e, X) for e in self.estimators_]
            mu = np.column_stack([m for m, _ in moments])[:, self.fold_index_]
            spread = np.column_stack([sd for _, sd in moments])[:, self.fold_index_]
        else:
            mu = self._fold_predictions(X)
        alpha = 1.0 - float(self.confidence)
        n = self.n_calibration_
        pred = mu.mean(axis=1)
        if self.conformity_score in ("gamma", "log"):
            k = math.ceil((1.0 - alpha / 2.0) * (n + 1))
            factor = (1.0 + self.conformity_scores_ if self.conformity_score == "gamma"
                      else np.exp(self.conformity_scores_))
            dist = mu * factor[None, :]
            low, high = _order_stat(dist, k, largest=True), _order_stat(dist, k, largest=False)
        else:
            k = math.ceil((1.0 - alpha) * (n + 1))
            width = self.conformity_scores_[None, :]
            if self.conformity_score == "normalized":  # R_i × (σ_{−k(i)}(x) + floor)
                width = width * (spread + self.spread_floor_)
            low = _order_stat(mu - width, k, largest=True)
            high = _order_stat(mu + width, k, largest=False)
            if self.conformity_score == "normalized":  # widths differ by fold model: keep the
                low, high = np.minimum(low, pred), np.maximum(high, pred)  # point inside
        missing = ~np.isfinite(mu).all(axis=1) | ~_usable(self.estimator_, X)
        if missing.any():
            warnings.warn(f"{int(missing.sum())} row(s) cannot be predicted (physics model: no "
                          "current density, or a kind without training rows): NaN",
                          UnpredictableRowsWarning, stacklevel=2)
        pred, low, high = (np.where(missing, np.nan, v) for v in (pred, low, high))
        return pred, np.maximum(low, 0.0), high

    def predict(self, X) -> np.ndarray:
        return self.predict_interval(X)[0]


def fit_predict_intervals(estimator, X_train, y_train, X_test, confidence: float = 0.9,
                          cv: int = 5, random_state=0, conformity_score: str = "absolute",
                          backend: str = "mapie"):
    """CV+ intervals for one CV fold: fit on (X_train, y_train), return (pred, low, high) on X_test.

    ``backend="mapie"`` uses ``mapie.regression.CrossConformalRegressor(estimator,
    confidence_level=confidence, conformity_score=..., method="plus", cv=KFold(cv,
    shuffle=True, random_state))`` → ``fit_conformalize`` → ``predict_interval(X_test,
    aggregate_point_predictions="mean", allow_infinite_bounds=True)``; ``"native"`` uses
    :class:`ConformalRegressor` (same splits, same quantiles: results agree). Training rows the
    estimator cannot use (physics model: no current density) are left out of the fit and the
    calibration; test rows that the model fitted on all training rows cannot answer (physics
    model: no current density, or a kind without training rows) get NaN and one
    :class:`UnpredictableRowsWarning`. ``low`` is clipped at 0.
    """
    _check_conformal_args(confidence, cv, conformity_score)
    if backend == "native" or conformity_score in ("log", "normalized"):  # not in MAPIE
        model = ConformalRegressor(estimator, confidence=confidence, cv=cv,
                                   random_state=random_state, conformity_score=conformity_score)
        return model.fit(X_train, y_train).predict_interval(X_test)
    if backend != "mapie":
        raise ValueError(f"backend must be 'mapie' or 'native', got {backend!r}")
    from mapie.regression import CrossConformalRegressor

    y_train = np.asarray(y_train, dtype=float).ravel()
    train = np.flatnonzero(_usable(estimator, X_train) & np.isfinite(y_train))
    n_splits = min(int(cv), len(train))
    if n_splits < 2:
        raise ValueError(f"need >= 2 usable training rows, got {len(train)}")
    if hasattr(estimator, "usable_rows"):   # answerable test rows, as ConformalRegressor.estimator_
        full = clone(estimator).fit(_rows(X_train, train), y_train[train])
        test = np.flatnonzero(_usable(full, X_test))
    else:
        test = np.arange(len(X_test))
    mapie = CrossConformalRegressor(
        estimator=_fold_estimator(estimator), confidence_level=float(confidence),
        conformity_score=conformity_score, method="plus",
        cv=KFold(n_splits=n_splits, shuffle=True, random_state=random_state),
        random_state=random_state)
    pred = np.full(len(X_test), np.nan)
    low, high = pred.copy(), pred.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnpredictableRowsWarning)
        mapie.fit_conformalize(_rows(X_train, train), y_train[train])
        if len(test):
            p, iv = mapie.predict_interval(_rows(X_test, test),
                                           aggregate_point_predictions="mean",
                                           allow_infinite_bounds=True)
            pred[test], low[test], high[test] = p, iv[:, 0, 0], iv[:, 1, 0]
    if len(test) < len(X_test):
        warnings.warn(f"{len(X_test) - len(test)} row(s) cannot be predicted (physics model: no "
                      "current density, or a kind without training rows): NaN",
                      UnpredictableRowsWarning, stacklevel=2)
    return pred, np.where(np.isnan(low), np.nan, np.maximum(low, 0.0)), high
