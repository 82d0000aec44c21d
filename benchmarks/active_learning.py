"""Benchmark: a retrospective lab loop on the embedded data set. Does ``suggest`` find the best
system of publications it has not seen with fewer experiments than random picks, or than picking
the best predictions?

Per seed, a **pool** is hidden: the rows of publications (``source``) drawn at random until
the pool holds at least ``--min-pool`` systems that no other publication measured (at most
``--max-pool``; a publication whose removal would leave a target below its ``data.min_rows``
is skipped) and exactly one of them is the best (many systems measured on one objective only
tie, and finding one of many is no test; another random order is drawn). The models start
from the other rows. Each **round** a strategy picks
``--batch`` systems of the pool; all their rows are revealed (added to the training rows) and
the models are refit. The **truth** of a system is its measured desirability
(:func:`screen.screening.suggest.measured_systems`: the weights and anchors of
``experiments/rank.toml``; an objective the system was not measured on counts at the typical
value of the whole data set). The pool's best is the system with the largest truth.

Strategies: ``suggest`` (:func:`~screen.screening.suggest.acquisition_table` and the greedy
diversity rule, ``--explore``), ``greedy`` (the largest predicted desirability, no
uncertainty, no diversity) and ``random`` (uniform; ``--random-repeats`` draws per pool, no
models needed, averaged per pool). Experiments are counted in whole batches (a lab runs the
batch): experiments-to-best = batch × rounds until a pick is a best system (capped at the pool
size). Regret after k experiments = pool best − best truth picked so far.

Models are small and refit without cross-validation each round (each target's default config
with ``data.min_rows = 5``, forests of ``--trees`` trees, conformal ``uncertainty.cv = 3``).

    python benchmarks/active_learning.py                 # 10 seeds, batch 3 (~3 min, 2 cores)
    python benchmarks/active_learning.py --seeds 20 --batch 2 --png al.png
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.systems import canonical_system_key
from screen.learn.config import default_config_path, load_config
from screen.learn.modeling_data import TooFewRowsError, build_target_data
from screen.learn.predict import feature_frame, predict_features
from screen.learn.registry import get_target, target_names
from screen.learn.tasks import make_task
from screen.learn.train import featurize_dataset, final_model
from screen.screening.explain import ReferenceSet
from screen.screening.rank_config import load_rank_config
from screen.screening.ranking import parse_weights
from screen.screening.suggest import (
    DEFAULT_EXPLORE,
    FormulationSpace,
    SuggestSettings,
    acquisition_table,
    choose_batch,
    diversity_radius,
    measured_systems,
)

STRATEGIES = ("suggest", "greedy", "random")


@dataclass
class Data:
    """Everything that stays fixed across seeds."""

    frame: pd.DataFrame      # typed rows
    matrix: np.ndarray       # system features (training)
    names: np.ndarray
    X: pd.DataFrame          # prediction features (with the targets' prediction conditions)
    keys: np.ndarray         # canonical system key per row
    truth: pd.Series         # measured desirability per system key
    configs: dict
    library: ComponentLibrary


def small_configs(trees: int) -> dict:
    """Each target's default config with small models and a low row minimum."""
    out = {}
    for target in target_names():
        path = default_config_path(target)
        base = load_config(path)
        extra = ["data.min_rows=5"]
        if "n_estimators" in base["model"].get("params", {}):
            extra.append(f"model.params.n_estimators={trees}")
        if "cv" in base.get("uncertainty", {}):
            extra.append("uncertainty.cv=3")
        out[target] = load_config(path, extra)
    return out


def fit_models(data: Data, train: np.ndarray) -> dict:
    """Fitted ScreeningModel per target on the rows ``train`` (boolean mask)."""
    models = {}
    frame = data.frame.loc[train]
    for target, config in data.configs.items():
        td = build_target_data(frame, data.matrix[train], data.names, config, data.library)
        models[target] = final_model(make_task(config), td, config)
    return models


