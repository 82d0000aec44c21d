"""Wall time of `mgscreen train --all` (warm feature cache, fresh local MLflow store).

Trains the three targets with their default configs exactly as the CLI does (CV of the model
and both baselines under every scheme, final fit, diagnostics, skops model, registry) and
prints seconds per target, the total, and the ratio to the 120 s budget.

    python benchmarks/train.py
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

from screen.learn.config import default_config_path, load_config
from screen.learn.registry import target_names
from screen.learn.train import featurize_dataset, train_target

BUDGET_S = 120.0


def main() -> None:
    warnings.simplefilter("ignore")
    featurize_dataset()  # warm the feature cache
    store = Path(tempfile.mkdtemp(prefix="mgscreen-bench-mlflow-")) / "mlflow.db"
    uri = f"sqlite:///{store}"
    start = time.perf_counter()
    features = featurize_dataset()
    print(f"featurize data set (warm cache): {time.perf_counter() - start:.1f} s")
    for target in target_names():
        t0 = time.perf_counter()
        result = train_target(load_config(default_config_path(target)), features, uri)
        print(f"{target}: {time.perf_counter() - t0:.1f} s (primary {result.primary_metric} "
              f"= {result.primary_value:.3f}, champion={result.champion})")
    total = time.perf_counter() - start
    print(f"train --all: {total:.1f} s; budget {BUDGET_S:.0f} s; ratio {total / BUDGET_S:.2f}")


if __name__ == "__main__":
    main()
