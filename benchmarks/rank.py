"""Benchmark: rank 1,000,000 enumerated candidates end to end (warm feature cache).

Steps, each timed:

1. enumerate the library (``experiments/enumerate.toml`` widened to >= 10^6 candidates: more
   salt concentrations and current densities) to Parquet;
2. ``rank_candidates`` with the local engine (read, check, featurize, predict the three
   champion models with intervals and domain, Pareto layers + desirability, top-100,
   reasons and nearest measured systems for the top) — candidates/s and peak RSS;
3. the per-row baseline on the first ``--baseline-rows`` candidates: featurize and predict
   one candidate per call with the same models (what a loop over ``mgscreen predict`` rows
   would do), then rank those predictions — candidates/s and the speed-up;
4. the Dask engine (``LocalCluster``, one worker process per CPU) on the same library and
   the check that both engines give identical ranked tables and fronts.

Models are the champions of ``--tracking-uri`` (train them first with ``mgscreen
quickstart`` or ``mgscreen train --all``).

    python benchmarks/rank.py [--tracking-uri sqlite:///mlflow.db] [--baseline-rows 10000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def peak_rss_gb() -> float:
    """Max resident set size of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--partition-rows", type=int, default=100_000)
    args = parser.parse_args(argv)

    from screen.data.components import ComponentLibrary
    from screen.learn.predict import load_models, predict_systems
    from screen.screening.enumeration import (
        build_candidate_space,
        load_enumeration_config,
        write_candidates,
    )
    from screen.screening.rank import CandidatePredictor, default_workers, rank_candidates
    from screen.screening.ranking import RankSettings, merge_partials, reduce_partition

    library = ComponentLibrary.load()
    models = load_models(args.tracking_uri)
    config = load_enumeration_config().with_overrides(
        salt_conc_M=(0.25, 0.5, 1.0, 1.5), current_density_mA_cm2=(0.25, 0.5, 1.0, 2.0))
    space = build_candidate_space(config, library)
    n = space.count()
    print(f"library: {n:,} candidates; axes {dict(zip(space.axes, space.sizes, strict=True))}")
    settings = RankSettings(top=100)
    cpus = default_workers()
    with tempfile.TemporaryDirectory(prefix="mgscreen-bench-") as tmp:
        t0 = time.perf_counter()
        path = write_candidates(space, Path(tmp) / "candidates.parquet")
        print(f"enumerate + write Parquet: {time.perf_counter() - t0:.1f} s")

        # warm the feature cache: featurize every candidate once (every component computed)
        featurizer = CandidatePredictor(models, library).prepare().featurizer
        for chunk in space.iter_chunks(20_000):
            featurizer.transform(chunk)

        rss_before = peak_rss_gb()
        t0 = time.perf_counter()
        local = rank_candidates(path, models, settings, library=library, threads=cpus,
                                partition_rows=args.partition_rows)
        seconds = time.perf_counter() - t0
        rate = n / seconds
        print(f"local engine ({cpus} threads): {n:,} candidates in {seconds:.1f} s = "
              f"{rate:,.0f} candidates/s; peak RSS {peak_rss_gb():.2f} GB "
              f"(before ranking {rss_before:.2f} GB)")

        rows = min(args.baseline_rows, n)
        sample = space.frame(0, rows)
        predictor = CandidatePredictor(models, library).prepare()
        t0 = time.perf_counter()
        one_by_one = [predict_systems(sample.iloc[[i]], models, featurizer=predictor.featurizer)
                      for i in range(rows)]
        predicted = pd.concat([sample, pd.concat(one_by_one)], axis=1)
        baseline_ranked, _ = merge_partials([reduce_partition(predicted, settings)], settings)
        base_seconds = time.perf_counter() - t0
        base_rate = rows / base_seconds
        print(f"per-row baseline: {rows:,} candidates in {base_seconds:.1f} s = "
              f"{base_rate:,.1f} candidates/s")
        print(f"speed-up local engine / per-row baseline: {rate / base_rate:,.0f}x")
        # the engine ranks the same rows identically
        sample_path = Path(tmp) / "sample.parquet"
        sample.to_parquet(sample_path, index=False)
        engine = rank_candidates(sample_path, models, settings, library=library, explain=False)
        same = list(engine.ranked["candidate_id"]) == list(baseline_ranked["candidate_id"])
        print(f"per-row baseline and engine give the same top-{settings.top} on the sample: "
              f"{same}")

        if not args.skip_dask:
            t0 = time.perf_counter()
            dask = rank_candidates(path, models, settings, library=library, engine="dask",
                                   workers=cpus, partition_rows=args.partition_rows)
            d_seconds = time.perf_counter() - t0
            identical = (dask.ranked.equals(local.ranked) and dask.front.equals(local.front))
            print(f"dask engine (LocalCluster, {cpus} workers): {d_seconds:.1f} s = "
                  f"{n / d_seconds:,.0f} candidates/s; identical to local: {identical}")
            if not identical:
                pd.testing.assert_frame_equal(dask.ranked, local.ranked)
                return 1
    top = local.ranked.head(5)[["rank", "anion", "solvent", "additive", "coating",
                                "overpotential_V_pred", "cycle_life_h_pred", "p_passivating"]]
    print(top.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
