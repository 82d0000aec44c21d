"""``mgscreen tune``: search model family, hyperparameters and feature sets with Optuna, scored
by the grouped CV that ``train`` uses; see :mod:`screen.learn.tune` for the ``[tune]`` table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    DataOption,
    EmbeddedOption,
    ForceOption,
    TrackingUriOption,
    parse_model_set,
    training_table,
)

ConfigOption = Annotated[Path, typer.Option(
    "--config", help="Experiment config (TOML) with a [tune] search space, e.g. "
                     "experiments/overpotential.toml.", show_default=False)]
TrialsOption = Annotated[int | None, typer.Option(
    "--trials", min=1, help="Trials to run in this invocation (the study may already hold "
                            "some).")]
TimeoutOption = Annotated[float | None, typer.Option(
    "--timeout", min=0, help="Stop starting new trials after this many seconds.")]
StorageOption = Annotated[str | None, typer.Option(
    "--storage", help="Optuna storage: a journal file path (default: optuna-journal.log in the "
                      "working directory, safe for several processes), journal:///path.log, "
                      "sqlite:///file.db (one process) or postgresql://...")]
StudyOption = Annotated[str | None, typer.Option(
    "--study-name", help="Study name (default: mgscreen-<target>, or NAME-<target> with "
                         "--name); an existing study continues.")]
JobsOption = Annotated[int, typer.Option(
    "--n-jobs", min=1, help="Trials run in parallel threads of this process (for processes, "
                            "start several `mgscreen tune` on one storage).")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", help="Where to write the best config (default: best_<target>.toml).")]
RetrainOption = Annotated[bool, typer.Option(
    "--retrain", help="Train and register the best config; it takes the 'champion' alias only "
                      "if it beats the current champion.")]
NameOption = Annotated[str | None, typer.Option(
    "--name", help="With --retrain: register the model as NAME-<target> (a lab's own "
                   "champion; the default one is never touched).")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config key before tuning, e.g. --set cv.n_splits=3 "
                  "(repeatable).")]


def tune(config: ConfigOption, trials: TrialsOption = None, timeout: TimeoutOption = None,
         storage: StorageOption = None, study_name: StudyOption = None, n_jobs: JobsOption = 1,
         out: OutOption = None, retrain: RetrainOption = False,
         tracking_uri: TrackingUriOption = None, overrides: SetOption = None,
         force: ForceOption = False, data: DataOption = None,
         embedded: EmbeddedOption = True, name: NameOption = None) -> None:
    """Tune a target's model with Optuna (resumable; several processes may share a storage);
    with --data, on the embedded data set plus your own measurements."""
    import contextlib
    import math
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console
    from screen.data.outputs import Output, OutputPlan
    from screen.learn.config import load_config
    from screen.learn.tracking import Store
    from screen.learn.train import featurize_dataset
    from screen.learn.tune import TuneInterrupted, run_tune

    if trials is None and timeout is None:
        raise typer.BadParameter("give --trials N and/or --timeout S", param_hint="--trials")
    model_set = parse_model_set(name, "--name")
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    counts = {"done": 0, "pruned": 0, "failed": 0, "best": math.nan}
    lock = threading.Lock()
    with reported_errors(console):
        cfg = load_config(config, list(overrides or []))
        out = out or Path.cwd() / f"best_{cfg['target']}.toml"  # the default of run_tune
        OutputPlan([Output(out, "--out", (".toml",))], inputs=[config], force=force).check()
        features = featurize_dataset(training_table(data, embedded)) \
            if data or not embedded else None
        progress = Progress(TextColumn("[bold]tune[/bold] {task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                            transient=False)

        def describe() -> str:
            best = "—" if math.isnan(counts["best"]) else f"{counts['best']:.4g}"
            return (f"done {counts['done']} · pruned {counts['pruned']} · failed "
                    f"{counts['failed']} · best {best}")

        def on_trial(study, trial) -> None:
            with lock:
                counts["done"] += 1
                if trial.state.name == "PRUNED":
                    counts["pruned"] += 1
                elif trial.state.name != "COMPLETE":
                    counts["failed"] += 1
                with contextlib.suppress(ValueError):  # no complete trial yet
                    counts["best"] = float(study.best_value)
                progress.update(bar, advance=1, description=describe())

        bar = progress.add_task(describe(), total=trials)
        try:
            with progress:
                summary = run_tune(cfg, trials, timeout, storage, study_name, n_jobs, out,
                                   store, features=features, callbacks=[on_trial],
                                   retrain=retrain, where=str(config), model_set=model_set)
        except TuneInterrupted as exc:
            print_summary(console, exc.summary)
            console.print("[yellow]interrupted: finished trials are kept in the storage; run "
                          "the same command to continue[/yellow]")
            raise typer.Exit(130) from None
    print_summary(console, summary)


def print_summary(console, summary) -> None:
    """Trial counts, best value, params and config path."""
    run = summary.this_run
    console.print(f"study {summary.study_name!r} ({summary.direction}) in {summary.storage}",
                  markup=False, soft_wrap=True)
    console.print(f"this run: {run.get('complete', 0)} complete, {run.get('pruned', 0)} pruned, "
                  f"{run.get('failed', 0)} failed; study: {summary.n_trials_total} trials, "
                  f"{summary.n_complete} complete, {summary.n_pruned} pruned, "
                  f"{summary.n_failed} failed", markup=False)
    recovered = summary.recovered or {}
    if recovered.get("trials") or recovered.get("runs"):
        console.print(f"left RUNNING by a process that died (kill -9, crash) and closed now: "
                      f"{len(recovered.get('trials', []))} trial(s) marked FAIL, "
                      f"{len(recovered.get('runs', []))} MLflow run(s) marked FAILED",
                      markup=False, soft_wrap=True)
    if summary.best_value is None:
        console.print("no complete trial yet: no best config written", markup=False)
    else:
        console.print(f"best value {summary.best_value:.6g} (trial {summary.best_number})",
                      markup=False)
        for key, value in summary.best_params.items():
            console.print(f"  {key} = {value!r}", markup=False, soft_wrap=True)
        console.print(f"best config: {summary.best_config_path}", markup=False, soft_wrap=True)
    if summary.run_id:
        console.print(f"MLflow parent run: {summary.run_id}", markup=False)
    if summary.retrain is not None:
        from screen.cli.render import print_train_result

        print_train_result(console, summary.retrain)
