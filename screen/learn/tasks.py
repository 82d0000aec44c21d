"""What every target's CV task shares: config access, the candidates compared in CV (the model
and two baselines) and their inputs.

Candidates: ``model`` (from the config), ``dummy`` (the target's trivial predictor: mean,
Kaplan–Meier, class prior ...) and ``names_rf`` (a random forest on one-hot component names:
metal, anion, solvent, additive, coating). A target's module subclasses :class:`BaseTask` with
``make`` (a fresh estimator per candidate), ``fit_predict`` and ``metrics`` (the
:class:`~screen.learn.cv.Task` protocol).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from screen.learn.modeling_data import TargetData

CANDIDATES = ("model", "dummy", "names_rf")


def names_baseline(estimator):
    """The ``names_rf`` baseline: one-hot component names (unknown names ignored) → estimator."""
    return make_pipeline(OneHotEncoder(handle_unknown="ignore"), estimator)


class BaseTask:
    """Shared parts: config access and candidate inputs."""

    candidates: tuple[str, ...] = CANDIDATES

    def __init__(self, config: dict):
        from screen.learn.registry import get_target

        self.config = config
        self.seed = int(config["seed"])
        self.spec = get_target(config["target"])
        self.target = self.spec.name
        self.primary_metric = self.spec.primary_metric
        self.higher_is_better = self.spec.higher_is_better

    def names(self, td: TargetData) -> pd.DataFrame:
        """Input of the ``names_rf`` baseline."""
        return td.names

    def inputs(self, candidate: str, td: TargetData, idx: np.ndarray) -> pd.DataFrame:
        """Rows ``idx`` of the candidate's input table."""
        table = self.names(td) if candidate == "names_rf" else td.X
        return table.iloc[idx]

    def make(self, candidate: str):
        """A fresh, unfitted estimator for the candidate."""
        raise NotImplementedError


class RegressionTask(BaseTask):
    """A regression target: the candidates of :attr:`interval_candidates` get a CV+ conformal
    interval (``[uncertainty]`` of the config), the others a point prediction; ``dummy`` is the
    training mean, ``names_rf`` a random forest on the names. Subclasses give
    :meth:`make_model`, and :meth:`back` when the estimators learn a transformed scale."""

    interval_candidates: tuple[str, ...] = ("model",)

    def make_model(self, candidate: str):
        """A fresh estimator for a candidate other than the two baselines."""
        raise NotImplementedError

    def make(self, candidate: str):
        from sklearn.dummy import DummyRegressor
        from sklearn.ensemble import RandomForestRegressor

        if candidate == "dummy":
            return DummyRegressor(strategy="mean")
        if candidate == "names_rf":
            return names_baseline(RandomForestRegressor(
                n_estimators=100, min_samples_leaf=2, random_state=self.seed, n_jobs=2))
        return self.make_model(candidate)

    def back(self, values: np.ndarray) -> np.ndarray:
        """From the scale the estimators learn to the scale of the outputs (default: same)."""
        return np.asarray(values, dtype=float)

    @property
    def conformity(self) -> str:
        """The config's ``uncertainty.conformity`` score (absolute if not given)."""
        return self.config["uncertainty"].get("conformity", "absolute")

    def interval_options(self) -> dict:
        """Extra keyword arguments of the conformal interval (default: the native CV+ with
        :attr:`conformity`)."""
        return {"backend": "native", "conformity_score": self.conformity}

    def conformal_model(self, seed: int):
        """The unfitted final model: the config's model inside a CV+ ``ConformalRegressor``
        with the config's ``[uncertainty]``."""
        from screen.learn.models.overpotential import ConformalRegressor

        unc = self.config["uncertainty"]
        return ConformalRegressor(self.make("model"), confidence=unc["confidence"], cv=unc["cv"],
                                  random_state=seed, conformity_score=self.conformity)

    def fit_predict(self, candidate, td, train, test):
        from screen.learn.models.overpotential import fit_predict_intervals

        X_train, X_test = self.inputs(candidate, td, train), self.inputs(candidate, td, test)
        estimator = self.make(candidate)
        if candidate in self.interval_candidates:
            unc = self.config["uncertainty"]
            pred, low, high = fit_predict_intervals(
                estimator, X_train, td.y[train], X_test, confidence=unc["confidence"],
                cv=unc["cv"], random_state=self.seed, **self.interval_options())
            return {"pred": self.back(pred), "low": self.back(low), "high": self.back(high)}
        return {"pred": self.back(estimator.fit(X_train, td.y[train]).predict(X_test))}


def make_task(config: dict) -> BaseTask:
    """The task object of ``config['target']`` (from the target registry)."""
    from screen.learn.registry import get_target

    return get_target(config["target"]).task(config)
