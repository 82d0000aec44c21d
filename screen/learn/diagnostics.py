"""Diagnostic figures of a training run, logged as MLflow artifacts (PNG).

Each target adds its own figures (its registry entry's ``diagnostics``: e.g. parity and
residuals for overpotential, a reliability diagram for passivation). Permutation importance of the
final model on its training rows (every target), by feature group: a whole component block
(anion, solvent, additive, coating) is shuffled at once, each test-condition feature alone — it
answers "which component drives the prediction" at a cost of ~30 groups instead of ~220
features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring

from screen.learn import plots, tracking
from screen.learn.cv import CVResult
from screen.learn.modeling_data import TargetData
from screen.learn.tasks import BaseTask


def feature_groups(columns: list[str]) -> dict[str, list[str]]:
    """Permutation groups: each component block (anion, solvent, additive, coating) as one
    group, the overpotential kinds as one group, every ``system__`` feature on its own."""
    groups: dict[str, list[str]] = {}
    for column in columns:
        block, _, name = column.partition("__")
        key = column if block == "system" else block
        groups.setdefault(key, []).append(column)
    return groups


def grouped_permutation_importance(estimator, X: pd.DataFrame, y, scoring,
                                   groups: dict[str, list[str]], n_repeats: int,
                                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the score drop when the rows of one feature group are shuffled together
    (one permutation per repeat, shared by the group's columns). ``scoring`` as in sklearn."""
    scorer = check_scoring(estimator, scoring=scoring)
    rng = np.random.default_rng(seed)
    base = scorer(estimator, X, y)
    drops = np.empty((len(groups), n_repeats))
    for i, columns in enumerate(groups.values()):
        for r in range(n_repeats):
            shuffled = X.copy()
            shuffled[columns] = X[columns].to_numpy()[rng.permutation(len(X))]
            drops[i, r] = base - scorer(estimator, shuffled, y)
    return drops.mean(axis=1), drops.std(axis=1)


def _importance(task: BaseTask, td: TargetData, model) -> None:
    groups = feature_groups(list(td.X.columns))
    mean, sd = grouped_permutation_importance(model.estimator_, td.X, td.y,
                                              task.spec.importance_scoring(), groups,
                                              n_repeats=3, seed=task.seed)
    fig = plots.permutation_importance_plot(mean, sd, list(groups),
                                            title="Permutation importance (feature groups)")
    tracking.log_figure(fig, "permutation_importance.png")
    tracking.log_table(pd.DataFrame({"group": list(groups), "importance_mean": mean,
                                     "importance_sd": sd}).sort_values("importance_mean",
                                                                       ascending=False),
                       "permutation_importance.csv")


def log_diagnostics(task: BaseTask, td: TargetData, results: list[CVResult], model,
                    config: dict) -> None:
    """Make and log the figures of one target: its own (from its registry entry) and the
    grouped permutation importance."""
    for name, figure in task.spec.diagnostics(td, results, model, config).items():
        tracking.log_figure(figure, name)
    _importance(task, td, model)