def enough_rows(data: Data, train: np.ndarray) -> bool:
    """Every target keeps at least its ``data.min_rows`` training rows."""
    frame = data.frame.loc[train]
    for target, config in data.configs.items():
        keep, _ = get_target(target).select(frame, config)
        if int(np.asarray(keep, bool).sum()) < config["data"]["min_rows"]:
            return False
    return True


def draw_pool(data: Data, seed: int, min_pool: int, max_pool: int, attempts: int = 50
              ) -> tuple[list[str], np.ndarray, list[str]]:
    """(hidden sources, start mask, pool system keys): publications in a random order are
    hidden one by one (skipping those that would overfill the pool or starve a target) until
    the pool holds ``min_pool`` systems with one best; another order is tried otherwise."""
    sources = data.frame["source"].astype(str).to_numpy()
    for attempt in range(attempts):
        rng = np.random.default_rng([seed, attempt])
        hidden: list[str] = []
        for source in rng.permutation(np.unique(sources)):
            trial = [*hidden, source]
            start = ~np.isin(sources, trial)
            pool = pool_keys(data, start)
            if len(pool) > max_pool or not enough_rows(data, start):
                continue
            hidden = trial
            truth = data.truth[pool].to_numpy(float)
            if len(pool) >= min_pool and (truth >= truth.max() - 1e-12).sum() == 1:
                return hidden, start, pool
    return [], np.ones(len(sources), bool), []


def pool_keys(data: Data, start: np.ndarray) -> list[str]:
    """The systems of the hidden rows that no start row measured (first-appearance order)."""
    measured = set(data.keys[start])
    return [k for k in dict.fromkeys(data.keys[~start]) if k not in measured
            and np.isfinite(data.truth.get(k, np.nan))]


def pick(strategy: str, data: Data, train: np.ndarray, left: list[str], settings: SuggestSettings,
         rng: np.random.Generator) -> list[str]:
    """The next batch of system keys from ``left`` (``suggest@W``: suggest with explore W)."""
    n = min(settings.budget, len(left))
    if strategy.startswith("suggest@"):
        strategy, settings = "suggest", replace(settings, explore=float(strategy[8:]))
    if strategy == "random":
        return list(rng.choice(left, size=n, replace=False))
    models = fit_models(data, train)
    first = pd.Series(np.arange(len(data.keys)), index=data.keys).groupby(level=0).first()
    rows = first.loc[left].to_numpy()
    X = data.X.iloc[rows]
    predicted = predict_features(X, models)
    rank = settings.rank.for_models(models)
    settings = replace(settings, rank=rank)
    frame = data.frame.loc[train]
    incumbent = float(measured_systems(frame, rank, data.library)["desirability"].max())
    scored = pd.concat([predicted, acquisition_table(predicted, incumbent, settings)], axis=1)
    scored = scored.reset_index(drop=True)
    if strategy == "greedy":
        order = np.argsort(-np.nan_to_num(scored["desirability"].to_numpy(float), nan=-1),
                           kind="stable")
        return [left[i] for i in order[:n]]
    space = FormulationSpace.of(ReferenceSet.from_features(frame, data.X.loc[train]))
    radius = diversity_radius(space.measured, data.keys[train])
    batch = choose_batch(scored, space.transform(X), replace(settings, budget=n), radius)
    return [left[i] for i in batch.index]


def run_loop(strategy: str, data: Data, start: np.ndarray, pool: list[str],
             settings: SuggestSettings, seed: int) -> list[float]:
    """Truth of each experiment in pick order, until a best system is picked (or the pool is
    exhausted); batches are whole."""
    rng = np.random.default_rng(seed)
    best = max(data.truth[k] for k in pool)
    train, left, found = start.copy(), list(pool), []
    while left:
        batch = pick(strategy, data, train, left, settings, rng)
        found += [float(data.truth[k]) for k in batch]
        left = [k for k in left if k not in batch]
        train |= np.isin(data.keys, batch)
        if max(found) >= best - 1e-12:
            break
    return found


