"""Printing results with rich (tables of counts, problem lists)."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from screen.data.dataset import Summary
from screen.data.problems import Problem


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
    console.print(f"[bold]{name}[/bold]: {summary.n_rows} rows, {summary.n_systems} distinct "
                  "systems (electrolyte + anode)")
    for frame, title in ((summary.by_source_kind, "Rows, systems per source kind"),
                         (summary.by_year, "Rows, systems per year"),
                         (summary.system_labels, "Passivation, per system"),
                         (summary.by_metal, "Rows per metal"),
                         (summary.by_anion_family, "Rows per anion family"),
                         (summary.by_coating_class, "Rows per coating class"),
                         (summary.targets, "Rows with each measured value"),
                         (summary.by_source, "Rows per source")):
        if frame is not None and len(frame):
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


def print_warnings(console: Console, warnings: pd.DataFrame | None, limit: int = 10,
                   done: str = "ranked") -> None:
    """The warnings of a candidate check (rows kept), at most ``limit`` and a count."""
    from screen.data.candidate_checks import problems_as_text

    if warnings is None or not len(warnings):
        return
    for line in problems_as_text(warnings, limit):
        console.print(line, markup=False, highlight=False, soft_wrap=True, style="yellow")
    more = f" ({len(warnings) - limit} more not shown)" if len(warnings) > limit else ""
    console.print(f"{len(warnings)} warning(s); the candidates were {done}{more}",
                  markup=False, style="yellow")


def print_train_result(console: Console, result) -> None:
    """Primary metric of the model and its baselines under every CV scheme."""
    table = result.results
    pooled = table[table["metric"] == result.primary_metric]
    wide = pooled.pivot(index="scheme", columns="candidate", values="value").reset_index()
    wide = wide.round(4)
    console.print(frame_table(wide, f"{result.target}: pooled out-of-fold "
                                    f"{result.primary_metric} (model vs baselines)"))
    state = "champion" if result.champion else "not champion"
    if getattr(result, "registered_name", ""):
        state += f" of {result.registered_name}"
    console.print(f"run {result.run_id}: primary {result.primary_metric} = "
                  f"{result.primary_value:.4g} ({state}); model {result.model_uri}")


#: Width of the ranked table in the terminal (columns).
TABLE_WIDTH = 100


def make_console() -> Console:
    """The console of a verb: the terminal's width in a terminal; :data:`TABLE_WIDTH` columns
    when the output goes to a file, a pipe or a CI log (rich would assume 80 and crop the
    ranked table), unless ``COLUMNS`` says otherwise."""
    import os
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=TABLE_WIDTH)


def print_ranked(console: Console, ranked: pd.DataFrame, specs, limit: int = 20) -> None:
    """The first ``limit`` ranked candidates in at most :data:`TABLE_WIDTH` columns: the
    formulation (electrolyte; anode and test condition), each objective's point prediction
    (``>`` a lower bound), the desirability with its range over the objectives' uncertainty
    (``≈`` marks candidates that cannot be told apart from the top), the Pareto layer and the
    domain. Intervals and reasons are in the CSV and the HTML report."""
    from rich import box

    from screen.data.formulation import (
        anode_text,
        composition_lines,
        condition_text,
        electrolyte_text,
    )

    table = Table(title=f"Top {min(limit, len(ranked))} candidates", title_justify="left",
                  box=box.SIMPLE_HEAD, width=min(TABLE_WIDTH, console.width), pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("formulation (electrolyte / anode, condition)", ratio=1)
    for spec in specs:
        unit = f" {spec.unit}" if spec.unit else ""
        table.add_column(f"{spec.short or spec.label}{unit}", justify="right", no_wrap=True)
    table.add_column("D [range]", justify="right", no_wrap=True)
    table.add_column("L", justify="right", no_wrap=True)
    table.add_column("dom", no_wrap=True)
    for _, row in ranked.head(limit).iterrows():
        where = ", ".join(filter(None, (anode_text(row), condition_text(row))))
        cells = [str(row["rank"]), f"{electrolyte_text(row)}\n{where}"]
        cells += [_point(spec, row) for spec in specs]
        cells.append(_desirability(row))
        cells += [str(row.get("pareto_layer", "")),
                  "in" if bool(row.get("in_domain", True)) else "OUT"]
        table.add_row(*cells)
    console.print(table)
    if ranked.empty:
        return
    tied = int(ranked["tied_with_top"].sum()) if "tied_with_top" in ranked else 0
    console.print(f"Top {len(ranked):,} — " + "; ".join(composition_lines(ranked))
                  + (f". {tied - 1:,} of them cannot be told apart from rank 1 (≈)."
                     if tied > 1 else "."), markup=False, width=min(TABLE_WIDTH, console.width))


def _point(spec, row) -> str:
    value = row.get(spec.column())
    if value is None or pd.isna(value):
        return "-"
    lower = spec.columns.get("lower_bound")
    prefix = ">" if lower is not None and bool(row.get(lower, False)) else ""
    return f"{prefix}{float(value):.{spec.decimals}f}"


def _desirability(row) -> str:
    d = float(row["desirability"])
    low, high = row.get("desirability_low"), row.get("desirability_high")
    mark = "≈" if bool(row.get("tied_with_top", False)) and int(row["rank"]) > 1 else " "
    if low is None or pd.isna(low) or high is None or pd.isna(high):
        return f"{mark}{d:.2f}"
    return f"{mark}{d:.2f} [{float(low):.2f}, {float(high):.2f}]"


def print_suggestions(console: Console, result) -> None:
    """The picks of ``mgscreen suggest``: formulation, one column per objective, predicted
    D, expected gain, most uncertain objective, domain distance; then the best measured
    system they are compared with."""
    from screen.data.formulation import formulation_text

    rank = result.settings.rank
    specs = [rank.spec(n) for n in result.settings.objective_names()]
    table = Table(title=f"The next {len(result.picks)} experiments", title_justify="left")
    headers = ["pick", "formulation", *(s.header() for s in specs), "D", "gain",
               "most uncertain", "domain d"]
    for name in headers:
        table.add_column(name, justify="left" if name in ("formulation", "most uncertain")
                         else "right")
    for _, row in result.picks.iterrows():
        uncertain = str(row.get("most_uncertain") or "")
        table.add_row(str(row["pick"]), formulation_text(row), *(s.cell(row) for s in specs),
                      f"{row['desirability']:.3f}", f"{row['expected_gain']:+.3f}",
                      rank.spec(uncertain).label if uncertain else "-",
                      f"{float(row.get('domain_distance', float('nan'))):.2f}")
    console.print(table)
    best = result.best_measured
    console.print(f"best measured system (D = {result.incumbent:.3f}): "
                  f"{formulation_text(best.to_dict(), with_condition=True)} "
                  f"[{best.get('source', '')}]; "
                  f"{len(result.systems)} measured systems are never suggested",
                  markup=False, soft_wrap=True)
