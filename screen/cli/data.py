"""``mgscreen data``: validate a table against the schema, summarize a data set."""

from __future__ import annotations

import typer

from screen.cli.options import InputCsv, ModeOption, OptionalInputCsv, ReportOption, parse_mode

app = typer.Typer(help="Check and describe interface data tables.", no_args_is_help=True)


@app.command("validate")
def validate_cmd(file: InputCsv, mode: ModeOption = "dataset",
                 report: ReportOption = None) -> None:
    """Check FILE against the interfaces schema; list every problem with row, column and value.

    Exits 0 when the file is clean, 1 when it has problems.
    """
    import pandas as pd
    from rich.console import Console
    from rich.markup import escape

    from screen.cli.errors import reported_errors
    from screen.data.dataset import check_file
    from screen.data.io import atomic_write_csv
    from screen.data.problems import DataValidationError

    console = Console()
    with reported_errors(console):
        raw, problems = check_file(file, mode=parse_mode(mode))
        if report is not None:
            atomic_write_csv(pd.DataFrame(
                [(p.file, p.row, None if p.row is None else p.row + 1, p.column, p.value,
                  p.message) for p in problems],
                columns=["file", "row", "line", "column", "value", "message"],
            ).astype({"row": "Int64", "line": "Int64"}), report)  # 7, not 7.0, beside blanks
        if problems:
            raise DataValidationError(problems)
    console.print(f"[green]{escape(str(file))}: {len(raw)} rows, no problems[/green]",
                  soft_wrap=True)


@app.command("info")
def info_cmd(file: OptionalInputCsv = None) -> None:
    """Summarize a data set (default: the embedded one): rows per metal, anion family and
    coating class, rows with each measured value, censored fraction."""
    from rich.console import Console

    from screen.cli.errors import reported_errors
    from screen.cli.render import print_summary
    from screen.data.dataset import load_interfaces, summarize
    from screen.data.paths import INTERFACES_FILE

    console = Console()
    with reported_errors(console):
        frame = load_interfaces(file)
        print_summary(console, summarize(frame), str(file or INTERFACES_FILE))