def to_best(found: list[float], best: float, batch: int, pool: int) -> int:
    """Experiments (whole batches) until a best system was picked."""
    first = next(i for i, v in enumerate(found) if v >= best - 1e-12)
    return min(pool, (first // batch + 1) * batch)


def regret_curve(found: list[float], best: float, horizon: int) -> np.ndarray:
    """Regret after 1..horizon experiments (0 once the best is found)."""
    so_far = np.maximum.accumulate(np.asarray(found, float))
    curve = best - so_far
    return np.concatenate([curve, np.zeros(max(0, horizon - len(curve)))])[:horizon]


def load_data(trees: int, weights: str | None = None) -> tuple[Data, SuggestSettings]:
    library = ComponentLibrary.load()
    features = featurize_dataset(library=library)
    from featurizers.system import SystemFeaturizer

    X = feature_frame(features.frame, SystemFeaturizer(library=library).fit())
    keys = canonical_system_key(features.frame, library).to_numpy()
    configs = small_configs(trees)
    rank = load_rank_config().settings
    if weights is not None:  # the truth and every strategy use the same weights
        rank = rank.with_overrides(weights=parse_weights(weights))
    partial_data = Data(features.frame, features.matrix, features.names, X, keys,
                        pd.Series(dtype=float), configs, library)
    models = fit_models(partial_data, np.ones(len(keys), bool))  # for the objectives' units
    rank = rank.for_models(models)
    systems = measured_systems(features.frame, rank, library)  # typical values: all rows
    truth = pd.Series(systems["desirability"].to_numpy(), index=systems["system_key"])
    return replace(partial_data, truth=truth), SuggestSettings(rank=rank)


def figure(curves: dict[str, np.ndarray], to_best_table: pd.DataFrame, batch: int, path: Path):
    from screen.learn import plots

    fig = plots.figure(11, 4.4)
    left, right = fig.subplots(1, 2)
    regret = np.vstack([c.mean(axis=0) for c in curves.values()])
    last = int(np.flatnonzero(regret.max(axis=0) > 0).max(initial=0)) + 1
    shown = min(regret.shape[1], last + batch)
    k = np.arange(1, shown + 1)
    colours = {"suggest": "#1f77b4", "greedy": "#d95f02", "random": "0.45"}
    extra = iter(("#7570b3", "#1b9e77", "#e7298a", "#66a61e"))
    for name, curve in curves.items():
        colour = colours.get(name) or next(extra, "#a6761d")
        curve = curve[:, :shown]
        left.plot(k, np.median(curve, axis=0), color=colour, label=f"{name} (median)")
        left.fill_between(k, np.quantile(curve, 0.25, axis=0), np.quantile(curve, 0.75, axis=0),
                          color=colour, alpha=0.15, linewidth=0)
        left.plot(k, curve.mean(axis=0), color=colour, linestyle="--", linewidth=1,
                  label=f"{name} (mean)")
    left.set_xlabel(f"experiments (batches of {batch})")
    left.set_ylabel("regret: pool best D − best D found")
    left.set_title("Regret (band: quartiles over pools)")
    left.legend(fontsize=7)
    values = [to_best_table[s].to_numpy(float) for s in curves]
    right.boxplot(values, tick_labels=list(curves))
    rng = np.random.default_rng(0)
    for i, v in enumerate(values, start=1):
        right.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=14, color="black", zorder=3)
    right.set_ylabel("experiments to find the pool's best")
    right.set_title(f"Experiments to the best ({len(to_best_table)} pools)")
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="pools (one per seed)")
    parser.add_argument("--batch", type=int, default=3, help="experiments per round")
    parser.add_argument("--min-pool", type=int, default=15, help="fewest systems in a pool")
    parser.add_argument("--max-pool", type=int, default=40, help="most systems in a pool")
    parser.add_argument("--trees", type=int, default=30, help="trees of the forest models")
    parser.add_argument("--explore", type=float, default=DEFAULT_EXPLORE)
    parser.add_argument("--also-explore", type=float, nargs="*", default=[0.1, 0.5],
                        help="also run suggest with these --explore weights (columns "
                             "suggest@W)")
    parser.add_argument("--random-repeats", type=int, default=50)
    parser.add_argument("--weights", default=None,
                        help="desirability weights of the truth and of every strategy, as "
                             "rank --weights (default: experiments/rank.toml)")
    parser.add_argument("--png", type=Path, default=Path("active_learning.png"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    data, settings = load_data(args.trees, args.weights)
    settings = replace(settings, budget=args.batch, explore=args.explore)
    print(f"settings: {args.seeds} pools, batch {args.batch}, pool {args.min_pool}-"
          f"{args.max_pool} systems, forests of {args.trees} trees (conformal cv 3), refit "
          f"every round; suggest explore {args.explore}, {settings.draws} draws; random: "
          f"{args.random_repeats} draws per pool; objectives "
          f"{', '.join(f'{o}={settings.rank.weights[o]:g}' for o in settings.rank.names)}")
    strategies = [*STRATEGIES, *(f"suggest@{w:g}" for w in args.also_explore
                                 if w != args.explore)]
    rows, curves = [], {s: [] for s in strategies}
    for seed in range(args.seeds):
        hidden, start, pool = draw_pool(data, seed, args.min_pool, args.max_pool)
        if not pool:
            print(f"seed {seed}: no pool could be drawn; skipped")
            continue
        best = max(data.truth[k] for k in pool)
        n_best = sum(data.truth[k] >= best - 1e-12 for k in pool)
        horizon = len(pool)
        row = {"seed": seed, "sources": len(hidden), "pool": len(pool), "best D": best,
               "n best": n_best, "start rows": int(start.sum())}
        for strategy in strategies:
            repeats = args.random_repeats if strategy == "random" else 1
            steps, curve = [], []
            for r in range(repeats):
                try:
                    found = run_loop(strategy, data, start, pool, settings, 1000 * seed + r)
                except TooFewRowsError:
                    found = []
                steps.append(to_best(found, best, args.batch, len(pool)) if found else np.nan)
                curve.append(regret_curve(found, best, horizon))
            row[strategy] = float(np.mean(steps))
            curves[strategy].append(np.mean(curve, axis=0))
        rows.append(row)
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    horizon = max(len(c) for c in curves["suggest"])
    padded = {s: np.array([np.pad(c, (0, horizon - len(c))) for c in v])
              for s, v in curves.items()}
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print("\nper pool: experiments to find the pool's best (random: mean of its draws)")
        print(table.to_string(index=False))
    print("\nexperiments to find the pool's best, over pools")
    summary = pd.DataFrame({s: {"median": table[s].median(), "q25": table[s].quantile(0.25),
                                "q75": table[s].quantile(0.75), "mean": table[s].mean()}
                            for s in strategies}).T
    print(summary.round(2).to_string())
    for other in [s for s in strategies if s != "suggest"]:
        ratio = table[other].median() / table["suggest"].median()
        fewer = int((table["suggest"] < table[other]).sum())
        same = int((table["suggest"] == table[other]).sum())
        more = table.loc[table["suggest"] > table[other], "seed"].tolist()
        print(f"{other} / suggest (median experiments): {ratio:.2f}x; suggest needs fewer in "
              f"{fewer}, as many in {same}, more in {len(more)} of {len(table)} pools"
              + (f" (seeds {more})" if more else ""))
    steps = [k for k in (args.batch, 2 * args.batch, 3 * args.batch, 4 * args.batch)
             if k <= horizon]
    print("\nmean regret after k experiments")
    print(pd.DataFrame({s: {f"k={k}": padded[s][:, k - 1].mean() for k in steps}
                        for s in strategies}).T.round(3).to_string())
    figure(padded, table, args.batch, args.png)
    print(f"\n{args.png}: regret curves and experiments-to-best; "
          f"{time.perf_counter() - started:.0f} s in total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
