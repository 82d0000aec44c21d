"""``mgscreen data``: validate a table against the schema, summarize a data set."""

from __future__ import annotations

import typer

from screen.cli.options import (
    ForceOption,
    InputCsv,
    ModeOption,
    OptionalInputCsv,
    ReportOption,
    parse_mode,
)

app = typer.Typer(help="Check and describe interface data tables.", no_args_is_help=True)


@app.command("validate")
def validate_cmd(file: InputCsv, mode: ModeOption = "dataset",
                 report: ReportOption = None, force: ForceOption = False) -> None:
    """Check FILE against the interfaces schema; list every problem with row, column and value.

    Components outside the library (SMILES, formulas) are featurized once to check that they
    can be (the features are cached for featurize, predict and rank). Exits 0 when the file
    has no errors (warnings are listed), 1 when it has errors.
    """
    import pandas as pd
    from rich.markup import escape

    from featurizers.check import featurization_check
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_problems
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import check_file
    from screen.data.io import atomic_write_csv
    from screen.data.outputs import Output, OutputPlan
    from screen.data.problems import errors_of

    console = make_console()
    with reported_errors(console):
        plan = OutputPlan([Output(report, "--report", (".csv",))] if report else [],
                          inputs=[file], force=force).check()
        library = ComponentLibrary.load()
        raw, problems = check_file(file, library, mode=parse_mode(mode),
                                   component_check=featurization_check(library))
        if report is not None:
            with plan.staged() as staged:
                atomic_write_csv(pd.DataFrame(
                    [(p.file, p.row, None if p.row is None else p.row + 1, p.column, p.value,
                      p.message, p.severity) for p in problems],
                    columns=["file", "row", "line", "column", "value", "message", "severity"],
                ).astype({"row": "Int64", "line": "Int64"}), staged["--report"])  # 7, not 7.0
        print_problems(console, problems)
        errors = errors_of(problems)
        n_warnings = len(problems) - len(errors)
        warned = f", {n_warnings} warning(s)" if n_warnings else ""
        if errors:
            console.print(f"[red]{len(errors)} problem(s)[/red]{warned}")
            if mode == "dataset" and _looks_like_systems(errors):
                console.print(f"hint: {file} has no provenance columns (source, location), "
                              "as a table of systems to featurize, predict or rank: check it "
                              f"with `mgscreen data validate {file} --mode systems`",
                              markup=False, soft_wrap=True)
            raise typer.Exit(1)
    if n_warnings:
        console.print(f"[yellow]{escape(str(file))}: {len(raw)} rows, no errors, "
                      f"{n_warnings} warning(s)[/yellow]", soft_wrap=True)
    else:
        console.print(f"[green]{escape(str(file))}: {len(raw)} rows, no problems[/green]",
                      soft_wrap=True)


def _looks_like_systems(problems) -> bool:
    """The only header problems are the missing provenance columns of a data set."""
    from screen.data.schema import PROVENANCE_REQUIRED

    header = [p for p in problems if p.row is None]
    return bool(header) and all(p.column in PROVENANCE_REQUIRED and "missing" in p.message
                                for p in header)


@app.command("info")
def info_cmd(file: OptionalInputCsv = None) -> None:
    """Summarize a data set (default: the embedded one): rows per metal, anion family and
    coating class, rows with each measured value, censored fraction."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_summary
    from screen.data.dataset import load_interfaces, summarize
    from screen.data.paths import INTERFACES_FILE

    console = make_console()
    with reported_errors(console):
        frame = load_interfaces(file)
        print_summary(console, summarize(frame), str(file or INTERFACES_FILE))
