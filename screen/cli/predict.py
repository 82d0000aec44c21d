"""``mgscreen predict``: predictions for new systems with the champion models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    ForceOption,
    InputCsv,
    ModelSetOption,
    TrackingUriOption,
    parse_model_set,
    parse_model_uris,
)

OutOption = Annotated[Path, typer.Option(
    "--out", help="Predictions to write (atomically): .csv or .parquet.")]
ModelUriOption = Annotated[list[str] | None, typer.Option(
    "--model-uri", help="TARGET=URI to use instead of the registry champion, e.g. "
                        "overpotential=runs:/<run_id>/model (repeatable).")]


def predict(input_csv: InputCsv, out: OutOption, model_uri: ModelUriOption = None,
            tracking_uri: TrackingUriOption = None, force: ForceOption = False,
            model_set: ModelSetOption = None) -> None:
    """Predict every target (e.g. overpotential with interval, cycle life, p_passivating) and
    the applicability domain for every system of INPUT_CSV (interfaces.csv schema; targets not
    needed). The output keeps the input's columns and adds the resolved component names, the
    inputs the models had to fill in, and the predictions."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_problems
    from screen.data.outputs import TABLE_SUFFIXES, Output, OutputPlan, write_table
    from screen.learn.tracking import Store, check_readable
    from screen.screening.predictions import predict_file

    uris = parse_model_uris(model_uri)
    model_set = parse_model_set(model_set)
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        plan = OutputPlan([Output(out, "--out", TABLE_SUFFIXES)], inputs=[input_csv],
                          force=force).check()
        check_readable(store)  # before the work; a missing store is reported, not created
        result = predict_file(input_csv, store, uris, model_set=model_set)
        print_problems(console, result.warnings)
        if result.imputed_note:
            console.print(f"warning: {input_csv}: {result.imputed_note}", markup=False,
                          soft_wrap=True, style="yellow")
        with plan.staged() as staged:
            write_table(result.table, staged["--out"])
    console.print(f"{out}: predictions for {len(result.table)} systems", markup=False,
                  soft_wrap=True, style="green")
