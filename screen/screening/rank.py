"""``mgscreen rank``: predict every candidate with the champion models and keep the best.

The work is split into partitions (:func:`screen.screening.candidates.plan_partitions`). Each
partition is
read, checked (:class:`~screen.data.candidate_checks.CandidateChecker`), featurized by the
per-unique-component join, predicted in one call per model and reduced to the rows that can
still reach the top (:func:`screen.screening.ranking.reduce_partition`). The partials are merged in
partition order (:func:`screen.screening.ranking.merge_partials`), so memory is bounded by one
partition
plus the kept rows, whatever the library size.

Engines run the *same* partition function: ``local`` in this process, ``dask`` as one task per
partition on a ``dask.distributed`` cluster (an existing scheduler, or a ``LocalCluster``
started for the call). Identical partitions and code give identical results.
:func:`run_partitions` is that machinery with any reduction (``mgscreen suggest`` keeps its
shortlist with it).

Only the top-K rows are enriched with rank reasons and nearest measured systems
(:mod:`screen.screening.explain`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from screen.data.candidate_checks import CandidateChecker, problems_as_text, to_candidate_frame
from screen.data.components import ComponentLibrary
from screen.data.io import atomic_write_csv
from screen.data.outputs import TABLE_SUFFIXES, Output, OutputPlan, write_table
from screen.screening.ranking import RankSettings, merge_partials, reduce_partition

Progress = Callable[[int, int], None]  # (candidates done, candidates in total)
Reducer = Callable[[pd.DataFrame], pd.DataFrame]  # predicted partition -> rows kept
ENGINES = ("local", "dask")
PREDICT_BATCH = 20_000
#: internal columns dropped from the outputs (plus every ``obj_<objective>`` column)
INTERNAL_COLUMNS = ("domain_group", "tie_score")


class InvalidCandidates(ValueError):
    """Candidates break the schema and ``--skip-invalid`` was not given."""

    def __init__(self, problems: pd.DataFrame, total: int | None = None):
        self.problems, self.total = problems, total
        lines = "\n  ".join(problems_as_text(problems))
        more = f"\n  ... ({total} problems in this partition)" if total and total > 20 else ""
        super().__init__(f"invalid candidates (rank stops; pass --skip-invalid to write them "
                         f"to a rejects file and rank the rest):\n  {lines}{more}")

    def __reduce__(self):  # raised on Dask workers, re-raised here
        return (InvalidCandidates, (self.problems, self.total))


class CandidatePredictor:
    """Everything a worker needs to go from candidate rows to predictions: the models, the
    component library and a fitted system featurizer (built lazily, once per process)."""

    def __init__(self, models: dict, library: ComponentLibrary | None = None):
        self.models = models
        self.library = library

    def __getstate__(self) -> dict:  # a worker rebuilds its own featurizer and checker
        return {"models": self.models, "library": self.library}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def featurizer(self):
        if getattr(self, "_featurizer", None) is None:
            from featurizers.system import SystemFeaturizer

            if self.library is None:
                self.library = ComponentLibrary.load()
            self._featurizer = SystemFeaturizer(library=self.library).fit()
        return self._featurizer

    @property
    def checker(self) -> CandidateChecker:
        if getattr(self, "_checker", None) is None:
            self._checker = CandidateChecker(self.featurizer.library_,
                                             component_check=self.featurizer.component_problem)
        return self._checker

    def prepare(self) -> CandidatePredictor:
        """Build the featurizer and the checker now (before threads share them)."""
        _ = self.featurizer, self.checker
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Prediction columns for a checked candidate frame (same index), in batches of
        :data:`PREDICT_BATCH` rows (large enough to amortize per-call overhead, small enough
        for the arrays to stay in cache)."""
        from screen.learn.predict import predict_systems

        parts = [predict_systems(frame.iloc[i:i + PREDICT_BATCH], self.models,
                                 featurizer=self.featurizer)
                 for i in range(0, len(frame), PREDICT_BATCH)]
        return pd.concat(parts) if len(parts) != 1 else parts[0]


@dataclass
class PartitionResult:
    """What one partition contributes: its kept rows, its rejects, its size and the warnings
    of the check (rows kept)."""

    kept: pd.DataFrame
    rejects: pd.DataFrame
    n_rows: int
    warnings: pd.DataFrame | None = None


