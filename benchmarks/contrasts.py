"""Literature contrast benchmark: does the model order pairs of systems the way papers do?

Each row of ``datasets/contrasts.csv`` says "system A is better than system B on target T" as
one publication states it (both systems are rows of that publication in ``interfaces.csv``).
For every publication that has contrasts, each target's model is trained **without that
publication's rows** (leave-publication-out, so a contrast never tests its own rows), and A
and B are predicted at the contrast's test condition: ``cell_type``, current density, areal
capacity and temperature from the contrast, else from A's data row (A's row of that
publication measured on T that agrees best with the contrast's condition; a target-specific
row feature such as the overpotential kind comes from that row too, and when A has no row
measured on T the target's own prediction conditions are used, as ``mgscreen predict`` does).
The pair is *ordered right* when the prediction puts A ahead in the direction of the target's
ranking objective (``maximize`` or not; for passivation a lower ``p_passivating``). A tie or a
missing prediction is not ordered right.

Compared side by side, per target and per kind of contrast:

- **model** — the registered target's default config (``experiments/<target>.toml``), fitted as
  ``mgscreen train`` deploys it (:func:`screen.learn.train.final_model`), full size (a full run
  takes seconds, so no fast configs are needed);
- **names_rf** — the one-hot-names baseline that the target's CV task defines;
- **coin** — 0.5, the exact expected fraction of a fair coin (not simulated).

A contrast whose target has no registered model (or whose training set without the publication
is smaller than the config's ``data.min_rows``, or whose target has no ranking objective) is
*not evaluated* and counted apart. Every ``chloride_addition`` contrast is listed with its
outcome. The last line is ``overall: K/N ordered right`` (the model, over evaluated contrasts).

    python benchmarks/contrasts.py                     # the full benchmark (all publications)
    python benchmarks/contrasts.py --sample 2          # a deterministic 2-publication subset (CI)
    python benchmarks/contrasts.py --targets passivation,overpotential
    python benchmarks/contrasts.py --unseen-systems    # also drop, from every publication, the
                                                       # rows of the held-out contrasts' systems
    python benchmarks/contrasts.py --details           # one line per contrast with predictions

The data set is featurized once per run (components come from the on-disk feature cache), and
each held-out publication trains each target once for all its contrasts.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.contrasts import (
    CONDITION_COLUMNS,
    CONTRAST_TARGETS,
    SIDES,
    load_contrasts,
    side_systems,
)
from screen.data.schema import SYSTEM_KEY_COLUMNS
from screen.data.systems import system_key
from screen.learn.config import default_config_path, load_config
from screen.learn.modeling_data import (
    TargetData,
    TooFewRowsError,
    build_target_data,
    names_table,
    target_features,
)
from screen.learn.registry import objectives, targets
from screen.learn.tasks import make_task
from screen.learn.train import Features, featurize_dataset, final_model

#: Expected fraction ordered right by a fair coin (exact, not simulated).
COIN = 0.5
CANDIDATES = ("model", "names_rf")
SAMPLE_SEED = 0
#: Columns of :func:`evaluate`'s table (``<candidate>_A``/``_B``: predictions for the better
#: and the worse system; ``seen``: how many of the two have rows in the training set).
RESULT_COLUMNS = ("contrast_id", "target", "kind", "source", "status",
                  *(f"{c}{suffix}" for c in CANDIDATES for suffix in ("", "_A", "_B")),
                  "in_domain", "seen", "note")


# ----------------------------------------------------------------------------- the pairs
def reference_rows(contrasts: pd.DataFrame, frame: pd.DataFrame,
                   labelled: dict[str, np.ndarray]) -> tuple[pd.Series, pd.Series]:
    """(index of A's data row in ``frame`` per contrast, whether that row is measured on the
    contrast's target). Among A's rows of the contrast's publication, rows measured on the
    target come first, then the rows that agree with the contrast on most condition columns
    (blank agrees with blank), then file order."""
    keys = system_key(frame)
    better = system_key(side_systems(contrasts, "better"))
    conditions = {c: _cells(frame[c]) for c in CONDITION_COLUMNS}
    chosen, measured = {}, {}
    for i, row in contrasts.iterrows():
        rows = np.flatnonzero(frame["source"].astype(str).eq(row["source"]).to_numpy()
                              & keys.eq(better[i]).to_numpy())
        mask = labelled.get(str(row["target"]))
        on_target = mask[rows] if mask is not None else np.zeros(len(rows), bool)
        agree = sum(conditions[c].iloc[rows].eq(_cell(row[c])).to_numpy().astype(int)
                    for c in CONDITION_COLUMNS)
        best = sorted(range(len(rows)), key=lambda k: (-int(on_target[k]), -int(agree[k]), k))[0]
        chosen[i], measured[i] = frame.index[rows[best]], bool(on_target[best])
    return pd.Series(chosen), pd.Series(measured)


def _cell(value) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float)
                                                     and np.isnan(value)) else f"{value}"


def _cells(series: pd.Series) -> pd.Series:
    return series.map(_cell)


def query_rows(contrasts: pd.DataFrame, frame: pd.DataFrame, reference: pd.Series
               ) -> pd.DataFrame:
    """Two rows per contrast (index ``<contrast_id>:better`` / ``:worse``): a copy of A's data
    row with the side's system columns and the contrast's non-blank condition columns."""
    parts = []
    for side in SIDES:
        rows = frame.loc[reference.loc[contrasts.index]].copy()
        rows.index = contrasts["contrast_id"].astype(str) + f":{side}"
        systems = side_systems(contrasts, side)
        for column in SYSTEM_KEY_COLUMNS:
            rows[column] = systems[column].to_numpy()
        for column in CONDITION_COLUMNS:
            given = contrasts[column].notna().to_numpy()
            rows.loc[given, column] = contrasts.loc[given, column].to_numpy()
        parts.append(rows)
    return pd.concat(parts)


@dataclass
class Queries:
    """The pairs to predict: typed rows (2 per contrast), their feature matrix, and per
    contrast whether A's data row is measured on the contrast's target."""

    rows: pd.DataFrame
    matrix: np.ndarray
    names: np.ndarray  # feature names (the data set's)
    on_target: pd.Series  # contrast index -> bool

    def pair(self, contrast_ids: Sequence[str]) -> np.ndarray:
        """Positions of the better and worse rows of these contrasts (better first)."""
        index = self.rows.index
        return np.concatenate([index.get_indexer([f"{c}:{s}" for c in contrast_ids])
                               for s in SIDES])


def build_queries(contrasts: pd.DataFrame, features: Features, configs: dict[str, Any],
                  library: ComponentLibrary) -> Queries:
    """Featurize every pair once (components come from the feature cache)."""
    from featurizers.system import SystemFeaturizer

    labelled = {name: np.asarray(targets()[name].select(features.frame, config)[0], bool)
                for name, config in configs.items()}
    reference, on_target = reference_rows(contrasts, features.frame, labelled)
    rows = query_rows(contrasts, features.frame, reference)
    featurizer = SystemFeaturizer(library=library).fit()
    matrix = featurizer.transform(rows)
    if list(featurizer.get_feature_names_out()) != list(features.names):
        raise RuntimeError("the pairs were featurized with other feature names than the data set")
    return Queries(rows, matrix, features.names, on_target)


# ----------------------------------------------------------------------------- training
def training_mask(frame: pd.DataFrame, publication: str,
                  drop_systems: frozenset[str] = frozenset()) -> np.ndarray:
    """Rows a held-out publication's models train on: every row of other publications
    (minus, with ``drop_systems``, every row whose system key is listed)."""
    keep = frame["source"].astype(str).ne(publication).to_numpy()
    if drop_systems:
        keep &= ~system_key(frame).isin(drop_systems).to_numpy()
    return keep


@dataclass
class Fitted:
    """One target trained without one publication."""

    target: str
    config: Any
    td: TargetData | None = None  # what it was trained on (None: not trained)
    model: Any = None  # the deployed ScreeningModel
    names: Any = None  # the fitted names_rf baseline
    task: Any = None
    skipped: str = ""  # why the target is not evaluated for this publication
    failed: dict[str, str] = field(default_factory=dict)  # candidate -> error text


def train_without(publication: str, target: str, config, features: Features,
                  library: ComponentLibrary, drop_systems: frozenset[str] = frozenset()
                  ) -> Fitted:
    """Fit ``target``'s model and names baseline on the rows of the other publications."""
    out = Fitted(target, config)
    keep = training_mask(features.frame, publication, drop_systems)
    try:
        out.td = build_target_data(features.frame[keep], features.matrix[keep], features.names,
                                   config, library)
    except TooFewRowsError:
        labelled = np.asarray(targets()[target].select(features.frame[keep], config)[0], bool)
        out.skipped = (f"too few rows without this publication ({int(labelled.sum())} < "
                       f"data.min_rows = {config['data']['min_rows']})")
        return out
    out.task = make_task(config)
    try:
        out.model = final_model(out.task, out.td, config)
    except ValueError as exc:
        out.failed["model"] = f"{type(exc).__name__}: {exc}"
    try:
        out.names = out.task.make("names_rf").fit(out.task.names(out.td), out.td.y)
    except ValueError as exc:
        out.failed["names_rf"] = f"{type(exc).__name__}: {exc}"
    return out


def predict(fitted: Fitted, queries: Queries, positions: np.ndarray, on_target: np.ndarray
            ) -> dict[str, np.ndarray]:
    """Main prediction of each candidate for the query rows at ``positions`` (NaN where a
    candidate could not be fitted), plus ``in_domain`` of the model. ``on_target``: per row,
    whether its data row carries the target's own row features (else the target's prediction
    conditions are set)."""
    spec, config = targets()[fitted.target], fitted.config
    rows = queries.rows.iloc[positions]
    X = target_features(queries.matrix[positions], queries.names, rows, config)
    for column, value in spec.prediction_conditions.items():
        if column in X:
            X.loc[~on_target, column] = value
    settings = spec.model_settings(config)
    n = len(rows)
    out = {c: np.full(n, np.nan) for c in CANDIDATES}
    out["in_domain"] = np.zeros(n, dtype=bool)
    if fitted.model is not None:
        out["model"] = np.asarray(fitted.model.predict(X), dtype=float)
        out["in_domain"] = fitted.model.predict_table(X)["in_domain"].to_numpy(bool)
    if fitted.names is not None:
        query = TargetData(fitted.target, X, None, {}, names_table(rows), rows)
        out["names_rf"] = np.asarray(spec.main_prediction(
            fitted.names, fitted.task.names(query), settings), dtype=float)
    return out


# ----------------------------------------------------------------------------- evaluation
def direction(target: str) -> bool | None:
    """True when a higher prediction is better (``maximize`` of the target's own ranking
    objective), False when lower is better, None when the target has no objective."""
    for objective in objectives().values():
        if objective.target == target and objective.derive is None:
            return bool(objective.maximize)
    return None


def ordering(better: float, worse: float, maximize: bool) -> str:
    """``right`` when the better system is predicted ahead, ``wrong`` when behind, ``tie``
    when the predictions are equal, ``n/a`` when either is missing."""
    if not (np.isfinite(better) and np.isfinite(worse)):
        return "n/a"
    if np.isclose(better, worse, rtol=1e-12, atol=0.0):
        return "tie"
    return "right" if (better > worse) == maximize else "wrong"


def publications(contrasts: pd.DataFrame, sample: int | None = None) -> list[str]:
    """Sources with contrasts, sorted; ``sample``: a deterministic subset of that many."""
    names = sorted(contrasts["source"].astype(str).unique())
    if sample is None or sample >= len(names):
        return names
    if sample < 1:
        raise ValueError(f"--sample {sample}: give at least 1 publication")
    chosen = np.random.default_rng(SAMPLE_SEED).choice(names, size=sample, replace=False)
    return sorted(str(s) for s in chosen)


def contrast_systems(contrasts: pd.DataFrame) -> frozenset[str]:
    """System keys of both sides of these contrasts."""
    return frozenset().union(*(system_key(side_systems(contrasts, side)) for side in SIDES))


def evaluate(contrasts: pd.DataFrame, features: Features, library: ComponentLibrary,
             configs: dict[str, Any], unseen_systems: bool = False,
             progress=None) -> pd.DataFrame:
    """One row per contrast: ``status`` (``evaluated`` or why not), the outcome of each
    candidate (``right``/``wrong``/``tie``/``n/a``), its predictions for A (better) and B,
    whether A and B are in the model's applicability domain, and how many of the two systems
    have rows among the training rows (other publications)."""
    if contrasts.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    queries = build_queries(contrasts, features, configs, library)
    records = []
    for publication in publications(contrasts):
        mine = contrasts[contrasts["source"].astype(str).eq(publication)]
        drop = contrast_systems(mine) if unseen_systems else frozenset()
        started = time.perf_counter()
        for target, group in mine.groupby("target", sort=True):
            fitted = None
            if target not in configs:
                status = f"no registered target {target!r}"
            elif direction(str(target)) is None:
                status = f"target {target!r} has no ranking objective (no direction)"
            else:
                fitted = train_without(publication, str(target), configs[target], features,
                                       library, drop)
                status = fitted.skipped or "evaluated"
            base = [{"contrast_id": r["contrast_id"], "target": target, "kind": r["kind"],
                     "source": publication, "status": status, "row": i}
                    for i, r in group.iterrows()]
            if status != "evaluated":
                records += [{**b, "model": "", "names_rf": "", "note": ""} for b in base]
                continue
            positions = queries.pair(group["contrast_id"].astype(str).tolist())
            on_target = np.tile(queries.on_target.loc[group.index].to_numpy(bool), 2)
            preds = predict(fitted, queries, positions, on_target)
            seen = system_key(fitted.td.rows)
            keys = {s: system_key(side_systems(group, s)).to_numpy() for s in SIDES}
            maximize = bool(direction(str(target)))
            n = len(group)
            for k, b in enumerate(base):
                record = dict(b)
                for c in CANDIDATES:
                    record[c] = ordering(preds[c][k], preds[c][n + k], maximize)
                    record[f"{c}_A"], record[f"{c}_B"] = preds[c][k], preds[c][n + k]
                record["in_domain"] = "".join("AB"[j] for j in (0, 1)
                                              if preds["in_domain"][k + j * n]) or "-"
                record["seen"] = int(seen.isin([keys["better"][k]]).any()) + int(
                    seen.isin([keys["worse"][k]]).any())
                record["note"] = "; ".join(f"{c} not fitted: {e}"
                                           for c, e in fitted.failed.items())
                records.append(record)
        if progress:
            progress(f"held out {publication}: {len(mine)} contrasts "
                     f"({time.perf_counter() - started:.1f} s)")
    table = pd.DataFrame.from_records(records).set_index("row").loc[contrasts.index]
    return table.reset_index(drop=True).reindex(columns=RESULT_COLUMNS)


# ----------------------------------------------------------------------------- report
def _fraction(right: int, n: int) -> str:
    return f"{right}/{n} ({right / n:.2f})" if n else "0/0"


def summary(results: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per value of ``by``: contrasts, evaluated, right (fraction) and ties per candidate, the
    coin's expected fraction; not-evaluated reasons."""
    rows = []
    for value, group in results.groupby(by, sort=True):
        done = group[group["status"].eq("evaluated")]
        row = {by: value, "contrasts": len(group), "evaluated": len(done)}
        for c in CANDIDATES:
            row[c] = _fraction(int(done[c].eq("right").sum()), len(done))
        row["coin"] = f"{COIN:.2f}" if len(done) else "-"
        row["ties (model/names)"] = (f"{int(done['model'].eq('tie').sum())}/"
                                     f"{int(done['names_rf'].eq('tie').sum())}")
        row["not evaluated"] = len(group) - len(done)
        rows.append(row)
    return pd.DataFrame(rows)


def describe(contrast: pd.Series, side: str) -> str:
    """Short text of one side's system: ``Mg(OTf)2/DME + CP`` (``@ coating``)."""
    def cell(column: str) -> str:
        return _cell(contrast[f"{side}_{column}"])

    def amount(column: str) -> str:
        value = contrast[f"{side}_{column}"]
        return "" if pd.isna(value) else f"{float(value):g} M "

    ratio = cell("solvent_ratio")
    text = f"{amount('salt_conc_M')}{cell('salt')}/{cell('solvent')}{' ' + ratio if ratio else ''}"
    additive = cell("additive")
    if additive and additive.lower() != "none":
        text += f" + {amount('additive_conc_M')}{additive}"
    coating = cell("coating")
    if coating.lower() != "none":
        text += f" @ {coating}"
    return text


def print_report(results: pd.DataFrame, contrasts: pd.DataFrame, seconds: float,
                 unseen_systems: bool, out=None) -> None:
    """The tables described in the module docstring; the last line is ``overall: K/N ordered
    right`` (the model). ``out``: a text stream (default: standard output)."""
    out = out or sys.stdout
    def show(frame: pd.DataFrame) -> None:
        with pd.option_context("display.width", 250, "display.max_colwidth", 90):
            print(frame.to_string(index=False), file=out)

    done = results[results["status"].eq("evaluated")]
    scope = ("the held-out publication's rows and, from every publication, the rows of its "
             "contrasts' systems" if unseen_systems else "the held-out publication's rows")
    print(f"literature contrasts: {len(results)} from {results['source'].nunique()} "
          f"publications; leave-publication-out (training drops {scope}); {seconds:.1f} s",
          file=out)
    print("ordered right = the better system is predicted ahead in the direction of its "
          "target's ranking objective; ties and missing predictions are not right", file=out)
    print("model = experiments/<target>.toml default config as `mgscreen train` fits it; "
          "names_rf = the target's one-hot-names baseline; coin = 0.5 exactly (its expected "
          "value, not simulated)", file=out)
    print("\nper target", file=out)
    show(summary(results, "target"))
    print("\nper kind", file=out)
    show(summary(results, "kind"))
    chloride = results[results["kind"].eq("chloride_addition")]
    print(f"\nchloride_addition: {len(chloride)} contrasts (a chloride added to a "
          "chloride-free ether electrolyte)", file=out)
    if len(chloride):
        by_id = contrasts.set_index(contrasts["contrast_id"].astype(str))
        listing = pd.DataFrame({
            "contrast": chloride["contrast_id"], "target": chloride["target"],
            "better (with chloride)": [describe(by_id.loc[c], "better")
                                       for c in chloride["contrast_id"]],
            "worse": [describe(by_id.loc[c], "worse") for c in chloride["contrast_id"]],
            **{c: [_outcome_text(r, c) for _, r in chloride.iterrows()] for c in CANDIDATES}})
        show(listing)
    skipped = results[~results["status"].eq("evaluated")]
    reasons = (skipped["target"] + ": " + skipped["status"]).value_counts()
    print(f"\nnot evaluated: {len(skipped)} of {len(results)}"
          + "".join(f"\n  {n} × {why}" for why, n in reasons.items()), file=out)
    failed = done.loc[done["note"].astype(str).ne(""), ["source", "target", "note"]]
    for _, r in failed.drop_duplicates().iterrows():
        print(f"  (counted as not right) {r['target']} without {r['source']}: {r['note']}",
              file=out)
    if len(done):
        seen = done["seen"].value_counts()
        print("systems also measured by the training publications: both "
              f"{int(seen.get(2, 0))}, one {int(seen.get(1, 0))}, neither {int(seen.get(0, 0))}"
              f" (of {len(done)} evaluated); in the model's domain: both "
              f"{int(done['in_domain'].eq('AB').sum())}", file=out)
    n = len(done)
    print(f"names_rf overall: {int(done['names_rf'].eq('right').sum()) if n else 0}/{n} "
          f"ordered right; coin: {COIN * n:g}/{n} expected", file=out)
    print(f"overall: {int(done['model'].eq('right').sum()) if n else 0}/{n} ordered right",
          file=out)


def _outcome_text(record: pd.Series, candidate: str) -> str:
    if record["status"] != "evaluated":
        return f"not evaluated ({record['status']})"
    a, b = record[f"{candidate}_A"], record[f"{candidate}_B"]
    return f"{record[candidate]} ({a:.3g} vs {b:.3g})"


def print_details(results: pd.DataFrame, out=None) -> None:
    """One line per contrast: outcomes and predictions (A = better, B = worse)."""
    out = out or sys.stdout
    columns = ["contrast_id", "target", "kind", "status", "model", "model_A", "model_B",
               "names_rf", "names_rf_A", "names_rf_B", "in_domain", "seen"]
    shown = results.reindex(columns=columns)
    with pd.option_context("display.width", 250, "display.max_colwidth", 60,
                           "display.float_format", "{:.3g}".format):
        print(shown.to_string(index=False), file=out)


# ----------------------------------------------------------------------------- command line
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="a deterministic subset of N publications (CI smoke test)")
    parser.add_argument("--targets", default="",
                        help=f"comma-separated contrast targets ({', '.join(CONTRAST_TARGETS)});"
                             " default: all")
    parser.add_argument("--unseen-systems", action="store_true",
                        help="also drop, from every publication, the rows of the systems the "
                             "held-out contrasts compare")
    parser.add_argument("--details", action="store_true", help="one line per contrast")
    args = parser.parse_args(argv)
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in CONTRAST_TARGETS]
    if unknown:
        parser.error(f"--targets {','.join(unknown)}: accepted: {', '.join(CONTRAST_TARGETS)}")
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")
    args.targets = tuple(wanted) or CONTRAST_TARGETS
    return args


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print its report; returns the per-contrast results."""
    args = parse_args(argv)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    library = ComponentLibrary.load()
    features = featurize_dataset(library=library)
    contrasts = load_contrasts(interfaces=features.frame)
    contrasts = contrasts[contrasts["target"].isin(args.targets)]
    chosen = publications(contrasts, args.sample)
    contrasts = contrasts[contrasts["source"].astype(str).isin(chosen)]
    registered = targets()
    configs = {name: load_config(default_config_path(name))
               for name in sorted(set(contrasts["target"].astype(str)))
               if name in registered}
    results = evaluate(contrasts, features, library, configs, args.unseen_systems,
                       progress=lambda text: print(text, file=sys.stderr))
    if args.details:
        print_details(results)
        print()
    print_report(results, contrasts, time.perf_counter() - started, args.unseen_systems)
    return results


if __name__ == "__main__":
    main()
