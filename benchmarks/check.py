"""Benchmark: the candidate check of ``rank`` on enumerated candidates, against the work it
guards (featurizing and predicting the same rows).

Steps, each timed:

1. enumerate ``--rows`` candidates of ``experiments/enumerate.toml`` (in memory);
2. :class:`~screen.data.candidate_checks.CandidateChecker` on them, cold (a new checker: every
   distinct component resolved and checked) and warm (the next partition of a run reuses the
   per-value results) — candidates/s;
3. featurize and predict the same candidates with the champion models (warm feature cache) —
   the baseline: the check's time is printed as a fraction of it.

The script only uses APIs that existed before the one-check rework, so running it with an
older checkout on ``PYTHONPATH`` gives that version's figures for comparison.

    python benchmarks/check.py [--rows 100000] [--tracking-uri sqlite:///mlflow.db]
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)

    from screen.data.candidate_checks import CandidateChecker
    from screen.data.components import ComponentLibrary
    from screen.learn.predict import load_models
    from screen.screening.enumeration import build_candidate_space, load_enumeration_config
    from screen.screening.rank import CandidatePredictor

    library = ComponentLibrary.load()
    space = build_candidate_space(load_enumeration_config(), library)
    rows = min(args.rows, space.count() // 2)
    first, second = space.frame(0, rows), space.frame(rows, 2 * rows)
    print(f"{rows:,} candidates per partition (library of {space.count():,})")

    checker = CandidateChecker(library)
    start = time.perf_counter()
    found = checker.check(first, "candidates.parquet")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    checker.check(second, "candidates.parquet")
    warm = time.perf_counter() - start
    print(f"check, cold: {cold:.3f} s ({rows / cold:,.0f} candidates/s), {len(found)} problems")
    print(f"check, warm: {warm:.3f} s ({rows / warm:,.0f} candidates/s)")

    predictor = CandidatePredictor(load_models(args.tracking_uri), library).prepare()
    predictor.predict(first.head(1000))  # featurizer caches filled
    start = time.perf_counter()
    predictor.predict(second)
    predict = time.perf_counter() - start
    print(f"featurize + predict (baseline): {predict:.3f} s ({rows / predict:,.0f} candidates/s)")
    print(f"warm check / (featurize + predict): {warm / predict:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
