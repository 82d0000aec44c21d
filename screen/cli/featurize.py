"""``mgscreen featurize``: system table → feature matrix (Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import ForceOption, InputCsv

OutOption = Annotated[Path, typer.Option(
    "--out", help="Feature table to write (atomically): .parquet, or .csv.")]
OnErrorOption = Annotated[str, typer.Option(
    "--on-error", help="'raise': stop at the first component that cannot be featurized; "
                       "'nan': write NaN for it and list every failure at the end.")]
CacheDirOption = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Feature-cache directory (default: $MGSCREEN_CACHE_DIR or "
                        "~/.cache/mgscreen).")]


def featurize(input_csv: InputCsv, out: OutOption, on_error: OnErrorOption = "raise",
              cache_dir: CacheDirOption = None, force: ForceOption = False) -> None:
    """Featurize the systems of INPUT_CSV (interfaces.csv schema; targets not needed)."""
    import pandas as pd
    from rich.markup import escape
    from rich.progress import Progress

    from featurizers.base import FeaturizationError
    from featurizers.system import SystemFeaturizer
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_problems
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import check_file
    from screen.data.outputs import Output, OutputPlan, write_table
    from screen.data.problems import DataValidationError, errors_of, warnings_of
    from screen.data.validation import to_typed_frame

    if on_error not in ("raise", "nan"):
        raise typer.BadParameter(f"{on_error!r}; accepted: raise, nan", param_hint="--on-error")
    console = make_console()
    with reported_errors(console):
        plan = OutputPlan([Output(out, "--out", (".parquet", ".pq", ".csv"))],
                          inputs=[input_csv], force=force).check()
        library = ComponentLibrary.load()
        featurizer = SystemFeaturizer(library=library, on_error=on_error,
                                      cache_dir=str(cache_dir) if cache_dir else None).fit()
        check = featurizer.component_problem if on_error == "raise" else None
        raw, problems = check_file(input_csv, library, mode="systems", component_check=check)
        # with --on-error nan, components the check refuses are featurized as NaN (blank)
        refused = [p for p in problems if p.rule == "component"] if on_error == "nan" else []
        problems = [p for p in problems if p not in refused]
        if errors_of(problems):
            raise DataValidationError(problems)
        print_problems(console, warnings_of(problems))
        frame = to_typed_frame(raw)
        for problem in refused:
            frame.loc[problem.row, problem.column] = pd.NA
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
        with plan.staged() as staged:
            write_table(table, staged["--out"])
    console.print(f"[green]{escape(str(out))}: {len(table)} rows x {matrix.shape[1]} "
                  "features[/green]", soft_wrap=True)
    failures = {(p.column, str(p.value).strip()): p.message for p in refused}
    failures.update(featurizer.failures_)
    if failures:
        console.print(f"[yellow]{len(failures)} component(s) could not be featurized (NaN "
                      "written in their rows):[/yellow]")
        for (column, value), reason in failures.items():
            rows = _rows_with(raw, column, value)
            console.print(f"  column {column!r}, value {value!r} (row(s) {rows}): {reason}",
                          markup=False, soft_wrap=True)


def _rows_with(raw, column: str, value: str) -> str:
    """The data rows whose ``column`` holds ``value`` (or a ':'-part equal to it)."""
    if column not in raw:
        return "?"
    cells = raw[column].astype(str).str.strip()
    hit = cells.eq(value) | cells.str.split(":").map(lambda parts: value in parts)
    rows = [str(r) for r in raw.index[hit.to_numpy(bool)]]
    return ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
