"""Cycle life: which model ranks lives of anion families (or publications) it has not seen?

Every option of issue 14 on the rows of the default cycle-life config (demonstrated stable
duration in hours, lives in cycles converted where the protocol fixes the time per cycle), under
leave-one-anion-family-out and leave-one-source-out (the project's splits,
:func:`screen.learn.cv.splits`). Metric: Harrell's C over **every pair** of out-of-fold
predictions against the demonstrated durations (the default mode's metric; with 2 observed
failures among the lives, the survival C over comparable pairs rests on a handful of pairs and
is printed separately by ``benchmarks/accuracy.py`` in survival mode).

Options:

- ``extra_trees`` — the default (ExtraTrees on log10 duration, the config's parameters);
- ``random_forest`` — the same with a random forest;
- ``lognormal_aft`` / ``weibull_aft`` — lifelines accelerated-failure-time models that treat
  "over N h" as right-censored (a lower bound), on the first ``k`` principal components of the
  standardized features (fit in the fold), L2 penalty ``pen``; ranked by predicted median;
- ``ce_link`` — the Coulombic-efficiency model (its default config, trained in the fold on CE
  rows outside the held-out group) ranks lives by predicted CE alone (a cell that loses
  (1 − CE) per cycle runs out of metal sooner); ``trees+ce`` adds that prediction as a feature;
- baselines as in training: ``dummy`` (the training mean; it differs between folds, so its
  pooled C is not exactly 0.5) and ``names_rf`` (random forest on one-hot component names).

    pip install ".[bench]"   # lifelines
    python benchmarks/cycle_life_options.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.learn.config import default_config_path, load_config
from screen.learn.cv import splits
from screen.learn.modeling_data import build_target_data, target_features
from screen.learn.models.common import MedianImputer
from screen.learn.models.cycle_life import c_index
from screen.learn.tasks import make_task
from screen.learn.train import featurize_dataset

SCHEMES = ("anion_family", "source")


def all_pairs_c(y: np.ndarray, pred: np.ndarray) -> float:
    """Harrell's C of predicted against demonstrated log durations over every pair."""
    everything = np.ones(len(y), dtype=[("event", "?"), ("time", "f8")])
    everything["time"] = y
    return c_index(everything, -np.asarray(pred, float))


def aft(kind: str, k: int, penalizer: float):
    """fit_predict(X_train, y_train, event_train, X_test) -> log10 predicted median."""
    from lifelines import LogNormalAFTFitter, WeibullAFTFitter
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fitter = {"lognormal": LogNormalAFTFitter, "weibull": WeibullAFTFitter}[kind]

    def fit_predict(X_train, y_train, event_train, X_test):
        reduce = make_pipeline(MedianImputer(), StandardScaler(),
                               PCA(n_components=min(k, len(X_train) - 2), random_state=0))
        Z = reduce.fit_transform(X_train)
        columns = [f"pc{i}" for i in range(Z.shape[1])]
        frame = pd.DataFrame(Z, columns=columns).assign(T=10.0 ** y_train,
                                                        E=event_train.astype(int))
        model = fitter(penalizer=penalizer).fit(frame, "T", "E")
        median = model.predict_median(pd.DataFrame(reduce.transform(X_test), columns=columns))
        return np.log10(np.asarray(median, float).ravel())
    return fit_predict


def main() -> int:
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    library = ComponentLibrary.load()
    features = featurize_dataset(library=library)
    config = load_config(default_config_path("cycle_life"))
    task = make_task(config)
    td = build_target_data(features.frame, features.matrix, features.names, config, library)
    events = ~td.rows["cycle_life_censored"].astype(bool).to_numpy()
    rf_config = load_config(default_config_path("cycle_life"), ["model.family=random_forest"])
    rf_task = make_task(rf_config)
    ce_config = load_config(default_config_path("coulombic_efficiency"))
    ce_task = make_task(ce_config)
    ce = build_target_data(features.frame, features.matrix, features.names, ce_config, library)
    life_rows = features.frame.index.isin(td.rows.index)
    ce_X_life = target_features(features.matrix[life_rows], features.names, td.rows, ce_config)
    print(f"cycle-life rows: {len(td.y)} (demonstrated hours, {int(events.sum())} observed "
          f"failures); CE rows: {len(ce.y)}; features {td.X.shape[1]}")

    def product(task_):  # as training runs it (CV+ conformal wrapper: aggregated fold models)
        def fit_predict(train, test):
            return task_.fit_predict("model", td, train, test)["pred"]
        return fit_predict

    def on_features(fit_predict):
        def run(train, test):
            return fit_predict(td.X.iloc[train], td.y[train], events[train], td.X.iloc[test])
        return run

    options = {"extra_trees (default)": product(task), "random_forest": product(rf_task)}
    for kind in ("lognormal", "weibull"):
        for k, pen in ((3, 0.1), (3, 1.0), (8, 0.1), (8, 1.0)):
            options[f"{kind}_aft k={k} pen={pen:g}"] = on_features(aft(kind, k, pen))
    rows = []
    for scheme in SCHEMES:
        folds = splits(scheme, td, 5, 0)
        row = {"scheme": scheme}
        for name, fit_predict in options.items():
            pred = np.full(len(td.y), np.nan)
            for train, test in folds:
                pred[test] = fit_predict(train, test)
            row[name] = all_pairs_c(td.y, pred)
        ce_alone, with_ce = np.full(len(td.y), np.nan), np.full(len(td.y), np.nan)
        ce_groups = ce.groups[scheme]
        for train, test in folds:
            held_out = set(td.groups[scheme][test])
            ce_train = ~np.isin(ce_groups, list(held_out))
            ce_model = ce_task.make("model").fit(ce.X[ce_train], ce.y[ce_train])
            ce_hat = ce_model.predict(ce_X_life)
            ce_alone[test] = ce_hat[test]
            augmented = td.X.assign(ce_hat=ce_hat)
            with_ce[test] = task.make("model").fit(augmented.iloc[train], td.y[train]) \
                .predict(augmented.iloc[test])
        row["ce_link (CE alone)"] = all_pairs_c(td.y, ce_alone)
        row["trees+ce"] = all_pairs_c(td.y, with_ce)
        for baseline in ("dummy", "names_rf"):
            pred = np.full(len(td.y), np.nan)
            for train, test in folds:
                pred[test] = task.fit_predict(baseline, td, train, test)["pred"]
            row[baseline] = all_pairs_c(td.y, pred)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("scheme").T
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print("\nHarrell's C over every pair, pooled out-of-fold (goal under anion_family: 0.65)")
        print(table.to_string())
    best = table["anion_family"].drop(["dummy", "names_rf"]).idxmax()
    loafo = table["anion_family"]
    print(f"\nbest option under anion_family: {best} {loafo[best]:.3f} "
          f"(names {loafo['names_rf']:.3f}, dummy {loafo['dummy']:.3f}); "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
