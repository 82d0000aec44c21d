"""Pieces shared by the model modules: config flattening, metrics that may be undefined, and
the median imputer of every pipeline."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.utils.validation import check_is_fitted


def flatten_config(params: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """Merge a nested ``params`` table (``[model.params]`` in TOML) into the flat config dict;
    a key given both ways raises ValueError naming it (``what`` names the model)."""
    params = dict(params or {})
    nested = params.pop("params", None) or {}
    if not isinstance(nested, dict):
        raise ValueError(f"{what} config 'params' must be a table of hyperparameters")
    clash = sorted(set(params) & set(nested))
    if clash:
        raise ValueError(f"{what} config key(s) {clash} given both directly and under 'params'")
    params.update(nested)
    return params


def check_family_params(what: str, family: str, hyper: dict[str, Any],
                        accepted: dict[str, tuple[str, ...]],
                        wrapper_keys: tuple[str, ...]) -> None:
    """ValueError naming an unknown ``family`` or hyperparameter and what is accepted."""
    if family not in accepted:
        raise ValueError(f"unknown {what} family {family!r}; accepted: {', '.join(accepted)}")
    for key in hyper:
        if key not in accepted[family]:
            raise ValueError(
                f"unknown {what} parameter {key!r} for family {family!r}; accepted keys: "
                f"{', '.join((*wrapper_keys, *accepted[family]))}")


class MetricUndefinedWarning(UserWarning):
    """A metric (or a model) could not be computed as asked; the message says why."""


class UndefinedMetric(float):
    """NaN that remembers why the metric is undefined (``.reason``); behaves as a float."""

    reason: str

    def __new__(cls, reason: str = "undefined"):
        obj = super().__new__(cls, "nan")
        obj.reason = reason
        return obj

    def __reduce__(self):
        return (type(self), (self.reason,))

    def __repr__(self) -> str:
        return f"nan ({self.reason})"


def undefined(reason: str, metric: str) -> UndefinedMetric:
    """Warn (:class:`MetricUndefinedWarning`) and return an :class:`UndefinedMetric`."""
    warnings.warn(f"{metric} undefined: {reason}", MetricUndefinedWarning, stacklevel=3)
    return UndefinedMetric(reason)


#: Types every model module's ``SKOPS_TRUSTED_TYPES`` starts with: the pipelines' imputer and
#: numpy's dtype (not trusted by skops by default).
COMMON_TRUSTED_TYPES: tuple[str, ...] = ("screen.learn.models.common.MedianImputer", "numpy.dtype")


class MedianImputer(SimpleImputer):
    """``SimpleImputer(strategy='median', keep_empty_features=True)`` that passes NaN-free
    float input through untouched.

    SimpleImputer validates, copies and scans every input; for a table without a missing
    value its output equals the input, so this class returns the input's array directly
    (same values, same dtype) and only imputes when there is something to impute. Used in
    every model pipeline and the applicability domain, where screening libraries of 10^6
    complete candidates would otherwise be copied several times per model.
    """

    def __init__(self, *, missing_values=np.nan, strategy="median", fill_value=None,
                 copy=True, add_indicator=False, keep_empty_features=True):
        super().__init__(missing_values=missing_values, strategy=strategy,
                         fill_value=fill_value, copy=copy, add_indicator=add_indicator,
                         keep_empty_features=keep_empty_features)

    def transform(self, X):
        """Impute missing values; NaN-free float input is returned as its array."""
        values = self._passthrough(X)
        return values if values is not None else super().transform(X)

    def _passthrough(self, X) -> np.ndarray | None:
        check_is_fitted(self, "statistics_")
        if self.add_indicator or not self.keep_empty_features \
                or not (isinstance(self.missing_values, float) and np.isnan(self.missing_values)):
            return None
        if isinstance(X, pd.DataFrame):
            names = getattr(self, "feature_names_in_", None)
            if names is None or list(X.columns) != list(names):
                return None
            values = X.to_numpy()
        elif isinstance(X, np.ndarray) and not hasattr(self, "feature_names_in_"):
            values = X
        else:
            return None
        if values.ndim != 2 or values.shape[1] != self.n_features_in_ \
                or values.dtype.kind != "f" or np.isnan(values).any():
            return None
        return values
