"""Pieces shared by the model modules: config flattening and metrics that may be undefined."""

from __future__ import annotations

import warnings
from typing import Any


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
