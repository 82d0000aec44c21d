"""Benchmark `mgscreen tune`: best grouped-CV score after N Optuna trials (default 50) against the
default config's score, in one run, with the wall time.

    python benchmarks/tune.py [--target overpotential] [--trials 50] [--seed 0]

Uses the target's experiments/<target>.toml and its [tune] space; the study lives in memory and
nothing is logged to MLflow (the objective is the one `mgscreen tune` runs, and its value is
the pooled out-of-fold primary metric of `train`'s champion decision).
"""

from __future__ import annotations

import argparse
import time

import optuna

from screen.learn.config import default_config_path, load_config
from screen.learn.tasks import make_task
from screen.learn.train import featurize_dataset
from screen.learn.tune import (
    Objective,
    TargetDataCache,
    decode_params,
    evaluate_config,
    make_pruner,
    make_sampler,
    parse_tune,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="overpotential")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    args = parser.parse_args()

    start = time.perf_counter()
    config = load_config(default_config_path(args.target))
    settings = parse_tune(config)
    settings.seed = args.seed
    task = make_task(config)
    cache = TargetDataCache(featurize_dataset())
    t0 = time.perf_counter()
    default_cfg = {k: v for k, v in config.items() if k != "tune"}
    default_value, _ = evaluate_config(default_cfg, cache)
    t_default = time.perf_counter() - t0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if task.higher_is_better else "minimize",
                                sampler=make_sampler(settings), pruner=make_pruner(settings))
    t0 = time.perf_counter()
    study.optimize(Objective(config, settings, cache), n_trials=args.trials,
                   catch=(Exception,))
    t_study = time.perf_counter() - t0
    states = [t.state.name for t in study.trials]

    metric = f"{task.primary_metric} ({'higher' if task.higher_is_better else 'lower'} is better)"
    print(f"target {args.target}: cv.primary = {config['cv']['primary']}, metric {metric}")
    print(f"default config : {default_value:.4f}   ({t_default:.1f} s)")
    best = study.best_trial
    print(f"best of {args.trials:3d}    : {best.value:.4f}   (trial {best.number};"
          f" {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
          f"{states.count('FAIL')} failed; {t_study:.1f} s)")
    for key, value in decode_params(study.best_params, settings).items():
        print(f"    {key} = {value!r}")
    print(f"total time     : {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
