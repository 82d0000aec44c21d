"""Accuracy of the models against their baselines, per target and CV scheme (no MLflow).

For each target (default configs in experiments/): pooled out-of-fold metrics of the model,
the dummy baseline (mean / Kaplan–Meier / class prior) and a random forest on one-hot component
names, under random K-fold, leave-one-anion-family-out and leave-one-source-out, with the
fold mean ± sd of the primary metric and whether the model beats both baselines.

    python benchmarks/accuracy.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.learn.config import default_config_path, load_config
from screen.learn.modeling_data import build_target_data
from screen.learn.registry import get_target, target_names
from screen.learn.tasks import make_task
from screen.learn.train import evaluate, featurize_dataset


def main() -> None:
    warnings.simplefilter("ignore")
    features = featurize_dataset()
    library = ComponentLibrary.load()
    rows = []
    for target in target_names():
        config = load_config(default_config_path(target))
        task = make_task(config)
        td = build_target_data(features.frame, features.matrix, features.names, config, library)
        start = time.perf_counter()
        results = {(r.scheme, r.candidate): r for r in evaluate(task, td, config)}
        seconds = time.perf_counter() - start
        metric, better = task.primary_metric, (np.greater if task.higher_is_better else np.less)
        for scheme in config["cv"]["schemes"]:
            model = results[(scheme, "model")].summary()
            dummy = results[(scheme, "dummy")].pooled.get(metric, np.nan)
            names = results[(scheme, "names_rf")].pooled.get(metric, np.nan)
            value = model.get(metric, np.nan)
            physics = results.get((scheme, "physics"))
            row = {"target": target, "n": len(td.y), "scheme": scheme, "metric": metric,
                   "model": value, "physics": physics.pooled.get(metric, np.nan) if physics
                   else np.nan, "dummy": dummy, "names_rf": names,
                   "fold mean±sd": f"{model.get(metric + '_fold_mean', np.nan):.3f}±"
                                   f"{model.get(metric + '_fold_sd', np.nan):.3f}",
                   "beats both": bool(better(value, dummy) and better(value, names)),
                   "cv s": round(seconds, 1)}
            for extra in get_target(target).report_metrics:
                row[extra] = model.get(extra, np.nan)
            rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
