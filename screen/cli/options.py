"""Option and argument types shared by the verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.data.validation import Mode

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


def parse_model_uris(items: list[str] | None) -> dict[str, str]:
    """``--model-uri TARGET=URI`` values as {target: uri}; a bad item is a usage error."""
    from screen.learn.registry import target_names

    uris = {}
    for item in items or []:
        target, _, uri = item.partition("=")
        if target not in target_names() or not uri:
            raise typer.BadParameter(f"{item!r}; expected TARGET=URI with TARGET one of "
                                     f"{', '.join(target_names())}", param_hint="--model-uri")
        uris[target] = uri
    return uris
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Replace an existing output file even if it is of another kind (e.g. a "
                    "Parquet file by a CSV).")]
