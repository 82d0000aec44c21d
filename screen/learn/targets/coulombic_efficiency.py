"""Target ``coulombic_efficiency``: plating/stripping Coulombic efficiency (%).

What the value means: the Coulombic efficiency a source reports for the cell of the row — its
average or stabilized value (the data card's rule), for the cell type in ``cell_type`` (Mg‖Cu
or an inert working electrode in most rows; full cells where only those were reported). It is
not a first-cycle value unless the source gives only that.

The model learns z = −log10(1 − CE/100) (CE clipped to [0, 99.9] %): the scale on which 99 %
and 99.9 % differ as much as 90 % and 99 %, where the losses that decide cycle life live, and
on which every prediction maps back into [0, 100) %. The CV+ conformal interval is built on z
and mapped back, so it also stays inside [0, 100] %. Candidates in CV: ``model`` (extremely
randomized trees on z by default; ``FAMILIES``), ``dummy`` (mean z) and ``names_rf``. Primary
metric: MAE in % (lower is better).
Predictions: ``coulombic_efficiency_pct_pred``, ``_low``, ``_high``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline

from screen.learn.models.common import COMMON_TRUSTED_TYPES, MedianImputer, flatten_config
from screen.learn.registry import Objective, Target, register_target
from screen.learn.tasks import RegressionTask

PRED, LOW, HIGH = ("coulombic_efficiency_pct_pred", "coulombic_efficiency_pct_low",
                   "coulombic_efficiency_pct_high")
#: Highest CE the transform distinguishes (%): 100 % would be an infinite z.
CE_MAX = 99.9


def to_z(ce_pct) -> np.ndarray:
    """−log10(1 − CE/100) of CE in %, clipped to [0, CE_MAX]."""
    ce = np.clip(np.asarray(ce_pct, dtype=float), 0.0, CE_MAX)
    return -np.log10(1.0 - ce / 100.0)


def from_z(z) -> np.ndarray:
    """CE in % of z (the inverse of :func:`to_z`)."""
    return 100.0 * (1.0 - 10.0 ** (-np.maximum(np.asarray(z, dtype=float), 0.0)))


#: Model families of z (scikit-learn regressors; hyperparameters under ``[model.params]``).
FAMILIES = {"random_forest": RandomForestRegressor, "extra_trees": ExtraTreesRegressor,
            "gradient_boosting": HistGradientBoostingRegressor}


def make_ce_model(params: dict | None, seed: int):
    """The regressor of z: median imputation → the family's regressor (hyperparameters from
    the config's ``[model.params]``)."""
    params = flatten_config(params, "coulombic efficiency model")
    family = params.pop("family", "random_forest")
    if family not in FAMILIES:
        raise ValueError(f"unknown coulombic efficiency model family {family!r}; accepted: "
                         f"{', '.join(FAMILIES)}")
    params.setdefault("random_state", seed)
    return make_pipeline(MedianImputer(), FAMILIES[family](**params))


class CoulombicEfficiencyTask(RegressionTask):
    """CE regression on the z scale with conformal intervals for the model."""

    def make_model(self, candidate: str):
        return make_ce_model(self.config["model"], self.seed)

    def back(self, values: np.ndarray) -> np.ndarray:
        return from_z(values)

    def metrics(self, candidate, td, test, outputs, train):
        y, pred = from_z(td.y[test]), np.asarray(outputs["pred"], dtype=float)
        err = pred - y
        out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
        if len(y) >= 3 and np.ptp(y) > 0 and np.ptp(pred) > 0:
            out["spearman"] = float(spearmanr(y, pred).statistic)
        if "low" in outputs:
            low, high = np.asarray(outputs["low"]), np.asarray(outputs["high"])
            out["coverage"] = float(np.mean((y >= low) & (y <= high)))
        return out


class CoulombicEfficiency(Target):
    """See the module docstring."""

    order = 1
    name = "coulombic_efficiency"
    label = "Coulombic efficiency"
    unit = "%"
    label_columns = ("coulombic_efficiency_pct",)
    primary_metric = "mae"
    higher_is_better = False
    report_metrics = ("spearman", "rmse", "coverage")
    config_tables = {"uncertainty": {"confidence": float, "cv": int, "conformity": str}}
    skops_trusted_types = (*COMMON_TRUSTED_TYPES, "sklearn.tree._tree.Tree",
                           "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                           "screen.learn.models.overpotential.ConformalRegressor")
    objectives = (Objective(
        name="coulombic_efficiency", label="Coulombic efficiency", unit="%", short="CE",
        columns={"point": PRED, "optimistic": HIGH, "pessimistic": LOW}, maximize=True,
        anchors=(99.9, 90.0), scale="linear", decimals=1, interval_level=0.9),)
    effect_decimals = 1

    def task(self, config):
        return CoulombicEfficiencyTask(config)

    def select(self, frame, config):
        keep = frame["coulombic_efficiency_pct"].notna().to_numpy(bool)
        return keep, to_z(frame.loc[keep, "coulombic_efficiency_pct"].to_numpy(float))

    def final_estimator(self, config, seed):
        return self.task(config).conformal_model(seed)

    def model_settings(self, config):
        return {"confidence": float(config["uncertainty"]["confidence"])}

    def resolved_objectives(self, settings):
        level = settings.get("confidence")  # the interval's coverage, as the model was fitted
        return tuple(o if level is None else replace(o, interval_level=float(level))
                     for o in self.objectives)

    def main_prediction(self, estimator, X, settings):
        return from_z(estimator.predict(X))

    def predict_table(self, estimator, X, settings):
        z, low, high = estimator.predict_interval(X)
        return pd.DataFrame({PRED: from_z(z), LOW: from_z(low), HIGH: from_z(high)},
                            index=X.index)

    def diagnostics(self, td, results, model, config):
        from screen.learn import plots

        primary = next(r for r in results
                       if r.scheme == config["cv"]["primary"] and r.candidate == "model")
        oof = primary.oof
        return {"parity.png": plots.parity_plot(
            from_z(td.y), oof["pred"], f"Coulombic efficiency, {primary.scheme} CV",
            low=oof.get("low"), high=oof.get("high"), quantity="Coulombic efficiency",
            unit="%")}

    def importance_scoring(self):
        return "neg_mean_absolute_error"

    def oof_errors(self, td, outputs):
        return np.abs(np.asarray(outputs["pred"], dtype=float) - from_z(td.y))

    def describe_measured(self, row):
        value = row.get("coulombic_efficiency_pct")
        return None if value is None or pd.isna(value) else f"CE {value:g} %"


register_target(CoulombicEfficiency)
