"""``mgscreen rank``: rank a candidate library with the champion models."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    ForceOption,
    ModelSetOption,
    TrackingUriOption,
    parse_model_set,
    parse_model_uris,
)
from screen.cli.predict import ModelUriOption

CandidatesArg = Annotated[Path, typer.Argument(
    help="Candidates: Parquet file or directory from `mgscreen enumerate`, or a CSV in the "
         "interfaces.csv system schema.", show_default=False)]
OutOption = Annotated[Path, typer.Option(
    "--out", help="Ranked top-K, .csv or .parquet (written atomically).")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Rank config (default experiments/rank.toml); flags override it.")]
TopOption = Annotated[int | None, typer.Option("--top", min=1, help="How many to keep.")]
OrderOption = Annotated[str | None, typer.Option(
    "--order", help="'pareto' (layer, then desirability) or 'desirability'.")]
BoundOption = Annotated[str | None, typer.Option(
    "--bound", help="'point', 'optimistic' (interval end in your favour: exploration) or "
                    "'pessimistic' (against you: safety).")]
WeightsOption = Annotated[str | None, typer.Option(
    "--weights", help="Desirability weights, e.g. overpotential=2,cycle_life=1,passivation=1 "
                      "(unlisted objectives get 0).")]
LayersOption = Annotated[int | None, typer.Option(
    "--layers", min=1, help="Pareto layers computed exactly.")]
DomainOption = Annotated[bool | None, typer.Option(
    "--domain-last/--include-out-of-domain",
    help="Rank out-of-domain candidates after in-domain ones (default), or among them.")]
EngineOption = Annotated[str | None, typer.Option("--engine", help="'local' or 'dask'.")]
SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", help="Dask scheduler address (tcp://host:8786); default: a LocalCluster.")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Local engine: partitions ranked at once (threads); dask engine: "
                             "worker processes of the LocalCluster. Default: the CPUs.")]
PartitionOption = Annotated[int | None, typer.Option(
    "--partition-rows", min=1000, help="Candidates per partition (memory and task size).")]
SkipOption = Annotated[bool, typer.Option(
    "--skip-invalid", help="Write invalid candidates to the rejects file and rank the rest.")]
RejectsOption = Annotated[Path | None, typer.Option(
    "--rejects", help="Rejects CSV (default: <out>.rejects.csv, with --skip-invalid).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Also write a self-contained HTML report (table, Pareto front, context).")]


def rank(candidates: CandidatesArg, out: OutOption, config: ConfigOption = None,
         top: TopOption = None, order: OrderOption = None, bound: BoundOption = None,
         weights: WeightsOption = None, layers: LayersOption = None,
         domain_last: DomainOption = None, engine: EngineOption = None,
         scheduler: SchedulerOption = None, workers: WorkersOption = None,
         partition_rows: PartitionOption = None, skip_invalid: SkipOption = False,
         rejects: RejectsOption = None, report: ReportOption = None,
         model_uri: ModelUriOption = None, tracking_uri: TrackingUriOption = None,
         force: ForceOption = False, model_set: ModelSetOption = None) -> None:
    """Predict every candidate with the champion models and write the best, ranked by Pareto
    layer and desirability, each with its predictions, rank reasons and nearest measured
    systems."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_ranked, print_warnings
    from screen.learn.predict import load_models
    from screen.learn.tracking import Store
    from screen.screening.rank import output_plan, rank_candidates, write_outputs
    from screen.screening.rank_config import load_rank_config
    from screen.screening.ranking import parse_weights

    uris = parse_model_uris(model_uri)
    model_set = parse_model_set(model_set)
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        loaded = load_rank_config(config)
        try:
            settings = loaded.settings.with_overrides(
                top=top, order=order, bound=bound, layers=layers, domain_last=domain_last,
                weights=parse_weights(weights) if weights is not None else None)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        options = engine_options(loaded, engine, scheduler, workers, partition_rows,
                                 skip_invalid)
        plan = output_plan(out, rejects=rejects, report=report, candidates=candidates,
                           force=force)
        check_before_models(console, plan, candidates, store)
        models = load_models(store, uris, model_set=model_set)
        with scoring_errors(console), _progress(console) as advance:
            result = rank_candidates(candidates, models, settings, progress=advance, **options)
        written = write_outputs(result, out, rejects=rejects, report=report,
                                candidates=candidates, model_uris=uris, model_set=model_set,
                                plan=plan)
    print_warnings(console, result.warnings)
    print_ranked(console, result.ranked,
                 [result.settings.spec(n) for n in result.settings.names], limit=20)
    console.print(f"[green]{result.n_candidates:,} candidates ranked "
                  f"({len(result.rejects):,} rejected) with the {options['engine']} "
                  "engine.[/green]")
    for label, path in written.items():
        console.print(f"{label}: {path}")


def check_engine(engine: str) -> str:
    """``engine`` if the ranking engines know it, else a usage error naming them."""
    from screen.screening.rank import ENGINES

    if engine not in ENGINES:
        raise typer.BadParameter(f"{engine!r}; accepted: {', '.join(ENGINES)}",
                                 param_hint="--engine")
    return engine


def engine_options(loaded, engine: str | None, scheduler: str | None, workers: int | None,
                   partition_rows: int | None, skip_invalid: bool) -> dict:
    """Keyword arguments of the scoring engine (rank, suggest): the flags, else the rank
    config (``loaded``), else the defaults (workers and threads: the CPUs)."""
    from screen.screening.rank import default_workers

    return {"engine": check_engine(engine or loaded.engine), "scheduler": scheduler,
            "workers": workers or default_workers(), "threads": workers or default_workers(),
            "partition_rows": partition_rows or loaded.partition_rows,
            "skip_invalid": skip_invalid}


@contextmanager
def scoring_errors(console):
    """Invalid candidates, or models that cannot score them, end a scoring verb with status 1
    and the message (no traceback)."""
    from screen.screening.rank import InvalidCandidates

    try:
        yield
    except InvalidCandidates as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    except (LookupError, ValueError, FileNotFoundError) as exc:
        console.print(f"{type(exc).__name__}: {exc}", markup=False)
        raise typer.Exit(1) from None


def check_before_models(console, plan, candidates: Path, store) -> None:
    """What can be checked before the models are loaded, for the verbs that score a candidate
    library (rank, suggest): the output paths, the candidate file (exit 1 naming it) and the
    tracking store (never created by a read-only command)."""
    from screen.learn.tracking import check_readable
    from screen.screening.candidates import CandidateFileError, check_candidates

    plan.check()
    try:
        check_candidates(candidates)
    except CandidateFileError as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    check_readable(store)


class _progress:
    """Rich progress bar as a ``progress(done, total)`` callback."""

    def __init__(self, console, label: str = "ranking"):
        self.console, self.label = console, label

    def __enter__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=self.console, transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("rank", total=None)
        return self.advance

    def advance(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)
