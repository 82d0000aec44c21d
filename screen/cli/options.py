"""Option and argument types shared by the verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.validation import Mode

InputCsv = Annotated[Path, typer.Argument(help="CSV file in the interfaces.csv schema.",
                                          show_default=False)]
OptionalInputCsv = Annotated[Path | None, typer.Argument(
    help="CSV file in the interfaces.csv schema (default: the embedded data set).",
    show_default=False)]
ModeOption = Annotated[str, typer.Option(
    "--mode", help="'dataset': curated measurements (provenance and a measured value per row "
                   "required); 'systems': systems to featurize/predict (targets not needed).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Also write every problem to this CSV (file,row,line,column,value,message).")]


def parse_mode(value: str) -> Mode:
    """Validate the --mode value."""
    if value not in ("dataset", "systems"):
        raise typer.BadParameter(f"{value!r}; accepted: dataset, systems", param_hint="--mode")
    return value  # type: ignore[return-value]
TrackingUriOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking store (default: $MLFLOW_TRACKING_URI or "
                           "sqlite:///mlflow.db in the working directory).")]
