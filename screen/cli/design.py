"""``mgscreen design``: multi-objective formulation search (NSGA-II) on the champion models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    ForceOption,
    ModelSetOption,
    TrackingUriOption,
    parse_model_set,
    parse_model_uris,
)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Design config (default: experiments/design.toml).")]
TrialsOption = Annotated[int | None, typer.Option(
    "--trials", min=1, help="Number of formulations to evaluate (overrides the config).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Sampler seed (overrides the "
                                                                "config).")]
OutOption = Annotated[Path, typer.Option("--out", help="Pareto-set CSV to write (atomically).")]
PlotOption = Annotated[Path | None, typer.Option(
    "--plot", help="PNG of the front (default: the --out path with .png).")]
ChlorideOption = Annotated[bool | None, typer.Option(
    "--chloride-free/--allow-chloride",
    help="Require no Cl in the anion or additive (overrides the config).", show_default=False)]
DomainOption = Annotated[bool | None, typer.Option(
    "--in-domain-only/--any-domain",
    help="Require every target's applicability domain (overrides the config).",
    show_default=False)]
WidthOption = Annotated[float | None, typer.Option(
    "--max-interval-width", min=0.0,
    help="Largest allowed overpotential interval width in V (overrides the config).")]
ModelUriOption = Annotated[list[str] | None, typer.Option(
    "--model-uri", help="TARGET=URI to use instead of the registry champion (repeatable).")]
ShowOption = Annotated[int, typer.Option(
    "--show", min=0, help="Rows of the Pareto set to print (the CSV holds all of them).")]


def design(config: ConfigOption = None, trials: TrialsOption = None, seed: SeedOption = None,
           out: OutOption = Path("pareto.csv"), plot: PlotOption = None,
           chloride_free: ChlorideOption = None, in_domain_only: DomainOption = None,
           max_interval_width: WidthOption = None, tracking_uri: TrackingUriOption = None,
           model_uri: ModelUriOption = None, show: ShowOption = 15,
           force: ForceOption = False, model_set: ModelSetOption = None) -> None:
    """Search the formulation space (anion, solvent + co-solvent, additive, coating,
    concentrations) with NSGA-II for low overpotential, long cycle life and low
    p_passivating, and write the constrained Pareto set with predictions and intervals."""
    from rich.progress import Progress
    from rich.table import Table
    from rich.text import Text

    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console
    from screen.data.components import ComponentLibrary
    from screen.learn.predict import load_models
    from screen.learn.tracking import Store, check_readable
    from screen.screening.design import (
        check_config,
        load_design_config,
        output_plan,
        run_design,
        write_outputs,
    )

    uris = parse_model_uris(model_uri)
    model_set = parse_model_set(model_set)
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    plot = plot if plot is not None else out.with_suffix(".png")
    with reported_errors(console):
        cfg = load_design_config(config).with_overrides(
            trials=trials, seed=seed, chloride_free=chloride_free,
            in_domain_only=in_domain_only, max_interval_width_V=max_interval_width)
        check_config(cfg, cfg.source)
        plan = output_plan(out, plot, config, force).check()
        check_readable(store)
        library = ComponentLibrary.load()
        models = load_models(store, uris, model_set=model_set)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("design trials", total=cfg.trials)
            result = run_design(cfg, models, library,
                                progress=lambda done, total: bar.update(task, completed=done))
        write_outputs(result, out, plot, plan)
    pareto = result.pareto
    n_feasible = int(result.trials["feasible"].sum()) if not result.trials.empty else 0
    console.print(f"{len(result.trials)} trials evaluated ({result.n_failed} failed), "
                  f"{n_feasible} feasible, {len(pareto)} in the Pareto set", markup=False)
    if pareto.empty:
        console.print("[yellow]no feasible formulation; relax the constraints or run more "
                      "trials[/yellow]")
    else:
        table = Table(title=f"Pareto set (top {min(show, len(pareto))} by "
                            f"{result.objectives[0].label})")
        cols = ["anion", "salt_conc_M", "solvent", "solvent_ratio", "additive", "coating"]
        for col in ("anion", "salt M", "solvent", "ratio", "additive", "coating"):
            table.add_column(col)
        for spec in result.objectives:
            table.add_column(spec.header(), justify="right")
        table.add_column("in dom.")
        for _, row in pareto.head(show).iterrows():
            cells = [_cell(row[c]) for c in cols]
            cells += [spec.cell(row) for spec in result.objectives]
            cells.append(str(bool(row["in_domain"])))
            table.add_row(*(Text(c) for c in cells))
        console.print(table)
    console.print(f"[green]{out}: Pareto set ({len(pareto)} formulations); {plot}: front[/green]")


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value)
