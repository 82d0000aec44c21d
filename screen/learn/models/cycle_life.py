"""Cycle-life model: survival analysis of right-censored cycle lives (scikit-survival).

Most cycle lives in the data set are lower bounds ("still cycling after 1000 h",
``cycle_life_censored = true``); only a few report a failure. A regression on the numbers would
be biased low, so the target is a scikit-survival structured array
(``Surv.from_arrays(event=~censored, time=value)``, fields ``event`` and ``time``; time in the
configured unit, hours or cycles) and the models are survival models.

Factory config (``make_survival_model(params)``; a plain dict, e.g.
the ``[model]`` table of ``experiments/cycle_life.toml``)

- ``family`` — ``"random_survival_forest"`` (default;
  :class:`sksurv.ensemble.RandomSurvivalForest`), ``"gradient_boosting"``
  (:class:`sksurv.ensemble.GradientBoostingSurvivalAnalysis`, Cox partial-likelihood loss) or
  ``"coxnet"`` (:class:`sksurv.linear_model.CoxnetSurvivalAnalysis` with
  ``fit_baseline_model=True``; predictions use the last, i.e. smallest, penalty of the path —
  pass ``alphas = [a]`` to fix it).
- ``random_state`` — seed (int) for the tree families; default: the factory's ``random_state``
  argument (the config seed), else 0.
- ``scale`` — standardize features after imputation; default ``true`` for ``coxnet``, ``false``
  for the tree families.
- every other key is a hyperparameter of the family's scikit-survival estimator, under its
  scikit-survival name (see :data:`HYPERPARAMETERS`), at the top level or in a nested
  ``params`` table (``[model.params]``). A key not accepted raises ValueError naming it and the
  accepted keys.

Estimators (scikit-learn contract, X = DataFrame of float features, NaN allowed — median
imputation inside, all-NaN columns kept as 0):

- :class:`SurvivalModel` — ``fit(X, y)``, ``predict(X)`` (risk score, higher = shorter life, the
  scikit-survival convention), ``predict_median(X)``, ``median_is_lower_bound(X)``,
  ``predict_survival_at(X, t)`` (P(life > t)), ``score(X, y)`` (Harrell's C-index).
- :func:`survival_at` ``(estimator, X, times)`` — P(life > t) matrix for any of these, or for
  any scikit-survival estimator / pipeline with ``predict_survival_function``.
- :class:`KaplanMeierBaseline` — the same interface; ignores X: the Kaplan–Meier curve of the
  training targets for everyone (constant risk, so its C-index is exactly 0.5 whenever it is
  defined: tied risk scores count 1/2 in Harrell's C).

Median life and lower bounds
----------------------------
The predicted survival curve S(t) is a step function on the training times (0 < t ≤ t_max,
t_max = the longest training follow-up, censored or not). The median is the smallest training
time with S(t) ≤ 0.5. When S stays above 0.5 up to t_max — the usual case here, where
almost every record is censored — the median is not identifiable; ``predict_median`` then
returns **t_max, a finite lower bound** ("median > t_max"), and ``median_is_lower_bound`` is
True for that row. A finite bound (not ``inf``) keeps prediction tables, plots and errors
usable, and matches how the data themselves report lives ("over 1000 h"). Use
``predict_median_with_bound`` to get both arrays in one call.

``predict_survival_at(X, t)`` is 1 for t before the first training time and carries the last
value forward for t > t_max; since S is non-increasing that value is an upper bound of
P(life > t), not an estimate.

If the training targets contain no event at all (every life censored, e.g. cycle counts here),
no survival model can be fitted: the estimator then fits the degenerate model S(t) = 1 on
[0, t_max] (constant risk, median = t_max flagged as a lower bound), records
``no_events_ = True`` and warns, instead of failing.

Metrics
-------
:func:`c_index` (Harrell's C via ``concordance_index_censored``) and :func:`integrated_brier`
(``integrated_brier_score``). Both return an
:class:`~screen.learn.models.passivation.UndefinedMetric`
(a float NaN carrying ``.reason``) and warn with :class:`MetricUndefinedWarning`, never
raise, when the metric cannot be computed (all censored, no comparable pair, no test events,
too short a common follow-up).

IBS time grid (:func:`ibs_times`): the deciles 10 %…90 % of the *test* times, clipped into the
interval where the metric is defined — from ``max(min test time, min train time)`` to just
below ``min(max test time, max train time)`` (sksurv needs every grid time inside the test
follow-up, and the censoring distribution, estimated by Kaplan–Meier on the training targets,
is only known up to the longest training time) — then de-duplicated; fewer than 2 distinct
times → NaN. Test times beyond the training follow-up are clipped to it before scoring: this
changes no Brier term at grid times below it (such a row is a survivor at every grid time) and
avoids the censoring-distribution error in sksurv.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.exceptions import NoComparablePairException
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored, integrated_brier_score
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import check_y_survival

from screen.learn.models.common import (  # noqa: F401  (re-exported)
    COMMON_TRUSTED_TYPES,
    MedianImputer,
    MetricUndefinedWarning,
    UndefinedMetric,
    check_family_params,
    flatten_config,
    undefined,
)

__all__ = [
    "FAMILIES", "HYPERPARAMETERS", "SKOPS_TRUSTED_TYPES", "KaplanMeierBaseline",
    "MetricUndefinedWarning", "SurvivalModel", "UndefinedMetric", "c_index", "ibs_times",
    "integrated_brier", "make_survival_model", "median_life", "survival_at",
]

FAMILIES: dict[str, type] = {
    "random_survival_forest": RandomSurvivalForest,
    "gradient_boosting": GradientBoostingSurvivalAnalysis,
    "coxnet": CoxnetSurvivalAnalysis,
}
#: Parameters of the scikit-survival estimators that are not configurable here: fixed by the
#: wrapper (survival functions must be available; the seed is the wrapper's ``random_state``).
_FIXED = {
    "random_survival_forest": {"low_memory": False, "random_state": None},
    "gradient_boosting": {"loss": "coxph", "random_state": None},
    "coxnet": {"fit_baseline_model": True},
}
_EXCLUDED = {"verbose", "warm_start", "copy_X"}
#: Hyperparameter keys accepted per family (scikit-survival names).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    family: tuple(sorted(set(cls().get_params()) - set(_FIXED[family]) - _EXCLUDED))
    for family, cls in FAMILIES.items()
}
#: Keys of the factory dict that belong to the wrapper, not to the scikit-survival estimator.
WRAPPER_KEYS = ("family", "random_state", "scale")

#: Every type ``skops.io.get_untrusted_types`` reports for a fitted estimator of this module (any
#: family): pass it as ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)``. It includes a few
#: numpy/scikit-learn types that skops 0.16 does not trust by default (dtype, tree ``Tree``).
SKOPS_TRUSTED_TYPES: list[str] = [
    *COMMON_TRUSTED_TYPES,
    "screen.learn.models.cycle_life.KaplanMeierBaseline",
    "screen.learn.models.cycle_life.SurvivalModel",
    "sklearn.tree._tree.Tree",
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.forest.RandomSurvivalForest",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.tree.tree.SurvivalTree",
]


def _check_hyperparameters(family: str, hyper: dict[str, Any]) -> None:
    check_family_params("cycle-life model", family, hyper, HYPERPARAMETERS, WRAPPER_KEYS)


def make_survival_model(params: dict[str, Any] | None = None,
                        random_state: int | None = None) -> SurvivalModel:
    """Build a :class:`SurvivalModel` from a plain config dict (keys in the module docstring).

    Hyperparameters may sit at the top level or in a nested ``params`` table (as in
    ``[model.params]``). ``random_state`` (e.g. the config's seed) is used unless the dict has
    its own ``random_state``; default 0.
    """
    params = flatten_config(params, "cycle-life model")
    family = params.pop("family", "random_survival_forest")
    random_state = params.pop("random_state", 0 if random_state is None else random_state)
    scale = params.pop("scale", None)
    _check_hyperparameters(family, params)
    return SurvivalModel(family=family, params=params or None, scale=scale,
                         random_state=random_state)


#: Generic factory name of the model contract.


def _as_frame(X) -> pd.DataFrame | np.ndarray:
    return X if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)


def _check_y(y) -> tuple[np.ndarray, np.ndarray]:
    event, time = check_y_survival(y, allow_all_censored=True)
    return np.asarray(event, dtype=bool), np.asarray(time, dtype=float)


class _SurvivalCurves:
    """Shared prediction logic: everything derives from S on the grid ``times_``."""

    def _survival_matrix(self, X) -> np.ndarray:  # (n_samples, len(times_))
        raise NotImplementedError

    def predict_survival_at(self, X, t) -> np.ndarray:
        """P(life > t) per row; ``t`` scalar → shape (n,), 1-d array → (n, len(t)).

        1 for t before the first training time; for t beyond the training follow-up
        ``time_max_`` the last value is carried forward (an upper bound of P(life > t)).
        """
        check_is_fitted(self, "times_")
        scalar = np.ndim(t) == 0
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if t.ndim != 1 or not np.isfinite(t).all():
            raise ValueError("t must be a finite number or a 1-d array of finite numbers")
        surv = self._survival_matrix(X)
        idx = np.searchsorted(self.times_, t, side="right") - 1
        padded = np.hstack([np.ones((surv.shape[0], 1)), surv])
        out = padded[:, idx + 1]
        return out[:, 0] if scalar else out

    def predict_median_with_bound(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(median life, is_lower_bound) per row — see the module docstring."""
        check_is_fitted(self, "times_")
        surv = self._survival_matrix(X)
        below = surv <= 0.5
        reached = below.any(axis=1)
        first = np.argmax(below, axis=1)
        median = np.where(reached, self.times_[first], self.time_max_)
        return median.astype(float), ~reached

    def life_table(self, X, horizon: float) -> dict[str, np.ndarray]:
        """Everything ``mgscreen`` reports, from one survival matrix: ``median`` and
        ``median_is_lower_bound``, the lower/upper quartile lives ``q25``/``q75`` (the lives by
        which 25 % / 75 % of cells have failed; ``time_max_`` where not reached), and
        ``p_gt_horizon`` = P(life > horizon)."""
        check_is_fitted(self, "times_")
        surv = self._survival_matrix(X)
        out: dict[str, np.ndarray] = {}
        for name, level in (("q25", 0.75), ("median", 0.5), ("q75", 0.25)):
            below = surv <= level
            reached = below.any(axis=1)
            out[name] = np.where(reached, self.times_[np.argmax(below, axis=1)],
                                 self.time_max_).astype(float)
            if name == "median":
                out["median_is_lower_bound"] = ~reached
        idx = np.searchsorted(self.times_, float(horizon), side="right") - 1
        out["p_gt_horizon"] = surv[:, idx] if idx >= 0 else np.ones(len(surv))
        return out

    def predict_median(self, X) -> np.ndarray:
        """Median life (target unit); ``time_max_`` where S never reaches 0.5 (a lower bound)."""
        return self.predict_median_with_bound(X)[0]

    def median_is_lower_bound(self, X) -> np.ndarray:
        """True where :meth:`predict_median` is only a lower bound (S > 0.5 up to t_max)."""
        return self.predict_median_with_bound(X)[1]

    def score(self, X, y) -> float:
        """Harrell's C-index of :meth:`predict` on ``y`` (NaN when undefined)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetricUndefinedWarning)
            return float(c_index(y, self.predict(X)))


class SurvivalModel(_SurvivalCurves, BaseEstimator):
    """Imputer → [scaler] → scikit-survival model, with median / P(life > t) predictions.

    Parameters
    ----------
    family : {"random_survival_forest", "gradient_boosting", "coxnet"}
    params : dict or None
        Hyperparameters of the scikit-survival estimator (keys in ``HYPERPARAMETERS[family]``).
    scale : bool or None
        StandardScaler after imputation; None → True for coxnet, False otherwise.
    random_state : int or None
        Seed of the tree families.

    Fitted attributes: ``pipeline_`` (None when ``no_events_``), ``times_`` (grid of S),
    ``time_max_``, ``no_events_``, ``n_features_in_``, ``feature_names_in_`` (DataFrame input).
    """

    def __init__(self, family: str = "random_survival_forest", params: dict | None = None,
                 scale: bool | None = None, random_state: int | None = 0):
        self.family = family
        self.params = params
        self.scale = scale
        self.random_state = random_state

    def _build(self) -> Pipeline:
        hyper = dict(self.params or {})
        _check_hyperparameters(self.family, hyper)
        fixed = dict(_FIXED[self.family])
        if "random_state" in fixed:
            fixed["random_state"] = self.random_state
        model = FAMILIES[self.family](**hyper, **fixed)
        scale = self.family == "coxnet" if self.scale is None else bool(self.scale)
        steps = [("impute", MedianImputer())]
        if scale:
            steps.append(("scale", StandardScaler()))
        steps.append(("model", model))
        return Pipeline(steps)

    def fit(self, X, y):
        X = _as_frame(X)
        event, time = _check_y(y)
        if len(time) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(time)}")
        pipeline = self._build()  # validates the parameters even when no model is fitted
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.time_max_ = float(time.max())
        self.no_events_ = not event.any()
        if self.no_events_:
            warnings.warn(
                "all cycle lives are censored: no survival model can be fitted; predicting "
                f"S(t) = 1 up to the longest follow-up {self.time_max_:g} (median is a lower "
                "bound)", MetricUndefinedWarning, stacklevel=2)
            self.pipeline_ = None
            self.times_ = np.unique(time)
            return self
        self.pipeline_ = pipeline.fit(X, np.asarray(y))
        self.times_ = np.asarray(self.pipeline_[-1].unique_times_, dtype=float)
        return self

    def _transform(self, X):
        X = _as_frame(X)
        return self.pipeline_[:-1].transform(X)

    def _survival_matrix(self, X) -> np.ndarray:
        check_is_fitted(self, "times_")
        if self.no_events_:
            return np.ones((len(X), len(self.times_)))
        model = self.pipeline_[-1]
        surv = model.predict_survival_function(self._transform(X), return_array=True)
        return np.clip(np.asarray(surv, dtype=float), 0.0, 1.0)

    def predict(self, X) -> np.ndarray:
        """Risk score (higher = shorter expected life); all 0 for the no-event model."""
        check_is_fitted(self, "times_")
        if self.no_events_:
            return np.zeros(len(X))
        return np.asarray(self.pipeline_[-1].predict(self._transform(X)), dtype=float)


class KaplanMeierBaseline(_SurvivalCurves, BaseEstimator):
    """Population Kaplan–Meier curve of the training targets, the same for every row.

    ``predict`` is a constant risk (0), so Harrell's C-index is exactly 0.5 when defined
    (every comparable pair is a tie, counted 1/2).
    """

    def fit(self, X, y):
        event, time = _check_y(y)
        if X is not None and len(X) != len(time):
            raise ValueError(f"X has {len(X)} rows but y has {len(time)}")
        if X is not None:
            self.n_features_in_ = np.shape(X)[1] if np.ndim(X) == 2 else 1
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.time_max_ = float(time.max())
        self.no_events_ = not event.any()
        if self.no_events_:
            self.times_ = np.unique(time)
            self.survival_ = np.ones(len(self.times_))
        else:
            times, surv = kaplan_meier_estimator(event, time)
            self.times_ = np.asarray(times, dtype=float)
            self.survival_ = np.asarray(surv, dtype=float)
        return self

    def _survival_matrix(self, X) -> np.ndarray:
        check_is_fitted(self, "times_")
        return np.tile(self.survival_, (len(X), 1))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "times_")
        return np.zeros(len(X))


# --------------------------------------------------------------------------------- metrics


def c_index(y, risk) -> float:
    """Harrell's C-index of risk scores (higher risk = shorter life); ties count 1/2.

    Returns an :class:`UndefinedMetric` (NaN with ``.reason``) when every sample is censored or
    no pair is comparable.
    """
    event, time = _check_y(y)
    risk = np.asarray(risk, dtype=float).ravel()
    if len(risk) != len(time):
        raise ValueError(f"{len(risk)} risk scores for {len(time)} targets")
    if len(time) < 2:
        return undefined("fewer than 2 samples", "C-index")
    if not event.any():
        return undefined("all samples are censored (no observed failure)", "C-index")
    if not np.isfinite(risk).all():
        return undefined("non-finite risk scores", "C-index")
    try:
        return float(concordance_index_censored(event, time, risk)[0])
    except NoComparablePairException:
        return undefined("no comparable pair (no failure before another sample's time)",
                          "C-index")


def ibs_times(y_train, y_test, n_times: int = 9) -> np.ndarray:
    """Evaluation grid for :func:`integrated_brier` (see the module docstring); may be < 2."""
    _, t_train = _check_y(y_train)
    _, t_test = _check_y(y_test)
    lo = max(t_test.min(), t_train.min())
    hi = min(t_test.max(), t_train.max())
    if not hi > lo:
        return np.empty(0)
    hi_open = np.nextafter(hi, -np.inf)
    q = np.quantile(t_test, np.linspace(0.1, 0.9, n_times))
    return np.unique(np.clip(q, lo, hi_open))


def survival_at(estimator, X, times) -> np.ndarray:
    """P(life > t) matrix (n_samples, len(times)) of a fitted survival estimator.

    Uses ``predict_survival_at`` (this module's estimators) or else the scikit-survival
    ``predict_survival_function`` step functions (also through a Pipeline), with the same
    conventions: 1 before the first training time, last value carried forward after it.
    """
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if hasattr(estimator, "predict_survival_at"):
        return np.asarray(estimator.predict_survival_at(X, times), dtype=float)
    if hasattr(estimator, "predict_survival_function"):
        return _survival_at(estimator.predict_survival_function(X), times)
    raise TypeError(f"{type(estimator).__name__} predicts no survival function")


def median_life(estimator, X) -> np.ndarray:
    """Median life per row of a fitted survival estimator: ``predict_median`` of this module's
    estimators, or, for any scikit-survival estimator or pipeline with
    ``predict_survival_function`` (e.g. the one-hot-names baseline), the first time its
    survival function reaches 0.5, else its last time (a lower bound, as ``predict_median``)."""
    if hasattr(estimator, "predict_median"):
        return np.asarray(estimator.predict_median(X), dtype=float)
    out = []
    for fn in estimator.predict_survival_function(X):
        times, surv = np.asarray(fn.x, dtype=float), np.asarray(fn.y, dtype=float)
        reached = np.flatnonzero(surv <= 0.5)
        out.append(times[reached[0]] if len(reached) else times[-1])
    return np.asarray(out, dtype=float)


def _survival_at(survival, times: np.ndarray) -> np.ndarray:
    """Evaluate scikit-survival StepFunctions at ``times`` (carry the ends outward)."""
    rows = []
    for fn in survival:
        x, v = np.asarray(fn.x, dtype=float), np.asarray(fn.y, dtype=float)
        idx = np.searchsorted(x, times, side="right") - 1
        rows.append(np.where(idx < 0, 1.0, v[np.clip(idx, 0, None)]))
    return np.asarray(rows)


def integrated_brier(y_train, y_test, survival, times=None) -> float:
    """Integrated Brier score (lower is better) of predicted survival on ``y_test``.

    ``survival`` is either an array (n_test, len(times)) of P(life > times[j]) — then ``times``
    is required, e.g. ``times = ibs_times(y_train, y_test)`` and
    ``survival = model.predict_survival_at(X_test, times)`` — or a sequence of scikit-survival
    StepFunctions (``times`` defaults to :func:`ibs_times`). Grid times outside the common
    follow-up ``[max(min test, min train), min(max test, max train))`` are dropped with their
    columns. The censoring distribution is the Kaplan–Meier estimate of ``y_train``.

    Returns an :class:`UndefinedMetric` (NaN with ``.reason``) when the test set has no observed
    failure (scikit-survival refuses it; the score would only reward predicting survival), when
    fewer than 2 grid times remain, or when scikit-survival refuses the inputs otherwise.
    """
    ev_train, t_train = _check_y(y_train)
    ev_test, t_test = _check_y(y_test)
    name = "integrated Brier score"
    if len(t_test) == 0:
        return undefined("empty test set", name)
    if not ev_test.any():
        return undefined("no observed failure in the test set", name)
    step_functions = np.ndim(survival) == 1 and len(survival) > 0 and all(
        hasattr(fn, "x") and hasattr(fn, "y") for fn in survival)
    if step_functions:
        times = ibs_times(y_train, y_test) if times is None else times
        times = np.asarray(times, dtype=float).ravel()
        estimate = _survival_at(survival, times)
    else:
        if times is None:
            raise ValueError("times is required when survival is an array of probabilities")
        times = np.asarray(times, dtype=float).ravel()
        estimate = np.asarray(survival, dtype=float).reshape(len(t_test), -1)
        if estimate.shape[1] != len(times):
            raise ValueError(f"survival has {estimate.shape[1]} columns for {len(times)} times")
    lo, hi = max(t_test.min(), t_train.min()), min(t_test.max(), t_train.max())
    keep = (times >= lo) & (times < hi)
    times, first = np.unique(times[keep], return_index=True)
    estimate = estimate[:, keep][:, first]
    if len(times) < 2:
        return undefined(f"fewer than 2 evaluation times inside the common follow-up "
                          f"[{lo:g}, {hi:g})", name)
    if not np.isfinite(estimate).all():
        return undefined("non-finite survival probabilities", name)
    y_tr = np.empty(len(t_train), dtype=[("event", bool), ("time", float)])
    y_tr["event"], y_tr["time"] = ev_train, t_train
    y_te = np.empty(len(t_test), dtype=[("event", bool), ("time", float)])
    # rows followed beyond the training follow-up are survivors at every grid time: clipping
    # their time changes no Brier term and avoids sksurv's censoring-distribution error
    y_te["event"], y_te["time"] = ev_test, np.minimum(t_test, t_train.max())
    try:
        return float(integrated_brier_score(y_tr, y_te, estimate, times))
    except ValueError as err:
        return undefined(str(err), name)
