"""``mgscreen suggest``: the N experiments to run next from a candidate library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    DataOption,
    EmbeddedOption,
    ForceOption,
    ModelSetOption,
    TrackingUriOption,
    parse_model_set,
    parse_model_uris,
    training_table,
)
from screen.cli.predict import ModelUriOption
from screen.cli.rank import (
    CandidatesArg,
    ConfigOption,
    EngineOption,
    PartitionOption,
    RejectsOption,
    SchedulerOption,
    SkipOption,
    WeightsOption,
    WorkersOption,
    _progress,
    check_before_models,
    engine_options,
    scoring_errors,
)

BudgetOption = Annotated[int, typer.Option("--budget", min=1,
                                           help="How many experiments to suggest.")]
OutOption = Annotated[Path, typer.Option(
    "--out", help="The suggestions, .csv or .parquet (written atomically).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Also write a self-contained HTML report of the suggestions.")]
ExploreOption = Annotated[float | None, typer.Option(
    "--explore", min=0.0, help="Weight of learning (spread of the predicted desirability where "
                               "the data are thin) against expected gain. Default 0: expected "
                               "gain only; a few hundredths already let learning lead.")]
ShortlistOption = Annotated[int | None, typer.Option(
    "--shortlist", min=1, help="Candidates kept for the diversity step (default "
                               "max(20 x budget, 200)).")]
RadiusOption = Annotated[float | None, typer.Option(
    "--diversity-radius", min=0.0, help="Distance (standardized feature units) below which "
                                        "a pick discounts its neighbours; 0 turns diversity "
                                        "off. Default: from the measured systems.")]


def suggest(candidates: CandidatesArg, out: OutOption, budget: BudgetOption = 8,
            report: ReportOption = None, explore: ExploreOption = None,
            config: ConfigOption = None, weights: WeightsOption = None,
            data: DataOption = None, embedded: EmbeddedOption = True,
            model_set: ModelSetOption = None, model_uri: ModelUriOption = None,
            shortlist: ShortlistOption = None, diversity_radius: RadiusOption = None,
            engine: EngineOption = None, scheduler: SchedulerOption = None,
            workers: WorkersOption = None, partition_rows: PartitionOption = None,
            skip_invalid: SkipOption = False, rejects: RejectsOption = None,
            tracking_uri: TrackingUriOption = None, force: ForceOption = False) -> None:
    """Suggest the BUDGET experiments to run next from CANDIDATES: not yet measured, with the
    largest expected gain in desirability over the best measured system (plus --explore x
    learning where the data are thin), diverse in feature space, each with why. Give the
    --data files the models were trained on, so that those systems count as measured."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_suggestions, print_warnings
    from screen.learn.predict import load_models
    from screen.learn.tracking import Store
    from screen.screening.rank_config import load_rank_config
    from screen.screening.ranking import parse_weights
    from screen.screening.suggest import (
        DEFAULT_EXPLORE,
        SuggestSettings,
        output_plan,
        suggest_candidates,
        write_outputs,
    )

    uris = parse_model_uris(model_uri)
    model_set = parse_model_set(model_set)
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        loaded = load_rank_config(config)
        try:
            rank = loaded.settings.with_overrides(
                weights=parse_weights(weights) if weights is not None else None)
            settings = SuggestSettings(budget=budget, shortlist=shortlist,
                                       explore=DEFAULT_EXPLORE if explore is None else explore,
                                       radius=diversity_radius, rank=rank)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        options = engine_options(loaded, engine, scheduler, workers, partition_rows,
                                 skip_invalid)
        plan = output_plan(out, rejects=rejects, report=report, candidates=candidates,
                           data_files=[str(p) for p in data or []], force=force)
        check_before_models(console, plan, candidates, store)
        table = training_table(data, embedded)
        with scoring_errors(console):
            models = load_models(store, uris, model_set=model_set)
            with _progress(console, "scoring") as advance:
                result = suggest_candidates(candidates, models, settings, table.frame,
                                            progress=advance, **options)
        written = write_outputs(result, out, table.frame, report=report, rejects=rejects,
                                candidates=candidates, model_uris=uris, model_set=model_set,
                                data_files=[i.path for i in table.inputs], plan=plan)
    print_warnings(console, result.warnings, done="scored")
    print_suggestions(console, result)
    for label, path in written.items():
        console.print(f"{label}: {path}")
