"""Which descriptors carry the grouped-CV skill: grouped permutation importance under
leave-one-anion-family-out (or ``--scheme source``), per target and feature block.

For every fold of the scheme, the model of the target's default config is trained on the other
groups exactly as in cross-validation; then the held-out rows are predicted once as they are and
once per feature block with that block's columns replaced by those of randomly drawn rows of the
data set (the same draw for every column of the block, ``--repeats`` draws). The pooled
out-of-fold primary metric with the block scrambled, minus the intact one, is the block's
importance (positive: the block carries skill; the sign follows the metric's direction).
Blocks are the feature blocks of the config (``anion_redox``, ``coating`` ...) plus the
target's own row features (e.g. the overpotential kind). No MLflow.

    python benchmarks/importance.py                      # every target, anion_family
    python benchmarks/importance.py --targets passivation --repeats 5
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.learn.config import default_config_path, load_config
from screen.learn.cv import splits
from screen.learn.modeling_data import TargetData, build_target_data
from screen.learn.registry import target_names
from screen.learn.tasks import make_task
from screen.learn.train import featurize_dataset


def feature_blocks(columns: list[str]) -> dict[str, list[str]]:
    """Block → columns, by the ``<block>__`` prefix of each feature name."""
    out: dict[str, list[str]] = {}
    for column in columns:
        out.setdefault(column.split("__", 1)[0], []).append(column)
    return out


def pooled(task, td: TargetData, oof: dict[str, np.ndarray]) -> float:
    value = task.metrics("model", td, np.arange(len(td.y)), oof, None)
    return float(value.get(task.primary_metric, np.nan))


def importance(task, td: TargetData, scheme: str, n_splits: int, repeats: int,
               seed: int) -> pd.DataFrame:
    """One row per block: metric intact, scrambled (mean ± sd over repeats) and the drop."""
    rng = np.random.default_rng(seed)
    blocks = feature_blocks(list(td.X.columns))
    folds = splits(scheme, td, n_splits, seed)
    intact: dict[str, np.ndarray] = {}
    scrambled = {(b, r): {} for b in blocks for r in range(repeats)}

    def put(store: dict, key: str, test: np.ndarray, values) -> None:
        if key not in store:
            store[key] = np.full((len(td.y),) + np.shape(values)[1:], np.nan)
        store[key][test] = values

    for train, test in folds:
        for key, values in task.fit_predict("model", td, train, test).items():
            put(intact, key, test, values)
        for block, cols in blocks.items():
            for r in range(repeats):
                X = td.X.copy()
                donors = rng.integers(0, len(td.y), size=len(test))
                X.iloc[test, [td.X.columns.get_loc(c) for c in cols]] = \
                    td.X[cols].to_numpy()[donors]
                moved = TargetData(td.target, X, td.y, td.groups, td.names, td.rows)
                for key, values in task.fit_predict("model", moved, train, test).items():
                    put(scrambled[(block, r)], key, test, values)
    base = pooled(task, td, intact)
    sign = 1.0 if task.higher_is_better else -1.0
    rows = []
    for block, cols in blocks.items():
        values = np.array([pooled(task, td, scrambled[(block, r)]) for r in range(repeats)])
        rows.append({"block": block, "features": len(cols), "intact": base,
                     "scrambled": float(np.nanmean(values)),
                     "sd": float(np.nanstd(values)),
                     "importance": sign * (base - float(np.nanmean(values)))})
    return pd.DataFrame(rows).sort_values("importance", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(target_names()))
    parser.add_argument("--scheme", default="anion_family", choices=("anion_family", "source"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    features = featurize_dataset()
    library = ComponentLibrary.load()
    for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
        config = load_config(default_config_path(target))
        task = make_task(config)
        td = build_target_data(features.frame, features.matrix, features.names, config, library)
        start = time.perf_counter()
        table = importance(task, td, args.scheme, config["cv"]["n_splits"], args.repeats,
                           task.seed)
        direction = "higher" if task.higher_is_better else "lower"
        print(f"\n{target}: grouped permutation importance, {args.scheme} CV, "
              f"{task.primary_metric} ({direction} is better), {len(td.y)} rows, "
              f"{args.repeats} repeats, {time.perf_counter() - start:.0f} s")
        with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
            print(table.to_string(index=False))


if __name__ == "__main__":
    main()
