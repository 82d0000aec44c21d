"""Option and argument types shared by the verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.data.validation import MODES, Mode

InputCsv = Annotated[Path, typer.Argument(help="CSV file in the interfaces.csv schema.",
                                          show_default=False)]
OptionalInputCsv = Annotated[Path | None, typer.Argument(
    help="CSV file in the interfaces.csv schema (default: the embedded data set).",
    show_default=False)]
ModeOption = Annotated[str, typer.Option(
    "--mode", help="'dataset': curated measurements (provenance and a measured value per row "
                   "required); 'lab': your own measurements, as `train --data` checks them "
                   "(source/location may be blank); 'systems': systems to featurize/predict "
                   "(targets not needed).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Also write every problem to this CSV (file,row,line,column,value,message).")]


def parse_mode(value: str) -> Mode:
    """Validate the --mode value."""
    if value not in MODES:
        raise typer.BadParameter(f"{value!r}; accepted: {', '.join(MODES)}", param_hint="--mode")
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


DataOption = Annotated[list[Path] | None, typer.Option(
    "--data", help="Your own measurements: a CSV in the interfaces.csv schema, checked as "
                   "`mgscreen data validate FILE --mode lab` checks it; added to the embedded "
                   "data set (repeatable). A blank source becomes the file name.")]
EmbeddedOption = Annotated[bool, typer.Option(
    "--embedded/--no-embedded", help="Include the embedded literature data set, or use only "
                                     "the --data files.")]
ModelSetOption = Annotated[str | None, typer.Option(
    "--models", help="Use a lab's models, trained with `mgscreen train --name NAME` "
                     "(registered as NAME-<target>), instead of the default champions.")]


def parse_model_set(value: str | None, hint: str = "--models") -> str | None:
    """Validate a model-set name (``--name`` / ``--models``); None stays None."""
    from screen.learn.tracking.store import check_model_set

    if value is None:
        return None
    try:
        return check_model_set(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def training_table(data: list[Path] | None, embedded: bool, library=None):
    """The rows to learn from (:func:`screen.data.dataset.load_training_table`); no data at
    all is a usage error. Problems of the files raise ``DataValidationError``."""
    from screen.data.dataset import load_training_table

    if not embedded and not data:
        raise typer.BadParameter("--no-embedded needs at least one --data FILE",
                                 param_hint="--data")
    return load_training_table(list(data or ()), embedded=embedded, library=library)
