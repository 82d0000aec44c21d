"""Printing results with rich (tables of counts, problem lists)."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from screen.dataset import Summary
from screen.validation import Problem


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    """A rich Table of a small DataFrame."""
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "iuf" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def print_summary(console: Console, summary: Summary, name: str) -> None:
    """Print a data-set summary as a series of tables."""
    console.print(f"[bold]{name}[/bold]: {summary.n_rows} rows")
    for frame, title in ((summary.by_metal, "Rows per metal"),
                         (summary.by_anion_family, "Rows per anion family"),
                         (summary.by_coating_class, "Rows per coating class"),
                         (summary.targets, "Rows with each measured value"),
                         (summary.by_source, "Rows per source")):
        console.print(frame_table(frame, title))
    if summary.censored_fraction is not None:
        console.print(f"Cycle-life rows right-censored ('over N h'): "
                      f"{summary.censored_fraction:.0%}")


def print_problems(console: Console, problems: list[Problem], limit: int = 200) -> None:
    """Print problems one per line (at most ``limit``)."""
    for problem in problems[:limit]:
        console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if len(problems) > limit:
        console.print(f"... and {len(problems) - limit} more (use --report to get them all)")


def print_train_result(console: Console, result) -> None:
    """Primary metric of the model and its baselines under every CV scheme."""
    table = result.results
    pooled = table[table["metric"] == result.primary_metric]
    wide = pooled.pivot(index="scheme", columns="candidate", values="value").reset_index()
    wide = wide.round(4)
    console.print(frame_table(wide, f"{result.target}: pooled out-of-fold "
                                    f"{result.primary_metric} (model vs baselines)"))
    state = "champion" if result.champion else "not champion"
    console.print(f"run {result.run_id}: primary {result.primary_metric} = "
                  f"{result.primary_value:.4g} ({state}); model {result.model_uri}")
