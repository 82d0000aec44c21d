"""Passivation model: calibrated probability that an anode/electrolyte interface passivates.

Labels (``passivation`` column): ``passivating`` → 1, ``non_passivating`` → 0, ``partial`` by
:func:`map_labels` ``partial_as``:

- ``"passivating"`` (**default**): a film that grows or hinders plating/stripping until it is
  overcome still needs mitigation (activation, additives, a coating), so for screening it is
  on the "passivating" side — the conservative choice for a user looking for a working anode;
- ``"non_passivating"``: count it as working;
- ``"drop"``: leave those rows out.

Factory config (``make_classifier(params)``, a plain dict):

- ``family`` — ``"random_forest"`` (default; RandomForestClassifier), ``"gradient_boosting"``
  (HistGradientBoostingClassifier) or ``"logistic_regression"`` (StandardScaler +
  LogisticRegression, ``max_iter`` 5000 by default);
- ``calibration`` — ``"sigmoid"`` (default, Platt scaling: 2 parameters, the sane choice for
  ~15 calibration rows per fold) or ``"isotonic"``;
- ``cv`` — calibration folds (default 5), see below;
- ``random_state`` — seed of the classifier and of the calibration folds; default: the
  factory's ``random_state`` argument (the config seed), else 0;
- every other key is a hyperparameter of the family's scikit-learn classifier under its own
  name (see :data:`HYPERPARAMETERS`); an unknown key raises ValueError naming the key and the
  accepted keys. Any key may also sit in a nested ``params`` table (``[model.params]``).

Estimator: :class:`PassivationClassifier` — ``Pipeline(MedianImputer(median,
keep_empty_features=True) → [StandardScaler] → classifier)`` wrapped in
``CalibratedClassifierCV(method=calibration, cv=StratifiedKFold(k, shuffle=True,
random_state))``. ``predict_proba(X)[:, 1]`` (also ``predict_p_passivating(X)``) is the
calibrated p(passivating); ``classes_`` is always ``[0, 1]``.

Calibration folds: with ~70 labelled rows (≈40 / 30 after mapping), ``k = min(cv, size of the
smallest class)`` so every calibration fold holds both classes (StratifiedKFold, shuffled with
the seed, ensemble of the k calibrated classifiers — sklearn's default ``ensemble=True``).
Degenerate training sets never crash (useful inside grouped CV where a fold can be tiny):
smallest class with 1 row → the pipeline is fitted *uncalibrated* (``calibrated_ = False``,
warning); a single class → constant probability of that class (``constant_`` set, warning).

``gradient_boosting`` fits and predicts on a single OpenMP thread: on ~70 rows threads only add
overhead, and on a busy 2-core machine OpenMP spin-waiting made one calibrated fit 10–20×
slower (0.4 s single-threaded vs 5–9 s).

Metrics: :func:`roc_auc`, :func:`brier`, :func:`accuracy` (and :func:`classification_metrics`,
the three in a dict) take p(passivating); a metric that
cannot be computed (e.g. ROC-AUC with a single class in ``y_true``) returns an
:class:`UndefinedMetric` — a float NaN carrying ``.reason`` — and warns with
:class:`MetricUndefinedWarning`.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

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
    "CALIBRATION_METHODS", "FAMILIES", "HYPERPARAMETERS", "PARTIAL_AS", "SKOPS_TRUSTED_TYPES",
    "MetricUndefinedWarning", "PassivationClassifier", "UndefinedMetric", "accuracy", "brier",
    "classification_metrics", "make_classifier", "map_labels", "roc_auc",
]

FAMILIES: dict[str, type] = {
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
    "logistic_regression": LogisticRegression,
}
_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 5000}}
_EXCLUDED = {"random_state", "verbose", "warm_start"}
#: Hyperparameter keys accepted per family (scikit-learn names).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    family: tuple(sorted(set(cls().get_params()) - _EXCLUDED)) for family, cls in FAMILIES.items()
}
WRAPPER_KEYS = ("family", "calibration", "cv", "random_state")
CALIBRATION_METHODS = ("sigmoid", "isotonic")
LABELS = {"passivating": 1, "non_passivating": 0}
PARTIAL_AS = ("passivating", "non_passivating", "drop")

#: Every type ``skops.io.get_untrusted_types`` reports for a fitted :class:`PassivationClassifier`
#: (any family / calibration): pass it as ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)``.
#: It includes numpy/scikit-learn types that skops 0.16 does not trust by default.
SKOPS_TRUSTED_TYPES: list[str] = [
    *COMMON_TRUSTED_TYPES,
    "screen.learn.models.passivation.PassivationClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
]


# ------------------------------------------------------------------------------------ labels


def map_labels(labels: pd.Series, partial_as: str = "passivating") -> tuple[pd.Series, np.ndarray]:
    """Map passivation labels to 0/1.

    Returns ``(y, keep_mask)``: ``keep_mask`` (bool array, len(labels)) is False for blank
    labels and, with ``partial_as="drop"``, for ``partial``; ``y`` is an int Series of 0/1 for
    the kept rows only (index = ``labels.index[keep_mask]``). Labels are matched case- and
    space-insensitively; an unknown label raises ValueError.
    """
    if partial_as not in PARTIAL_AS:
        raise ValueError(f"partial_as must be one of {', '.join(PARTIAL_AS)}, not {partial_as!r}")
    labels = pd.Series(labels)
    norm = labels.astype("string").str.strip().str.lower()
    blank = norm.isna() | (norm == "")
    mapping = dict(LABELS)
    if partial_as != "drop":
        mapping["partial"] = LABELS[partial_as]
    known = set(LABELS) | {"partial"}
    unknown = sorted(set(norm[~blank]) - known)
    if unknown:
        raise ValueError(f"unknown passivation label(s) {unknown}; expected one of "
                         f"{', '.join(sorted(known))}")
    keep = (~blank & norm.isin(list(mapping))).to_numpy(dtype=bool)
    y = norm[keep].map(mapping).astype(int)
    return y, keep


# ------------------------------------------------------------------------------------- model


def _check_params(family: str, hyper: dict[str, Any], calibration: str = "sigmoid") -> None:
    check_family_params("passivation model", family, hyper, HYPERPARAMETERS, WRAPPER_KEYS)
    if calibration not in CALIBRATION_METHODS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, "
                         f"not {calibration!r}")


def make_classifier(params: dict[str, Any] | None = None,
                    random_state: int | None = None) -> PassivationClassifier:
    """Build a :class:`PassivationClassifier` from a plain config dict (module docstring).

    Keys may sit at the top level or in a nested ``params`` table (as in ``[model.params]``).
    ``random_state`` (e.g. the config's seed) is used unless the dict has its own; default 0.
    """
    params = flatten_config(params, "passivation model")
    family = params.pop("family", "random_forest")
    calibration = params.pop("calibration", "sigmoid")
    cv = params.pop("cv", 5)
    random_state = params.pop("random_state", 0 if random_state is None else random_state)
    _check_params(family, params, calibration)
    return PassivationClassifier(family=family, params=params or None, calibration=calibration,
                                 cv=cv, random_state=random_state)


#: Generic factory name of the model contract.


class PassivationClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated binary classifier of passivation (1 = passivating); see the module docstring.

    Fitted attributes: ``model_`` (CalibratedClassifierCV, or the bare pipeline when
    uncalibrated, or None when ``constant_`` is set), ``calibrated_``, ``constant_`` (None or
    the only class seen), ``n_splits_``, ``classes_`` = [0, 1], ``n_features_in_``,
    ``feature_names_in_`` (DataFrame input).
    """

    def __init__(self, family: str = "random_forest", params: dict | None = None,
                 calibration: str = "sigmoid", cv: int = 5, random_state: int | None = 0):
        self.family = family
        self.params = params
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def _pipeline(self) -> Pipeline:
        hyper = {**_DEFAULTS.get(self.family, {}), **(self.params or {})}
        clf = FAMILIES[self.family](**hyper, random_state=self.random_state)
        steps = [("impute", MedianImputer())]
        if self.family == "logistic_regression":
            steps.append(("scale", StandardScaler()))
        steps.append(("model", clf))
        return Pipeline(steps)

    def _threads(self):
        """HistGradientBoosting runs on one OpenMP thread (see the module docstring)."""
        if self.family == "gradient_boosting":
            return threadpool_limits(limits=1, user_api="openmp")
        return nullcontext()

    def fit(self, X, y):
        _check_params(self.family, dict(self.params or {}), self.calibration)
        if not isinstance(X, pd.DataFrame):
            X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        if y.dtype == bool:
            y = y.astype(int)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if len(y) == 0:
            raise ValueError("no labelled rows to fit the passivation model")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("y must be 0/1 (use map_labels on the passivation labels)")
        y = y.astype(int)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        counts = np.bincount(y, minlength=2)
        self.constant_ = None
        self.calibrated_ = False
        self.n_splits_ = 0
        if counts.min() == 0:
            self.constant_ = int(np.argmax(counts))
            warnings.warn(f"passivation training set has only class {self.constant_}: "
                          "predicting it with probability 1", MetricUndefinedWarning,
                          stacklevel=2)
            self.model_ = None
            return self
        k = min(int(self.cv), int(counts.min()))
        if k < 2:
            warnings.warn("a passivation class has a single training row: the classifier is "
                          "fitted without probability calibration", MetricUndefinedWarning,
                          stacklevel=2)
            with self._threads():
                self.model_ = self._pipeline().fit(X, y)
            return self
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=self.random_state)
        with self._threads():
            self.model_ = CalibratedClassifierCV(self._pipeline(), method=self.calibration,
                                                 cv=folds).fit(X, y)
        self.calibrated_ = True
        self.n_splits_ = k
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        if not isinstance(X, pd.DataFrame):
            X = np.asarray(X, dtype=float)
        if self.constant_ is not None:
            p = np.full(len(X), float(self.constant_))
        else:
            with self._threads():
                p = self.model_.predict_proba(X)[:, 1]
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict_p_passivating(self, X) -> np.ndarray:
        """Calibrated p(passivating) per row."""
        return self.predict_proba(X)[:, 1]

    def predict(self, X) -> np.ndarray:
        return (self.predict_p_passivating(X) >= 0.5).astype(int)


