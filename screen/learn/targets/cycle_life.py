"""Target ``cycle_life``: how long a cell cycles, as right-censored survival data.

"Over 700 h" is a lower bound (censored), not a value. Rows: a cycle life in ``data.unit``
(``h`` → ``cycle_life_h`` or ``cycles`` → ``cycle_life_cycles``, never mixed) with its
``cycle_life_censored`` flag; y is a scikit-survival structured array (event = the cell
failed, time). Candidates: the configured survival ``model``, ``dummy`` (Kaplan–Meier) and
``names_rf`` (a random survival forest on names). Primary metric: Harrell's C-index (higher is
better). Predictions (``<unit>`` = ``h`` or ``cycles``): ``cycle_life_<unit>_pred`` (median
life), ``..._pred_is_lower_bound`` (the survival curve stays above 0.5 within the training
follow-up), ``cycle_life_<unit>_low`` / ``_high`` (lower / upper quartile life) and
``p_life_gt_<horizon>``. Estimators: :mod:`screen.learn.models.cycle_life`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from screen.learn.registry import Measured, Objective, Target, register_target
from screen.learn.tasks import BaseTask, names_baseline

UNITS = {"h": "cycle_life_h", "cycles": "cycle_life_cycles"}
#: Desirability anchors (best, worst) per unit.
ANCHORS = {"h": (2000.0, 10.0), "cycles": (1000.0, 5.0)}


def columns(unit: str) -> dict[str, str]:
    """Prediction columns of a model trained in ``unit``."""
    return {"point": f"cycle_life_{unit}_pred", "optimistic": f"cycle_life_{unit}_high",
            "pessimistic": f"cycle_life_{unit}_low",
            "lower_bound": f"cycle_life_{unit}_pred_is_lower_bound"}


class CycleLifeTask(BaseTask):
    """Right-censored cycle life: survival models, C-index and integrated Brier score."""

    def times(self, td) -> np.ndarray:
        """Evaluation grid for survival probabilities: quantiles of the observed times."""
        return np.unique(np.quantile(td.y["time"], np.linspace(0.1, 0.9, 9)))

    def make(self, candidate: str):
        from screen.learn.models.cycle_life import KaplanMeierBaseline, make_survival_model

        if candidate == "model":
            return make_survival_model(self.config["model"], self.seed)
        if candidate == "dummy":
            return KaplanMeierBaseline()
        from sksurv.ensemble import RandomSurvivalForest

        return names_baseline(RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=3, random_state=self.seed, n_jobs=2))

    def fit_predict(self, candidate, td, train, test):
        from screen.learn.models.cycle_life import survival_at

        if not td.y[train]["event"].any():  # no failure to learn from: everyone alike
            return {"risk": np.zeros(len(test)),
                    "surv": np.ones((len(test), len(self.times(td))))}
        estimator = self.make(candidate)
        X_train, X_test = self.inputs(candidate, td, train), self.inputs(candidate, td, test)
        estimator.fit(X_train, td.y[train])
        return {"risk": np.asarray(estimator.predict(X_test), dtype=float),
                "surv": survival_at(estimator, X_test, self.times(td))}

    def metrics(self, candidate, td, test, outputs, train):
        from screen.learn.models.cycle_life import c_index, integrated_brier

        y = td.y[test]
        out = {"n_events": float(y["event"].sum())}
        out["c_index"] = c_index(y, np.asarray(outputs["risk"], dtype=float))
        reference = td.y if train is None else td.y[train]
        out["ibs"] = integrated_brier(reference, y, np.asarray(outputs["surv"], dtype=float),
                                      self.times(td))
        return out


def _c_index_scorer(estimator, X, y) -> float:
    from screen.learn.models.cycle_life import c_index

    return c_index(y, np.asarray(estimator.predict(X), dtype=float))


class CycleLife(Target):
    """See the module docstring."""

    order = 1
    name = "cycle_life"
    label = "cycle life"
    unit = "h"
    label_columns = ("cycle_life_h", "cycle_life_cycles", "cycle_life_censored")
    primary_metric = "c_index"
    higher_is_better = True
    report_metrics = ("ibs", "n_events")
    config_tables = {"data": {"unit": str}, "evaluation": {"horizon": float}}
    objectives = (Objective(
        name="cycle_life", label="cycle life", unit="h", short="life", columns=columns("h"),
        maximize=True, anchors=ANCHORS["h"], scale="log", decimals=0, interval_level=0.5),)
    effect = "ratio"

    @property
    def skops_trusted_types(self) -> tuple[str, ...]:  # type: ignore[override]
        from screen.learn.models.cycle_life import SKOPS_TRUSTED_TYPES

        return tuple(SKOPS_TRUSTED_TYPES)

    def task(self, config):
        return CycleLifeTask(config)

    @staticmethod
    def _column(config) -> str:
        unit = config["data"]["unit"]
        if unit not in UNITS:
            raise ValueError(f"data.unit {unit!r}; accepted: {', '.join(UNITS)}")
        return UNITS[unit]

    def select(self, frame, config):
        from sksurv.util import Surv

        column = self._column(config)
        keep = (frame[column].notna() & frame["cycle_life_censored"].notna())
        keep = keep.fillna(False).to_numpy(bool)
        rows = frame.loc[keep]
        y = Surv.from_arrays(event=~rows["cycle_life_censored"].to_numpy(bool),
                             time=rows[column].to_numpy(float))
        return keep, y

    def model_settings(self, config):
        return {"unit": config["data"].get("unit", "h"),
                "horizon": float(config.get("evaluation", {}).get("horizon", 500.0))}

    def main_prediction(self, estimator, X, settings):
        return np.asarray(estimator.predict_median(X), dtype=float)

    def predict_table(self, estimator, X, settings):
        unit, horizon = settings.get("unit", "h"), float(settings.get("horizon", 500.0))
        names = columns(unit)
        life = estimator.life_table(X, horizon)
        return pd.DataFrame({names["point"]: life["median"],
                             names["lower_bound"]: life["median_is_lower_bound"],
                             names["pessimistic"]: life["q25"],
                             names["optimistic"]: life["q75"],
                             f"p_life_gt_{horizon:g}": life["p_gt_horizon"]}, index=X.index)

    def resolved_objectives(self, settings):
        unit = settings.get("unit", "h")
        return tuple(replace(o, unit=unit, columns=columns(unit), anchors=ANCHORS[unit])
                     for o in self.objectives)

    def diagnostics(self, td, results, model, config):
        from screen.learn import plots
        from screen.learn.models.cycle_life import survival_at

        times = np.unique(np.quantile(td.y["time"], np.linspace(0.0, 1.0, 25)))
        curves = survival_at(model.estimator_, td.X.head(8), times)
        labels = [f"{a} / {s}" for a, s in zip(td.names["anion"].head(8),
                                               td.names["solvent"].head(8), strict=True)]
        return {"survival_curves.png": plots.survival_plot(times, curves, labels)}

    def importance_scoring(self):
        return _c_index_scorer

    def measured(self, frame, settings):
        column = UNITS.get(settings.get("unit", "h"), "cycle_life_h")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        censored = frame["cycle_life_censored"].astype("boolean").fillna(False).to_numpy(bool)
        return Measured(values, censored & np.isfinite(values))

    def report_extras(self, frame):
        return [(f"P(life > {c[len('p_life_gt_'):]} h)", c) for c in frame.columns
                if str(c).startswith("p_life_gt_")]

    def describe_measured(self, row):
        value = row.get("cycle_life_h")
        if value is None or pd.isna(value):
            return None
        prefix = "> " if bool(row.get("cycle_life_censored")) else ""
        return f"life {prefix}{value:g} h"


register_target(CycleLife)
