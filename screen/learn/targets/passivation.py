"""Target ``passivation``: the calibrated probability that an anode/electrolyte interface
passivates.

Rows: one per *system* (passivation is a property of the electrolyte/anode system, not of a
test condition): the system's label is decided from its labelled rows
(:func:`screen.data.systems.system_labels`) and the system is represented by its first labelled
row, so one system measured at sixteen conditions counts once in training and in every
cross-validation metric. y = 1 passivating, 0 non_passivating, ``partial`` mapped by
``data.partial_as`` (``passivating``, ``non_passivating`` or ``drop``). Candidates: the
configured classifier ``model``, ``dummy`` (class prior) and ``names_rf``. Primary metric:
Brier score (lower is better). Prediction: ``p_passivating``. Estimators:
:mod:`screen.learn.models.passivation`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier

from screen.learn.registry import Measured, Objective, Target, register_target
from screen.learn.tasks import BaseTask, names_baseline

PARTIAL_AS = ("passivating", "non_passivating", "drop")
P_PASS = "p_passivating"
#: Measured labels on the probability scale (reports compare them with ``p_passivating``).
LABEL_VALUE = {"passivating": 1.0, "partial": 0.5, "non_passivating": 0.0}


class PassivationTask(BaseTask):
    """Passivation tendency: calibrated probability of a passivating interface."""

    def make(self, candidate: str):
        from screen.learn.models.passivation import make_classifier

        if candidate == "model":
            return make_classifier(self.config["model"], self.seed)
        if candidate == "dummy":
            return DummyClassifier(strategy="prior")
        return names_baseline(RandomForestClassifier(
            n_estimators=100, min_samples_leaf=2, random_state=self.seed, n_jobs=2))

    def fit_predict(self, candidate, td, train, test):
        y_train = td.y[train]
        if len(np.unique(y_train)) < 2:  # a fold whose training rows carry one class only
            return {"p": np.full(len(test), float(y_train[0]))}
        estimator = self.make(candidate)
        estimator.fit(self.inputs(candidate, td, train), y_train)
        return {"p": estimator.predict_proba(self.inputs(candidate, td, test))[:, 1]}

    def metrics(self, candidate, td, test, outputs, train):
        from screen.learn.models.passivation import classification_metrics

        return classification_metrics(td.y[test], np.asarray(outputs["p"], dtype=float))


class Passivation(Target):
    """See the module docstring."""

    order = 3
    name = "passivation"
    label = "passivation"
    unit = ""
    label_columns = ("passivation",)
    primary_metric = "brier"
    higher_is_better = False
    report_metrics = ("roc_auc", "accuracy")
    config_tables = {"data": {"partial_as": str}}
    effect_decimals = 2
    objectives = (Objective(
        name="passivation", label="passivation", unit="", short="p_pass",
        columns={"point": P_PASS, "optimistic": P_PASS, "pessimistic": P_PASS},
        anchors=(0.0, 1.0), scale="linear", decimals=2),)

    @property
    def skops_trusted_types(self) -> tuple[str, ...]:  # type: ignore[override]
        from screen.learn.models.passivation import SKOPS_TRUSTED_TYPES

        return tuple(SKOPS_TRUSTED_TYPES)

    def task(self, config):
        return PassivationTask(config)

    def select(self, frame, config):
        partial_as = config["data"]["partial_as"]
        if partial_as not in PARTIAL_AS:
            raise ValueError(f"data.partial_as {partial_as!r}; accepted: "
                             f"{', '.join(PARTIAL_AS)}")
        from screen.data.systems import system_labels

        systems = system_labels(frame)
        if partial_as == "drop":
            systems = systems[systems["passivation"].ne("partial")]
        keep = frame.index.isin(systems["first_row"])
        label = systems.set_index("first_row")["passivation"].reindex(frame.index[keep])
        positive = {"passivating"} | ({"partial"} if partial_as == "passivating" else set())
        return keep, label.isin(positive).to_numpy(int)

    def main_prediction(self, estimator, X, settings):
        return estimator.predict_proba(X)[:, 1]

    def predict_table(self, estimator, X, settings):
        return pd.DataFrame({P_PASS: self.main_prediction(estimator, X, settings)},
                            index=X.index)

    def diagnostics(self, td, results, model, config):
        from screen.learn import plots

        primary = next(r for r in results
                       if r.scheme == config["cv"]["primary"] and r.candidate == "model")
        return {"calibration.png": plots.calibration_plot(
            td.y, primary.oof["p"], f"Passivation, {primary.scheme} CV")}

    def importance_scoring(self):
        return "neg_brier_score"

    def oof_errors(self, td, outputs):
        return np.abs(np.asarray(outputs["p"], dtype=float) - td.y)

    def measured(self, frame, settings):
        labels = frame["passivation"].astype("string")
        values = pd.to_numeric(labels.map(LABEL_VALUE), errors="coerce").to_numpy(float)
        return Measured(values, np.zeros(len(frame), dtype=bool),
                        groups=labels.fillna("").to_numpy(str), categorical=True)

    def describe_measured(self, row):
        value = row.get("passivation")
        return None if value is None or pd.isna(value) else str(value)


register_target(Passivation)