def rank_partition(part, predictor: CandidatePredictor, settings: RankSettings,
                   skip_invalid: bool = False) -> PartitionResult:
    """Read, check, predict and reduce one partition to what can reach the ranking."""
    return process_partition(part, predictor, partial(reduce_partition, settings=settings),
                             skip_invalid)


def process_partition(part, predictor: CandidatePredictor, reduce: Reducer,
                      skip_invalid: bool = False) -> PartitionResult:
    """Read, check, predict and ``reduce`` one partition (the unit of work of every engine;
    ``reduce`` keeps the rows of the predicted partition that the caller needs)."""
    from featurizers.interrupts import raise_if_interrupted
    from screen.screening.candidates import read_partition

    raise_if_interrupted()
    frame = read_partition(part)
    found = predictor.checker.check(frame, str(part.file), first_row=part.row_start + 1)
    problems = found[found["severity"] == "error"]
    warnings = found[found["severity"] != "error"]
    if len(problems) and not skip_invalid:
        raise InvalidCandidates(problems.head(20), total=len(problems))
    valid = ~frame["candidate_id"].isin(problems["candidate_id"]).to_numpy() \
        if len(problems) else np.ones(len(frame), dtype=bool)
    good = to_candidate_frame(frame.loc[valid].reset_index(drop=True))
    if not len(good):
        return PartitionResult(good.iloc[0:0], _grouped_rejects(problems), len(frame), warnings)
    predicted = pd.concat([good, predictor.predict(good)], axis=1)
    return PartitionResult(reduce(predicted), _grouped_rejects(problems), len(frame), warnings)


def _grouped_rejects(problems: pd.DataFrame) -> pd.DataFrame:
    """One row per rejected candidate: its id, file, row and every reason."""
    if not len(problems):
        return pd.DataFrame(columns=["candidate_id", "file", "row", "reason"])
    text = problems["column"] + "=" + problems["value"].astype(str) + ": " + problems["reason"]
    grouped = problems.assign(reason=text).groupby(["candidate_id", "file", "row"],
                                                    sort=False)["reason"]
    return grouped.agg(" | ".join).reset_index()


# ----------------------------------------------------------------------------- engines
def _local(parts: list, predictor: CandidatePredictor, reduce: Reducer,
           skip_invalid: bool, progress: Progress | None, total: int, threads: int = 1
           ) -> Iterable[PartitionResult]:
    """Partitions in this process, ``threads`` at a time (tree prediction, numpy and the
    SQLite feature cache release the GIL), results in partition order. At most
    ``threads + 1`` partitions are in memory."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    predictor.prepare()  # shared state is built before the threads start
    done = 0

    def finished(future) -> PartitionResult:
        nonlocal done
        result = future.result()
        done += result.n_rows
        if progress is not None:
            progress(done, total)
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, threads))
    # parallelism comes from the partitions: BLAS/OpenMP pools inside each would oversubscribe
    limits = threadpool_limits(limits=1) if threads > 1 else None
    try:
        pending = []
        for part in parts:
            pending.append(pool.submit(process_partition, part, predictor, reduce,
                                       skip_invalid))
            if len(pending) > threads:
                yield finished(pending.pop(0))
        while pending:
            yield finished(pending.pop(0))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if limits is not None:
            limits.restore_original_limits()


def _process_partition_single_threaded(part, predictor: CandidatePredictor,
                                       reduce: Reducer, skip_invalid: bool
                                       ) -> PartitionResult:
    """:func:`process_partition` with BLAS/OpenMP limited to one thread (a Dask worker runs
    one task per process thread)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return process_partition(part, predictor, reduce, skip_invalid)


