"""``mgscreen featurize``: system table → feature matrix (Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import InputCsv

OutOption = Annotated[Path, typer.Option("--out", help="Parquet file to write (atomically).")]
OnErrorOption = Annotated[str, typer.Option(
    "--on-error", help="'raise': stop at the first component that cannot be featurized; "
                       "'nan': write NaN for it and list every failure at the end.")]
CacheDirOption = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Feature-cache directory (default: $MGSCREEN_CACHE_DIR or "
                        "~/.cache/mgscreen).")]


def featurize(input_csv: InputCsv, out: OutOption, on_error: OnErrorOption = "raise",
              cache_dir: CacheDirOption = None) -> None:
    """Featurize the systems of INPUT_CSV (interfaces.csv schema; targets not needed)."""
    import pandas as pd
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    from featurizers.base import FeaturizationError
    from featurizers.system import SystemFeaturizer
    from screen.cli.errors import reported_errors
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import check_file
    from screen.data.io import atomic_path
    from screen.data.problems import DataValidationError
    from screen.data.schema import COLUMN_BY_NAME
    from screen.data.validation import to_typed_frame

    if on_error not in ("raise", "nan"):
        raise typer.BadParameter(f"{on_error!r}; accepted: raise, nan", param_hint="--on-error")
    console = Console()
    with reported_errors(console):
        library = ComponentLibrary.load()
        raw, problems = check_file(input_csv, library, mode="systems")
        if on_error == "nan":  # unknown components become NaN rows, reported at the end
            problems = [p for p in problems if not (
                p.column in COLUMN_BY_NAME and COLUMN_BY_NAME[p.column].kind == "component"
                and p.message.startswith("unknown"))]
        if problems:
            raise DataValidationError(problems)
        frame = to_typed_frame(raw)
        featurizer = SystemFeaturizer(library=library, on_error=on_error,
                                      cache_dir=str(cache_dir) if cache_dir else None).fit()
        try:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"featurizing {len(frame)} systems",
                                    total=featurizer.n_steps)
                matrix = featurizer.featurize_frame(
                    frame, progress=lambda block: bar.update(task, advance=1,
                                                             description=f"done: {block}"))
        except FeaturizationError as exc:
            console.print(f"{input_csv}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        table = pd.DataFrame(matrix, columns=list(featurizer.get_feature_names_out()))
        table.insert(0, "row", frame.index.to_numpy())
        with atomic_path(out) as tmp:
            table.to_parquet(tmp, index=False)
    console.print(f"[green]{escape(str(out))}: {len(table)} rows x {matrix.shape[1]} "
                  "features[/green]", soft_wrap=True)
    if featurizer.errors_:
        console.print(f"[yellow]{len(featurizer.errors_)} component(s) could not be featurized "
                      "(NaN written):[/yellow]")
        for name, reason in featurizer.errors_.items():
            console.print(f"  {name}: {reason}", markup=False)
