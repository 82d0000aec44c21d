"""Target ``overpotential``: plating/stripping overpotential magnitude (V) with a conformal
interval.

Rows: ``overpotential_V`` whose ``overpotential_kind`` is in ``data.kinds`` (and, with
``data.require_current_density``, a current density: an overpotential means little without
the current it was measured at, and the physics model needs it); the kind is an
explicit one-hot feature ``kind__<kind>`` (never mixed silently), and predictions are asked for
kind ``polarization`` (the symmetric-cell overpotential). Candidates in CV: the configured
``model``, the physics-informed Butler–Volmer model (``physics``, default hyperparameters; it
predicts only rows with a current density, ``n_predicted``) when the model is a direct
regressor, ``dummy`` (mean) and ``names_rf``. Primary metric: MAE (V, lower is better).
Predictions: ``overpotential_V_pred``, ``_low``, ``_high`` (CV+ conformal interval at
``uncertainty.confidence``, kept as the objective's ``interval_level``). Estimators:
:mod:`screen.learn.models.overpotential`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from screen.data.schema import OVERPOTENTIAL_KINDS
from screen.learn.registry import Measured, Objective, Target, register_target
from screen.learn.tasks import RegressionTask

KIND_PREFIX = "kind__"
PREDICTION_KIND = "polarization"
PRED, LOW, HIGH = "overpotential_V_pred", "overpotential_V_low", "overpotential_V_high"


def kind_columns() -> list[str]:
    """Names of the overpotential-kind one-hot columns."""
    return [f"{KIND_PREFIX}{k}" for k in OVERPOTENTIAL_KINDS]


class OverpotentialTask(RegressionTask):
    """Overpotential regression (V) with conformal intervals for the model."""

    def __init__(self, config: dict):
        super().__init__(config)
        if config["model"]["family"] != "butler_volmer":
            self.candidates = ("model", "physics", "dummy", "names_rf")

    def names(self, td):
        out = td.names.copy()
        out["overpotential_kind"] = td.rows["overpotential_kind"].astype(str).to_numpy()
        return out

    interval_candidates = ("model", "physics")

    def make_model(self, candidate: str):
        from screen.learn.models.overpotential import make_overpotential_model

        config = {"family": "butler_volmer"} if candidate == "physics" else self.config["model"]
        return make_overpotential_model(config, self.seed)

    def interval_options(self) -> dict:  # MAPIE's CV+ (identical values) where it has the score
        return {"conformity_score": self.conformity}

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


class Overpotential(Target):
    """See the module docstring."""

    order = 0
    name = "overpotential"
    label = "overpotential"
    unit = "V"
    label_columns = ("overpotential_V", "overpotential_kind")
    primary_metric = "mae"
    higher_is_better = False
    report_metrics = ("spearman", "rmse", "coverage")
    config_tables = {"data": {"kinds": list, "require_current_density": bool},
                     "uncertainty": {"confidence": float, "cv": int, "conformity": str}}
    objectives = (Objective(
        name="overpotential", label="overpotential", unit="V", short="η",
        columns={"point": PRED, "optimistic": LOW, "pessimistic": HIGH},
        anchors=(0.05, 1.0), scale="linear", decimals=3, interval_level=0.9),)
    prediction_conditions = {c: float(c == f"{KIND_PREFIX}{PREDICTION_KIND}")
                             for c in kind_columns()}

    @property
    def skops_trusted_types(self) -> tuple[str, ...]:  # type: ignore[override]
        from screen.learn.models.overpotential import SKOPS_TRUSTED_TYPES

        return tuple(SKOPS_TRUSTED_TYPES)

    def task(self, config):
        return OverpotentialTask(config)

    def select(self, frame, config):
        keep = frame["overpotential_V"].notna() \
            & frame["overpotential_kind"].isin(config["data"]["kinds"])
        if config["data"].get("require_current_density", False):
            keep &= frame["current_density_mA_cm2"].notna()
        keep = keep.fillna(False).to_numpy(bool)
        return keep, frame.loc[keep, "overpotential_V"].to_numpy(float)

    def extra_features(self, rows, config):
        kinds = rows["overpotential_kind"].astype(str)
        return pd.DataFrame({f"{KIND_PREFIX}{k}": kinds.eq(k).astype(float).to_numpy()
                             for k in OVERPOTENTIAL_KINDS}, index=rows.index)

    def final_estimator(self, config, seed):
        return self.task(config).conformal_model(seed)

    def model_settings(self, config):
        return {"confidence": float(config["uncertainty"]["confidence"])}

    def resolved_objectives(self, settings):
        level = settings.get("confidence")  # models saved before it was kept: the default
        return tuple(o if level is None else replace(o, interval_level=float(level))
                     for o in self.objectives)

    def predict_table(self, estimator, X, settings):
        pred, low, high = estimator.predict_interval(X)
        return pd.DataFrame({PRED: pred, LOW: low, HIGH: high}, index=X.index)

    def diagnostics(self, td, results, model, config):
        from screen.learn import plots

        primary = next(r for r in results
                       if r.scheme == config["cv"]["primary"] and r.candidate == "model")
        oof, scheme = primary.oof, primary.scheme
        schemes = [r.scheme for r in results if r.candidate == "model"]
        coverage = [r.pooled.get("coverage", np.nan) for r in results if r.candidate == "model"]
        return {
            "parity.png": plots.parity_plot(td.y, oof["pred"], f"Overpotential, {scheme} CV",
                                            low=oof.get("low"), high=oof.get("high")),
            "residuals_by_anion_family.png": plots.residuals_by_group(
                td.y, oof["pred"], td.groups["anion_family"],
                f"Residuals by anion family, {scheme} CV"),
            "interval_reliability.png": plots.coverage_by_fold_plot(
                schemes, coverage, config["uncertainty"]["confidence"],
                title="Conformal interval coverage (pooled out-of-fold)", xlabel="CV scheme"),
        }

    def importance_scoring(self):
        return "neg_mean_absolute_error"

    def measured(self, frame, settings):
        values = pd.to_numeric(frame["overpotential_V"], errors="coerce").to_numpy(float)
        kinds = frame["overpotential_kind"].astype("string").fillna("").to_numpy(str)
        return Measured(values, np.zeros(len(frame), dtype=bool), groups=kinds)

    def describe_measured(self, row):
        value = row.get("overpotential_V")
        if value is None or pd.isna(value):
            return None
        return f"η {value:g} V {row.get('overpotential_kind', '')}".strip()


register_target(Overpotential)