def _dask(parts: list, predictor: CandidatePredictor, reduce: Reducer,
          skip_invalid: bool, progress: Progress | None, total: int,
          scheduler: str | None, workers: int) -> Iterable[PartitionResult]:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    try:
        shared = client.scatter(predictor, broadcast=True)
        futures = client.map(_process_partition_single_threaded, parts, predictor=shared,
                             reduce=reduce, skip_invalid=skip_invalid, pure=False)
        results: dict[int, PartitionResult] = {}
        position = {f.key: i for i, f in enumerate(futures)}
        done = 0
        for future in as_completed(futures):
            result = future.result()  # re-raises a worker's error here
            results[position[future.key]] = result
            done += result.n_rows
            if progress is not None:
                progress(done, total)
        return [results[i] for i in range(len(futures))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- the call
@dataclass
class RankResult:
    """The ranked top-K (rank order), every kept row with its exact layer (``front``), the
    rejected candidates and counts."""

    ranked: pd.DataFrame
    front: pd.DataFrame
    rejects: pd.DataFrame
    n_candidates: int
    settings: RankSettings
    engine: str
    warnings: pd.DataFrame | None = None  # of the candidate check (candidates kept)


def rank_candidates(path: str | Path, models: dict, settings: RankSettings, *,
                    library: ComponentLibrary | None = None, engine: str = "local",
                    scheduler: str | None = None, workers: int = 2, threads: int = 1,
                    partition_rows: int = 100_000, skip_invalid: bool = False,
                    explain: bool = True, progress: Progress | None = None) -> RankResult:
    """Rank the candidates in ``path`` (Parquet file/directory or CSV); see the module doc.

    ``threads``: partitions ranked at once by the local engine; ``workers``: processes of the
    Dask LocalCluster started when no ``scheduler`` address is given.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}; accepted: {', '.join(ENGINES)}")
    settings = settings.for_models(models)
    missing = sorted({settings.spec(o).target for o in settings.names
                      if settings.spec(o).target not in (None, *models)})
    if missing:
        raise LookupError(f"no model for {', '.join(missing)}: rank needs the champion "
                          "models (train them with `mgscreen train --all`) or --model-uri")
    predictor = CandidatePredictor(models, library)
    results, rejects, total = run_partitions(
        path, predictor, partial(reduce_partition, settings=settings), engine=engine,
        scheduler=scheduler, workers=workers, threads=threads, partition_rows=partition_rows,
        skip_invalid=skip_invalid, progress=progress)
    if not any(len(r.kept) for r in results):
        raise ValueError(f"{path}: no valid candidate to rank ({len(rejects)} rejected)")
    ranked, front = merge_partials([r.kept for r in results], settings)
    if explain:
        ranked = explain_top(ranked, predictor)
    warnings = [r.warnings for r in results if r.warnings is not None and len(r.warnings)]
    return RankResult(ranked=ranked, front=front, rejects=rejects, n_candidates=total,
                      settings=settings, engine=engine,
                      warnings=pd.concat(warnings, ignore_index=True) if warnings else None)


def run_partitions(path: str | Path, predictor: CandidatePredictor, reduce: Reducer, *,
                   engine: str = "local", scheduler: str | None = None, workers: int = 2,
                   threads: int = 1, partition_rows: int = 100_000, skip_invalid: bool = False,
                   progress: Progress | None = None
                   ) -> tuple[list[PartitionResult], pd.DataFrame, int]:
    """Every partition of the library at ``path`` read, checked, predicted and reduced by
    ``reduce`` (a picklable function of the predicted partition) on ``engine``. Returns the
    partition results in partition order, the rejected candidates and the candidate count."""
    from screen.screening.candidates import count_candidates, plan_partitions

    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}; accepted: {', '.join(ENGINES)}")
    parts = plan_partitions(path, partition_rows)
    total = count_candidates(path)
    if engine == "local":
        results = list(_local(parts, predictor, reduce, skip_invalid, progress, total,
                              threads))
    else:
        results = _dask(parts, predictor, reduce, skip_invalid, progress, total, scheduler,
                        workers)
    rejects = pd.concat([r.rejects for r in results], ignore_index=True) if results else \
        pd.DataFrame(columns=["candidate_id", "file", "row", "reason"])
    return results, rejects, total


def explain_top(ranked: pd.DataFrame, predictor: CandidatePredictor) -> pd.DataFrame:
    """Add ``reasons`` and ``nearest_measured`` to the ranked rows."""
    from screen.learn.predict import feature_frame
    from screen.screening.explain import ReferenceSet, block_effects, nearest_measured, reasons

    reference = ReferenceSet.build(predictor.featurizer)
    X = feature_frame(ranked, predictor.featurizer)
    out = ranked.copy()
    out["reasons"] = reasons(block_effects(X, predictor.models, reference)).to_numpy()
    out["nearest_measured"] = nearest_measured(X, reference).to_numpy()
    return out


def output_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The user-facing columns (internal ranking columns dropped)."""
    return frame.drop(columns=[c for c in frame.columns
                               if c in INTERNAL_COLUMNS or str(c).startswith("obj_")])


def default_workers() -> int:
    """Dask LocalCluster worker processes: the CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def report_meta(result: RankResult, candidates: str | Path,
                model_uris: dict[str, str] | None = None,
                model_set: str | None = None) -> dict:
    """What the HTML report says about how the ranking was made."""
    from datetime import datetime

    import screen
    from screen.learn.predict import resolved_model_uris
    from screen.screening.ranking import __doc__ as ranking_doc

    s = result.settings
    doc = ranking_doc.split("**Desirability**", 1)[-1].split("**Pareto layer**", 1)[0]
    return {"title": f"mgscreen ranking of {Path(candidates).name}",
            "candidates_path": str(candidates), "n_candidates": result.n_candidates,
            "n_ranked": len(result.ranked), "n_rejected": len(result.rejects),
            "order": s.order, "bound": s.bound, "weights": dict(s.weights),
            "layers": s.layers, "engine": result.engine,
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "mgscreen_version": getattr(screen, "__version__", ""),
            "models": resolved_model_uris(model_uris, model_set=model_set),
            "desirability_doc": "Desirability " + " ".join(doc.replace("\n- ", " • ").split())}


def output_plan(out: str | Path, *, rejects: str | Path | None = None,
                report: str | Path | None = None, candidates: str | Path | None = None,
                force: bool = False) -> OutputPlan:
    """The files a ranking writes (checked by ``.check()`` before ranking): the ranked table,
    the rejects CSV (default ``<out>.rejects.csv``) and the optional HTML report."""
    out = Path(out)
    rejects_path = Path(rejects) if rejects is not None else out.with_name(
        out.stem + ".rejects.csv")
    return OutputPlan([Output(out, "--out", TABLE_SUFFIXES),
                       Output(rejects_path, "--rejects", (".csv",)),
                       Output(Path(report), "--report", (".html", ".htm")) if report else None],
                      inputs=[candidates], force=force)


def write_outputs(result: RankResult, out: str | Path, *, rejects: str | Path | None = None,
                  report: str | Path | None = None, candidates: str | Path = "",
                  model_uris: dict[str, str] | None = None,
                  model_set: str | None = None,
                  plan: OutputPlan | None = None) -> dict[str, Path]:
    """Write the ranked table, the rejects (if any or if a path is given) and the report,
    committed together (all or none, see :mod:`screen.data.outputs`). Returns
    {label: path}."""
    plan = plan or output_plan(out, rejects=rejects, report=report,
                               candidates=candidates or None).check()

    def html(path: Path) -> None:
        from screen.data.dataset import load_interfaces
        from screen.screening.report import write_report

        write_report(path, output_frame(result.ranked), output_frame(result.front),
                     load_interfaces(), report_meta(result, candidates, model_uris, model_set),
                     [result.settings.spec(n) for n in result.settings.names])

    return write_staged(plan, output_frame(result.ranked), result.rejects,
                        keep_rejects=rejects is not None, report=html if report else None,
                        label="ranked")


def write_staged(plan: OutputPlan, table: pd.DataFrame, rejects: pd.DataFrame, *,
                 keep_rejects: bool, report: Callable[[Path], None] | None,
                 label: str) -> dict[str, Path]:
    """Write ``table`` (``--out``), the rejects (when there are any or ``keep_rejects``) and
    the report (``report(path)`` writes it) through ``plan``: committed together, all or
    none. Returns {label: path} of what was written."""
    written = {label: plan["--out"]}
    with plan.staged() as staged:
        write_table(table, staged["--out"])
        if keep_rejects or len(rejects):
            atomic_write_csv(rejects, staged["--rejects"])
            written["rejects"] = plan["--rejects"]
        if report is not None:
            report(staged["--report"])
            written["report"] = plan["--report"]
    return written
