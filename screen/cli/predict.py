"""``mgscreen predict``: predictions for new systems with the champion models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    InputCsv,
    ModelSetOption,
    TrackingUriOption,
    parse_model_set,
    parse_model_uris,
)

OutOption = Annotated[Path, typer.Option("--out", help="CSV to write (atomically).")]
ModelUriOption = Annotated[list[str] | None, typer.Option(
    "--model-uri", help="TARGET=URI to use instead of the registry champion, e.g. "
                        "overpotential=runs:/<run_id>/model (repeatable).")]


def predict(input_csv: InputCsv, out: OutOption, model_uri: ModelUriOption = None,
            tracking_uri: TrackingUriOption = None, model_set: ModelSetOption = None) -> None:
    """Predict overpotential (with interval), cycle life, p_passivating and the applicability
    domain for every system of INPUT_CSV (interfaces.csv schema; targets not needed)."""
    from rich.console import Console
    from rich.markup import escape

    from featurizers.base import FeaturizationError
    from screen.cli.errors import reported_errors
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import load_table
    from screen.data.io import atomic_write_csv
    from screen.data.schema import SYSTEM_REQUIRED
    from screen.learn.predict import load_models, predict_systems
    from screen.learn.tracking import Store

    uris = parse_model_uris(model_uri)
    model_set = parse_model_set(model_set)
    console = Console()
    store = Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        library = ComponentLibrary.load()
        frame = load_table(input_csv, library, mode="systems")
        try:
            models = load_models(store, uris, model_set=model_set)
        except LookupError as exc:
            console.print(str(exc), markup=False)
            raise typer.Exit(1) from None
        try:
            predictions = predict_systems(frame, models, library)
        except FeaturizationError as exc:
            console.print(f"{input_csv}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        keep = [c for c in frame.columns if c in SYSTEM_REQUIRED or c in (
            "salt", "salt_conc_M", "solvent_ratio", "additive", "current_density_mA_cm2")]
        table = frame[keep].join(predictions)
        table.insert(0, "row", frame.index.to_numpy())
        atomic_write_csv(table, out)
    console.print(f"[green]{escape(str(out))}: predictions for {len(table)} systems[/green]",
                  soft_wrap=True)
