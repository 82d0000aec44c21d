"""Benchmark: featurize 1,000,000 random systems (warm cache) vs a per-row baseline.

Systems are random combinations of the library's anions × solvents (single and binary with a
ratio) × additives × coatings × metal × test conditions. The vectorized path is
:class:`featurizers.system.SystemFeaturizer`; the baseline is matminer's
``featurize_dataframe`` calling a featurizer once per row (the same featurizers and the same
warm cache, one row at a time), on the first 10,000 systems. Prints rows/s of both, their
ratio, and peak memory (max RSS of this process).

    python benchmarks/featurize.py [--rows 1000000] [--baseline-rows 10000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from featurizers.system import SystemFeaturizer
from screen.data.components import ComponentLibrary
from screen.data.schema import CELL_TYPES


def peak_rss_gb() -> float:
    """Max resident set size of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def random_systems(library: ComponentLibrary, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random systems built from the library (categorical columns, numbers float)."""
    rng = np.random.default_rng(seed)
    anions = library.names("anion")
    solvents = [c.name for c in library.entries["solvent"] if c.category in ("solvent", "polymer",
                                                                            "ionic_liquid")]
    additives = ["none", *(c.name for c in library.entries["solvent"]
                           if c.category in ("additive", "salt_additive"))]
    coatings = library.names("coating")
    singles = list(solvents)
    pairs = [f"{a}:{b}" for a in solvents[:12] for b in solvents[:12] if a < b]
    solvent_choice = np.array(singles + pairs, dtype=object)
    solvent = solvent_choice[rng.integers(len(solvent_choice), size=n)]
    is_pair = np.char.find(solvent.astype(str), ":") >= 0
    ratio = np.where(is_pair, rng.choice(np.array(["1:1", "1:2", "2:1", "4:1"]), size=n), "")

    def pick(values):
        values = np.asarray(values, dtype=object)
        return pd.Categorical(values[rng.integers(len(values), size=n)])

    additive = pick(additives)
    return pd.DataFrame({
        "metal": pick(["Mg", "Ca"]),
        "anion": pick(anions),
        "salt_conc_M": rng.choice([0.1, 0.25, 0.3, 0.5, 0.8, 1.0], size=n),
        "solvent": pd.Categorical(solvent),
        "solvent_ratio": pd.Categorical(ratio),
        "additive": additive,
        "additive_conc_M": np.where(np.asarray(additive) == "none", np.nan,
                                    rng.choice([0.01, 0.05, 0.1], size=n)),
        "coating": pick(coatings),
        "coating_thickness_um": rng.choice([np.nan, 0.1, 1.0, 3.5], size=n),
        "cell_type": pick(CELL_TYPES),
        "current_density_mA_cm2": rng.choice([0.1, 0.5, 1.0, 2.0, 5.0], size=n),
        "areal_capacity_mAh_cm2": rng.choice([0.1, 0.5, 1.0], size=n),
        "temperature_C": rng.choice([25.0, 30.0, 55.0], size=n),
    })


def per_row_baseline(systems: pd.DataFrame, cache_dir: str) -> tuple[float, np.ndarray]:
    """matminer featurize_dataframe, one system per featurize() call; returns (s, matrix)."""
    from matminer.featurizers.base import BaseFeaturizer

    columns = list(systems.columns)
    system = SystemFeaturizer(cache_dir=cache_dir).fit()

    class RowFeaturizer(BaseFeaturizer):
        def featurize(self, *row):
            frame = pd.DataFrame([row], columns=columns)
            return list(system.transform(frame)[0])

        def feature_labels(self):
            return list(system.get_feature_names_out())

        def citations(self):
            return []

        def implementors(self):
            return ["mgscreen developers"]

    rows = systems.astype(object)
    row_featurizer = RowFeaturizer()
    row_featurizer.set_n_jobs(1)
    start = time.perf_counter()
    out = row_featurizer.featurize_dataframe(rows, columns, pbar=False, ignore_errors=False,
                                             inplace=False)
    elapsed = time.perf_counter() - start
    return elapsed, out[row_featurizer.feature_labels()].to_numpy(dtype=np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    args = parser.parse_args(argv)

    library = ComponentLibrary.load()
    cache_dir = tempfile.mkdtemp(prefix="mgscreen-bench-cache-")
    systems = random_systems(library, args.rows)
    featurizer = SystemFeaturizer(library=library, cache_dir=cache_dir).fit()

    start = time.perf_counter()
    for block, kind in (("anion", "anion"), ("solvent", "solvent"), ("coating", "coating")):
        featurizer.featurizers_[block].featurize_names(library.names(kind))
    featurizer.transform(systems.head(1000))
    warm = time.perf_counter() - start
    print(f"cache warm-up (every library component, cold xTB/RDKit/matminer): {warm:.1f} s")
    rss_before = peak_rss_gb()

    start = time.perf_counter()
    matrix = featurizer.transform(systems)
    elapsed = time.perf_counter() - start
    rate = len(systems) / elapsed
    print(f"vectorized: {len(systems):,} systems x {matrix.shape[1]} features in {elapsed:.2f} s "
          f"= {rate:,.0f} rows/s; peak RSS {peak_rss_gb():.2f} GB "
          f"(before featurizing: {rss_before:.2f} GB)")

    n_base = min(args.baseline_rows, len(systems))
    base_s, base = per_row_baseline(systems.head(n_base), cache_dir)
    base_rate = n_base / base_s
    same = np.allclose(base, matrix[:n_base], equal_nan=True, rtol=1e-6, atol=1e-6)
    print(f"per-row baseline (matminer featurize_dataframe, warm cache): {n_base:,} systems in "
          f"{base_s:.1f} s = {base_rate:,.0f} rows/s; identical features: {same}")
    print(f"speed-up vectorized / per-row: {rate / base_rate:,.0f}x")
    print(f"targets: 1e6 systems < 60 s -> {elapsed:.1f} s; peak < 4 GB -> "
          f"{peak_rss_gb():.2f} GB; baseline >= 100x slower -> {rate / base_rate:,.0f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
