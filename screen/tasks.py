"""Per-target training logic: the candidates compared in CV (the model and two baselines), how
each is fit on a fold, and the metrics.

Candidates: ``model`` (from the config), ``dummy`` (mean / Kaplan–Meier / class prior) and
``names_rf`` (a random forest on one-hot component names: metal, anion, solvent, additive,
coating — plus the overpotential kind for that target). For overpotential the physics-informed
Butler–Volmer model (``physics``, default hyperparameters) is cross-validated beside a direct
``model`` in the same folds; it predicts only rows with a current density (``n_predicted``).
Primary metrics (decide the champion, on the config's primary CV scheme, pooled out-of-fold):
overpotential MAE (lower is better),
cycle life Harrell's C-index (higher), passivation Brier score (lower).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from screen.modeling_data import TargetData

CANDIDATES = ("model", "dummy", "names_rf")


def _names_encoder() -> OneHotEncoder:
    return OneHotEncoder(handle_unknown="ignore")


class BaseTask:
    """Shared parts: config access and candidate inputs."""

    candidates: tuple[str, ...] = CANDIDATES
    target: str
    primary_metric: str
    higher_is_better: bool

    def __init__(self, config: dict):
        self.config = config
        self.seed = int(config["seed"])

    def names(self, td: TargetData) -> pd.DataFrame:
        """Input of the ``names_rf`` baseline."""
        return td.names

    def inputs(self, candidate: str, td: TargetData, idx: np.ndarray) -> pd.DataFrame:
        """Rows ``idx`` of the candidate's input table."""
        table = self.names(td) if candidate == "names_rf" else td.X
        return table.iloc[idx]


class OverpotentialTask(BaseTask):
    """Overpotential regression (V) with conformal intervals for the model."""

    target = "overpotential"
    primary_metric = "mae"
    higher_is_better = False

    def __init__(self, config: dict):
        super().__init__(config)
        if config["model"]["family"] != "butler_volmer":
            self.candidates = ("model", "physics", "dummy", "names_rf")

    def names(self, td: TargetData) -> pd.DataFrame:
        out = td.names.copy()
        out["overpotential_kind"] = td.rows["overpotential_kind"].astype(str).to_numpy()
        return out

    def make(self, candidate: str):
        """A fresh, unfitted estimator for the candidate."""
        from screen.models.overpotential import make_overpotential_model

        if candidate == "model":
            return make_overpotential_model(self.config["model"], self.seed)
        if candidate == "physics":
            return make_overpotential_model({"family": "butler_volmer"}, self.seed)
        if candidate == "dummy":
            return DummyRegressor(strategy="mean")
        return make_pipeline(_names_encoder(), RandomForestRegressor(
            n_estimators=100, min_samples_leaf=2, random_state=self.seed, n_jobs=2))

    def fit_predict(self, candidate, td, train, test):
        from screen.models.overpotential import fit_predict_intervals

        X_train, X_test = self.inputs(candidate, td, train), self.inputs(candidate, td, test)
        estimator = self.make(candidate)
        if candidate in ("model", "physics"):
            unc = self.config["uncertainty"]
            pred, low, high = fit_predict_intervals(
                estimator, X_train, td.y[train], X_test, confidence=unc["confidence"],
                cv=unc["cv"], random_state=self.seed)
            return {"pred": pred, "low": low, "high": high}
        estimator.fit(X_train, td.y[train])
        return {"pred": estimator.predict(X_test)}

    def metrics(self, candidate, td, test, outputs, train):
        y, pred = td.y[test], np.asarray(outputs["pred"], dtype=float)
        ok = np.isfinite(pred)
        out = {"n_predicted": float(ok.sum())}
        if not ok.any():
            return out
        err = pred[ok] - y[ok]
        out["mae"] = float(np.mean(np.abs(err)))
        out["rmse"] = float(np.sqrt(np.mean(err**2)))
        if ok.sum() >= 3 and np.ptp(y[ok]) > 0 and np.ptp(pred[ok]) > 0:
            out["spearman"] = float(spearmanr(y[ok], pred[ok]).statistic)
        if "low" in outputs:
            low, high = np.asarray(outputs["low"])[ok], np.asarray(outputs["high"])[ok]
            out["coverage"] = float(np.mean((y[ok] >= low) & (y[ok] <= high)))
            out["interval_width"] = float(np.mean(high - low))
        return out


