"""Target ``cycle_life``: how long a cell cycles, from every figure the data holds.

**Durations.** Lives are reported in hours or in cycles. With ``data.convert`` (default) a life
in cycles becomes hours where the test protocol fixes the time per cycle (:func:`durations`):

- symmetric (M‖M) and asymmetric (M‖Cu, M‖inert) cells at a current density j and an areal
  capacity Q per half cycle: one cycle plates and strips Q, t = 2 · Q / j (h; mAh cm⁻² over
  mA cm⁻²);
- full cells at a C-rate C: one cycle charges and discharges at C, t = 2 / C (h), a nominal
  value (full depth, no rest).

A life in hours becomes cycles by the same rules when ``data.unit = "cycles"``. Rows without a
rule for their protocol are left out of the other unit; the closing counts per rule are
:func:`conversion_counts`.

**Two modes** (``data.mode``):

- ``demonstrated`` (default): the target is the *demonstrated stable cycling duration* — how
  long the source showed the cell cycling, whether it then failed or was still running (almost
  every literature life is "over N h"). A regressor learns log10(duration) and CV+ gives a
  conformal interval on that log scale. The number ranks systems by the stability the
  literature demonstrated for comparable cells; it is not a failure time, and the true life is
  unknown (usually longer). Predictions: ``stable_duration_<unit>_pred``, ``_low``, ``_high``.
  Metric: Harrell's concordance of the predicted and demonstrated durations (every pair
  comparable).
- ``survival``: right-censored survival ("over 700 h" is a lower bound): a survival model,
  Kaplan–Meier dummy, C-index over the comparable pairs (pairs ending in an observed failure).
  Predictions: ``cycle_life_<unit>_pred`` (median), ``..._pred_is_lower_bound`` (the survival
  curve stays above 0.5 within the training follow-up), ``_low`` / ``_high`` (quartiles),
  ``p_life_gt_<horizon>``. With two observed failures in the data set its concordance is
  computed on very few pairs.

Estimators: :mod:`screen.learn.models.cycle_life` (survival) and a forest of the
``demonstrated`` mode (``DEMONSTRATED_FAMILIES``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from screen.learn.registry import Measured, Objective, Target, register_target
from screen.learn.tasks import BaseTask, RegressionTask, names_baseline

UNITS = {"h": "cycle_life_h", "cycles": "cycle_life_cycles"}
MODES = ("demonstrated", "survival")
#: Desirability anchors (best, worst) per unit.
ANCHORS = {"h": (2000.0, 10.0), "cycles": (1000.0, 5.0)}
#: Regressors of log10(duration) in the ``demonstrated`` mode.
DEMONSTRATED_FAMILIES = {"extra_trees": ExtraTreesRegressor,
                         "random_forest": RandomForestRegressor}


def columns(unit: str, mode: str = "survival") -> dict[str, str]:
    """Prediction columns of a model trained in ``unit`` and ``mode``."""
    if mode == "demonstrated":
        stem = f"stable_duration_{unit}"
        return {"point": f"{stem}_pred", "optimistic": f"{stem}_high",
                "pessimistic": f"{stem}_low"}
    return {"point": f"cycle_life_{unit}_pred", "optimistic": f"cycle_life_{unit}_high",
            "pessimistic": f"cycle_life_{unit}_low",
            "lower_bound": f"cycle_life_{unit}_pred_is_lower_bound"}


def _cycle_hours(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(hours per cycle, rule per row: 'capacity/current', 'C-rate' or '') from the protocol."""
    cell = frame["cell_type"].astype("string")
    q = pd.to_numeric(frame["areal_capacity_mAh_cm2"], errors="coerce").to_numpy(float)
    j = pd.to_numeric(frame["current_density_mA_cm2"], errors="coerce").to_numpy(float)
    rate = pd.to_numeric(frame["c_rate"], errors="coerce").to_numpy(float) \
        if "c_rate" in frame else np.full(len(frame), np.nan)
    half_cells = cell.isin(["symmetric", "asymmetric_Cu", "asymmetric_SS"]).fillna(False)
    full = cell.eq("full_cell").fillna(False).to_numpy(bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_cycle = np.where(half_cells.to_numpy(bool), 2.0 * q / j,
                             np.where(full, 2.0 / rate, np.nan))
    per_cycle = np.where(np.isfinite(per_cycle) & (per_cycle > 0), per_cycle, np.nan)
    rule = np.where(np.isnan(per_cycle), "",
                    np.where(full, "full cell: 2 / C-rate", "half cells: 2 Q / j"))
    return per_cycle, rule


def durations(frame: pd.DataFrame, unit: str = "h", convert: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """(duration in ``unit`` per row, NaN where unknown; how it was obtained: 'reported', a
    conversion rule, or ''), see the module docstring."""
    if unit not in UNITS:
        raise ValueError(f"data.unit {unit!r}; accepted: {', '.join(UNITS)}")
    reported = pd.to_numeric(frame[UNITS[unit]], errors="coerce").to_numpy(float)
    out = reported.copy()
    how = np.where(np.isfinite(reported), "reported", "")
    if convert:
        per_cycle, rule = _cycle_hours(frame)
        other = pd.to_numeric(frame[UNITS["cycles" if unit == "h" else "h"]],
                              errors="coerce").to_numpy(float)
        converted = other * per_cycle if unit == "h" else other / per_cycle
        fill = ~np.isfinite(out) & np.isfinite(converted)
        out[fill] = converted[fill]
        how = np.where(fill, rule, how)
    return out, how


def conversion_counts(frame: pd.DataFrame, unit: str = "h") -> dict[str, int]:
    """Rows per way of obtaining the duration (reported / each rule / not usable)."""
    values, how = durations(frame, unit)
    has_life = (frame["cycle_life_h"].notna() | frame["cycle_life_cycles"].notna()).to_numpy()
    counts = pd.Series(np.where(np.isfinite(values), how, "no rule for the protocol")
                       )[has_life].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


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


class DemonstratedTask(RegressionTask):
    """Demonstrated stable duration: regression of log10(duration), conformal intervals."""

    def make_model(self, candidate: str):
        from sklearn.pipeline import make_pipeline

        from screen.learn.models.common import MedianImputer, flatten_config

        params = flatten_config(self.config["model"], "cycle life model")
        family = params.pop("family")
        if family not in DEMONSTRATED_FAMILIES:
            raise ValueError(f"unknown model family {family!r} for data.mode "
                             f"'demonstrated'; accepted: {', '.join(DEMONSTRATED_FAMILIES)}")
        params.setdefault("random_state", self.seed)
        return make_pipeline(MedianImputer(), DEMONSTRATED_FAMILIES[family](**params))

    def metrics(self, candidate, td, test, outputs, train):
        from screen.learn.models.cycle_life import c_index

        y, pred = td.y[test], np.asarray(outputs["pred"], dtype=float)
        everything = np.ones(len(y), dtype=[("event", "?"), ("time", "f8")])
        everything["time"] = y
        out = {"c_index": c_index(everything, -pred), "mae_log10": float(np.mean(np.abs(pred - y)))}
        if len(y) >= 3 and np.ptp(y) > 0 and np.ptp(pred) > 0:
            out["spearman"] = float(spearmanr(y, pred).statistic)
        if "low" in outputs:
            low, high = np.asarray(outputs["low"]), np.asarray(outputs["high"])
            out["coverage"] = float(np.mean((y >= low) & (y <= high)))
        return out


def _mode(config) -> str:
    mode = config["data"].get("mode", "survival")
    if mode not in MODES:
        raise ValueError(f"data.mode {mode!r}; accepted: {', '.join(MODES)}")
    return mode


def _c_index_scorer(estimator, X, y) -> float:
    """Survival: C-index of the predicted risk; demonstrated mode (plain log10 durations):
    C-index of the predicted durations over every pair."""
    from screen.learn.models.cycle_life import c_index

    pred = np.asarray(estimator.predict(X), dtype=float)
    if getattr(y, "dtype", None) is not None and y.dtype.names:
        return c_index(y, pred)
    everything = np.ones(len(y), dtype=[("event", "?"), ("time", "f8")])
    everything["time"] = y
    return c_index(everything, -pred)


class CycleLife(Target):
    """See the module docstring."""

    order = 2
    name = "cycle_life"
    label = "cycle life"
    unit = "h"
    label_columns = ("cycle_life_h", "cycle_life_cycles", "cycle_life_censored")
    primary_metric = "c_index"
    higher_is_better = True
    report_metrics = ("ibs", "n_events")
    config_tables = {"data": {"unit": str, "mode": str, "convert": bool},
                     "evaluation": {"horizon": float},
                     "uncertainty": {"confidence": float, "cv": int, "conformity": str}}
    objectives = (Objective(  # as the default config (demonstrated mode, hours) predicts it
        name="cycle_life", label="demonstrated stable cycling", unit="h", short="life",
        columns=columns("h", "demonstrated"), maximize=True, anchors=ANCHORS["h"],
        scale="log", decimals=0, interval_level=0.9),)
    effect = "ratio"

    @property
    def skops_trusted_types(self) -> tuple[str, ...]:  # type: ignore[override]
        from screen.learn.models.cycle_life import SKOPS_TRUSTED_TYPES

        return (*SKOPS_TRUSTED_TYPES, "screen.learn.models.overpotential.ConformalRegressor")

    def task(self, config):
        return DemonstratedTask(config) if _mode(config) == "demonstrated" \
            else CycleLifeTask(config)

    def select(self, frame, config):
        from sksurv.util import Surv

        data = config["data"]
        values, _ = durations(frame, data["unit"], data.get("convert", True))
        keep = np.isfinite(values) & frame["cycle_life_censored"].notna().to_numpy(bool)
        if _mode(config) == "demonstrated":
            return keep, np.log10(values[keep])
        y = Surv.from_arrays(event=~frame.loc[keep, "cycle_life_censored"].to_numpy(bool),
                             time=values[keep])
        return keep, y

    def final_estimator(self, config, seed):
        if _mode(config) == "survival":
            return self.task(config).make("model")
        return self.task(config).conformal_model(seed)

    def model_settings(self, config):
        settings = {"unit": config["data"].get("unit", "h"), "mode": _mode(config),
                    "horizon": float(config.get("evaluation", {}).get("horizon", 500.0))}
        if "uncertainty" in config:
            settings["confidence"] = float(config["uncertainty"]["confidence"])
        return settings

    def main_prediction(self, estimator, X, settings):
        if settings.get("mode") == "demonstrated":
            return 10.0 ** np.asarray(estimator.predict(X), dtype=float)
        from screen.learn.models.cycle_life import median_life

        return median_life(estimator, X)

    def predict_table(self, estimator, X, settings):
        unit, horizon = settings.get("unit", "h"), float(settings.get("horizon", 500.0))
        if settings.get("mode") == "demonstrated":
            names = columns(unit, "demonstrated")
            pred, low, high = (10.0 ** np.asarray(v, dtype=float)
                               for v in estimator.predict_interval(X))
            return pd.DataFrame({names["point"]: pred, names["pessimistic"]: low,
                                 names["optimistic"]: high}, index=X.index)
        names = columns(unit)
        life = estimator.life_table(X, horizon)
        return pd.DataFrame({names["point"]: life["median"],
                             names["lower_bound"]: life["median_is_lower_bound"],
                             names["pessimistic"]: life["q25"],
                             names["optimistic"]: life["q75"],
                             f"p_life_gt_{horizon:g}": life["p_gt_horizon"]}, index=X.index)

    def resolved_objectives(self, settings):
        unit, mode = settings.get("unit", "h"), settings.get("mode", "survival")
        label = "demonstrated stable cycling" if mode == "demonstrated" else "cycle life"
        level = settings.get("confidence", 0.9) if mode == "demonstrated" else 0.5
        return tuple(replace(o, unit=unit, columns=columns(unit, mode), anchors=ANCHORS[unit],
                             label=label, interval_level=level)
                     for o in self.objectives)

    def diagnostics(self, td, results, model, config):
        from screen.learn import plots
        from screen.learn.models.cycle_life import survival_at

        if _mode(config) == "demonstrated":
            primary = next(r for r in results
                           if r.scheme == config["cv"]["primary"] and r.candidate == "model")
            oof = primary.oof
            return {"parity.png": plots.parity_plot(
                td.y, oof["pred"], f"log10 demonstrated duration, {primary.scheme} CV",
                low=oof.get("low"), high=oof.get("high"), quantity="log10 duration",
                unit=config["data"]["unit"])}

        times = np.unique(np.quantile(td.y["time"], np.linspace(0.0, 1.0, 25)))
        curves = survival_at(model.estimator_, td.X.head(8), times)
        labels = [f"{a} / {s}" for a, s in zip(td.names["anion"].head(8),
                                               td.names["solvent"].head(8), strict=True)]
        return {"survival_curves.png": plots.survival_plot(times, curves, labels)}

    def importance_scoring(self):
        return _c_index_scorer

    def oof_errors(self, td, outputs):
        if "pred" not in outputs:  # survival: no per-row error
            return None
        return np.abs(np.asarray(outputs["pred"], dtype=float) - td.y)

    def measured(self, frame, settings):
        values, _ = durations(frame, settings.get("unit", "h"))
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
