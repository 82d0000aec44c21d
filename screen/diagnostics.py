"""Diagnostic figures of a training run, logged as MLflow artifacts (PNG).

Out-of-fold predictions of the primary CV scheme: parity plot with conformal intervals and
residuals by anion family (overpotential), reliability diagram (passivation). Empirical interval
coverage per scheme against the nominal level (overpotential). Permutation importance of the
final model on its training rows (every target), by feature group: a whole component block
(anion, solvent, additive, coating) is shuffled at once, each test-condition feature alone — it
answers "which component drives the prediction" at a cost of ~30 groups instead of ~220
features. Survival curves of training systems (cycle life).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring

from screen import plots, tracking
from screen.cv import CVResult
from screen.modeling_data import TargetData
from screen.tasks import BaseTask


def _primary(results: list[CVResult], config: dict) -> CVResult:
    return next(r for r in results
                if r.scheme == config["cv"]["primary"] and r.candidate == "model")


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
    from screen.models.cycle_life import c_index

    estimator = model.estimator_
    if task.target == "overpotential":
        scoring = "neg_mean_absolute_error"
    elif task.target == "passivation":
        scoring = "neg_brier_score"
    else:
        def scoring(est, X, y):
            return c_index(y, np.asarray(est.predict(X), dtype=float))
    groups = feature_groups(list(td.X.columns))
    mean, sd = grouped_permutation_importance(estimator, td.X, td.y, scoring, groups,
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
    """Make and log the figures of one target (see the module docstring)."""
    primary = _primary(results, config)
    scheme = primary.scheme
    if task.target == "overpotential":
        oof = primary.oof
        tracking.log_figure(plots.parity_plot(td.y, oof["pred"], f"Overpotential, {scheme} CV",
                                              low=oof.get("low"), high=oof.get("high")),
                            "parity.png")
        tracking.log_figure(plots.residuals_by_group(td.y, oof["pred"],
                                                     td.groups["anion_family"],
                                                     f"Residuals by anion family, {scheme} CV"),
                            "residuals_by_anion_family.png")
        schemes = [r.scheme for r in results if r.candidate == "model"]
        coverage = [r.pooled.get("coverage", np.nan) for r in results if r.candidate == "model"]
        tracking.log_figure(plots.coverage_by_fold_plot(
            schemes, coverage, config["uncertainty"]["confidence"],
            title="Conformal interval coverage (pooled out-of-fold)", xlabel="CV scheme"),
            "interval_reliability.png")
    elif task.target == "passivation":
        tracking.log_figure(plots.calibration_plot(td.y, primary.oof["p"],
                                                   f"Passivation, {scheme} CV"),
                            "calibration.png")
    else:
        from screen.models.cycle_life import survival_at

        times = np.unique(np.quantile(td.y["time"], np.linspace(0.0, 1.0, 25)))
        curves = survival_at(model.estimator_, td.X.head(8), times)
        labels = [f"{a} / {s}" for a, s in zip(td.names["anion"].head(8),
                                               td.names["solvent"].head(8), strict=True)]
        tracking.log_figure(plots.survival_plot(times, curves, labels), "survival_curves.png")
    _importance(task, td, model)