class CycleLifeTask(BaseTask):
    """Right-censored cycle life: survival models, C-index and integrated Brier score."""

    target = "cycle_life"
    primary_metric = "c_index"
    higher_is_better = True

    def times(self, td: TargetData) -> np.ndarray:
        """Evaluation grid for survival probabilities: quantiles of the observed times."""
        return np.unique(np.quantile(td.y["time"], np.linspace(0.1, 0.9, 9)))

    def make(self, candidate: str):
        from screen.models.cycle_life import KaplanMeierBaseline, make_survival_model

        if candidate == "model":
            return make_survival_model(self.config["model"], self.seed)
        if candidate == "dummy":
            return KaplanMeierBaseline()
        from sksurv.ensemble import RandomSurvivalForest

        return make_pipeline(_names_encoder(), RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=3, random_state=self.seed, n_jobs=2))

    def fit_predict(self, candidate, td, train, test):
        from screen.models.cycle_life import survival_at

        if not td.y[train]["event"].any():  # no failure to learn from: everyone alike
            return {"risk": np.zeros(len(test)),
                    "surv": np.ones((len(test), len(self.times(td))))}
        estimator = self.make(candidate)
        X_train, X_test = self.inputs(candidate, td, train), self.inputs(candidate, td, test)
        estimator.fit(X_train, td.y[train])
        return {"risk": np.asarray(estimator.predict(X_test), dtype=float),
                "surv": survival_at(estimator, X_test, self.times(td))}

    def metrics(self, candidate, td, test, outputs, train):
        from screen.models.cycle_life import c_index, integrated_brier

        y = td.y[test]
        out = {"n_events": float(y["event"].sum())}
        out["c_index"] = c_index(y, np.asarray(outputs["risk"], dtype=float))
        reference = td.y if train is None else td.y[train]
        out["ibs"] = integrated_brier(reference, y, np.asarray(outputs["surv"], dtype=float),
                                      self.times(td))
        return out


class PassivationTask(BaseTask):
    """Passivation tendency: calibrated probability of a passivating interface."""

    target = "passivation"
    primary_metric = "brier"
    higher_is_better = False

    def make(self, candidate: str):
        from screen.models.passivation import make_classifier

        if candidate == "model":
            return make_classifier(self.config["model"], self.seed)
        if candidate == "dummy":
            return DummyClassifier(strategy="prior")
        return make_pipeline(_names_encoder(), RandomForestClassifier(
            n_estimators=100, min_samples_leaf=2, random_state=self.seed, n_jobs=2))

    def fit_predict(self, candidate, td, train, test):
        y_train = td.y[train]
        if len(np.unique(y_train)) < 2:  # a fold whose training rows carry one class only
            return {"p": np.full(len(test), float(y_train[0]))}
        estimator = self.make(candidate)
        estimator.fit(self.inputs(candidate, td, train), y_train)
        return {"p": estimator.predict_proba(self.inputs(candidate, td, test))[:, 1]}

    def metrics(self, candidate, td, test, outputs, train):
        from screen.models.passivation import classification_metrics

        return classification_metrics(td.y[test], np.asarray(outputs["p"], dtype=float))


TASKS = {"overpotential": OverpotentialTask, "cycle_life": CycleLifeTask,
         "passivation": PassivationTask}


def make_task(config: dict) -> BaseTask:
    """The task object of ``config['target']``."""
    return TASKS[config["target"]](config)