# ----------------------------------------------------------------------------------- metrics


def _check_binary(y_true, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"{len(p)} predictions for {len(y)} labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 0/1")
    return y, p


def roc_auc(y_true, p) -> float:
    """ROC-AUC of p(passivating); undefined (NaN with reason) when y_true has one class."""
    y, p = _check_binary(y_true, p)
    if len(np.unique(y)) < 2:
        return undefined("only one class in y_true", "ROC-AUC")
    if not np.isfinite(p).all():
        return undefined("non-finite probabilities", "ROC-AUC")
    return float(roc_auc_score(y, p))


def brier(y_true, p) -> float:
    """Brier score (mean squared error of p(passivating)); lower is better."""
    y, p = _check_binary(y_true, p)
    if len(y) == 0:
        return undefined("no samples", "Brier score")
    if not np.isfinite(p).all():
        return undefined("non-finite probabilities", "Brier score")
    return float(brier_score_loss(y, p, labels=[0, 1]))


def accuracy(y_true, p, threshold: float = 0.5) -> float:
    """Accuracy of ``p >= threshold`` (0/1 predictions pass through unchanged)."""
    y, p = _check_binary(y_true, p)
    if len(y) == 0:
        return undefined("no samples", "accuracy")
    return float(accuracy_score(y, (p >= threshold).astype(int)))


def classification_metrics(y_true, p) -> dict[str, float]:
    """``{"roc_auc", "brier", "accuracy"}`` of p(passivating) (undefined ones are NaN)."""
    return {"roc_auc": roc_auc(y_true, p), "brier": brier(y_true, p),
            "accuracy": accuracy(y_true, p)}
