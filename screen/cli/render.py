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
    if getattr(result, "registered_name", ""):
        state += f" of {result.registered_name}"
    console.print(f"run {result.run_id}: primary {result.primary_metric} = "
                  f"{result.primary_value:.4g} ({state}); model {result.model_uri}")


def formulation_text(row) -> str:
    """'TFSI 0.5 M in DME:G2 (1:1) + none | MgF2 1 um' for one candidate row."""
    solvent = str(row["solvent"]) + (f" ({row['solvent_ratio']})"
                                     if str(row.get("solvent_ratio") or "") else "")
    text = f"{row['anion']} {float(row['salt_conc_M']):g} M in {solvent}"
    additive = str(row.get("additive") or "none")
    if additive.lower() != "none":
        conc = row.get("additive_conc_M")
        text += f" + {additive}" + (f" {float(conc):g} M" if pd.notna(conc) else "")
    coating = str(row.get("coating") or "none")
    return text + (" | bare" if coating.lower() == "none" else f" | {coating}")


def print_ranked(console: Console, ranked: pd.DataFrame, specs, limit: int = 20) -> None:
    """The first ``limit`` ranked candidates: formulation, one column per objective, layer,
    desirability and domain."""
    table = Table(title=f"Top {min(limit, len(ranked))} candidates", title_justify="left")
    headers = ["rank", "formulation", *(s.header() for s in specs), "layer", "D",
               "domain"]
    for name in headers:
        table.add_column(name, justify="left" if name == "formulation" else "right")
    for _, row in ranked.head(limit).iterrows():
        domain = "in" if bool(row.get("in_domain", True)) else "OUT"
        table.add_row(str(row["rank"]), formulation_text(row),
                      *(s.cell(row) for s in specs),
                      str(row["pareto_layer"]), f"{row['desirability']:.3f}", domain)
    console.print(table)


def print_suggestions(console: Console, result) -> None:
    """The picks of ``mgscreen suggest``: formulation, one column per objective, predicted
    D, expected gain, most uncertain objective, domain distance; then the best measured
    system they are compared with."""
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
    from screen.screening.report import formulation_text as measured_text

    best = result.best_measured
    console.print(f"best measured system (D = {result.incumbent:.3f}): "
                  f"{' / '.join(measured_text(best.to_dict()))} [{best.get('source', '')}]; "
                  f"{len(result.systems)} measured systems are never suggested",
                  markup=False, soft_wrap=True)
