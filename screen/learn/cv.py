"""Cross-validation: random K-fold beside grouped schemes (leave one anion family / one source
out), for the model and its baselines, with per-fold, pooled out-of-fold and per-group metrics.

A *task* (a target's :meth:`~screen.learn.registry.Target.task`) knows, for one target, how to fit
a candidate on a fold and
turn its predictions into metrics; this module only splits and collects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, LeaveOneGroupOut

from screen.learn.modeling_data import TargetData


class Task(Protocol):
    """What :func:`cross_validate` needs of a target (implemented in :mod:`screen.learn.tasks`)."""

    def fit_predict(self, candidate: str, td: TargetData, train: np.ndarray,
                    test: np.ndarray) -> dict[str, np.ndarray]: ...

    def metrics(self, candidate: str, td: TargetData, test: np.ndarray,
                outputs: dict[str, np.ndarray], train: np.ndarray | None) -> dict[str, float]: ...


def splits(scheme: str, td: TargetData, n_splits: int, seed: int) -> list[tuple[np.ndarray,
                                                                                  np.ndarray]]:
    """Train/test index pairs. ``random``: shuffled K-fold; ``anion_family`` / ``source``:
    leave one group out (a scheme with a single group cannot be evaluated → ValueError)."""
    n = len(td.y)
    if scheme == "random":
        folds = KFold(n_splits=min(n_splits, n), shuffle=True, random_state=seed)
        return list(folds.split(np.zeros(n)))
    groups = td.groups[scheme]
    if len(set(groups)) < 2:
        raise ValueError(f"CV scheme {scheme!r} needs at least 2 groups; the data have "
                         f"{len(set(groups))}")
    return list(LeaveOneGroupOut().split(np.zeros(n), groups=groups))


@dataclass
class CVResult:
    """Results of one candidate under one scheme."""

    scheme: str
    candidate: str
    folds: list[dict[str, float]]  # per fold (with 'fold', 'group', 'n_test')
    pooled: dict[str, float]  # metrics on all out-of-fold predictions together
    oof: dict[str, np.ndarray] = field(default_factory=dict)  # out-of-fold outputs per row
    stopped: bool = False  # the fold callback ended the loop early

    def summary(self) -> dict[str, float]:
        """Pooled metrics plus mean and sd over folds (``<metric>_fold_mean/_sd``)."""
        out = dict(self.pooled)
        frame = pd.DataFrame(self.folds)
        for column in frame.columns:
            if column in ("fold", "group", "n_test"):
                continue
            values = pd.to_numeric(frame[column], errors="coerce").dropna()
            out[f"{column}_fold_mean"] = float(values.mean()) if len(values) else float("nan")
            with np.errstate(invalid="ignore"):  # an infinite value (open interval): sd NaN
                out[f"{column}_fold_sd"] = float(values.std(ddof=0)) if len(values) \
                    else float("nan")
        return out


#: ``on_fold(fold_index, fold_metrics, folds_so_far)`` → True stops the loop early.
FoldCallback = Callable[[int, dict[str, float], list[dict[str, Any]]], bool]


def cross_validate(task: Task, td: TargetData, candidate: str, scheme: str, n_splits: int,
                   seed: int, on_fold: FoldCallback | None = None) -> CVResult:
    """Out-of-fold predictions and metrics of one candidate under one scheme.

    ``on_fold`` is called after each fold (tuning reports to its pruner there); when it
    returns True the loop stops and the result has ``stopped=True`` and NaN pooled metrics.
    """
    folds: list[dict[str, Any]] = []
    oof: dict[str, np.ndarray] = {}
    for i, (train, test) in enumerate(splits(scheme, td, n_splits, seed)):
        outputs = task.fit_predict(candidate, td, train, test)
        for key, values in outputs.items():
            if key not in oof:
                shape = (len(td.y),) + np.shape(values)[1:]
                oof[key] = np.full(shape, np.nan)
            oof[key][test] = values
        group = "" if scheme == "random" else str(td.groups[scheme][test][0])
        metrics = task.metrics(candidate, td, test, outputs, train)
        folds.append({"fold": i, "group": group, "n_test": len(test), **metrics})
        if on_fold is not None and on_fold(i, metrics, folds):
            return CVResult(scheme, candidate, folds, {}, oof, stopped=True)
    everything = np.arange(len(td.y))
    pooled = task.metrics(candidate, td, everything, oof, None)
    return CVResult(scheme, candidate, folds, pooled, oof)
