"""The ``mgscreen`` command line: one module per verb; this module only assembles them."""

from __future__ import annotations

import typer

from screen.cli import data, design, featurize, predict, quickstart, train, tune, ui

app = typer.Typer(
    name="mgscreen",
    help="Screen Mg/Ca metal-anode electrolytes and coatings with models trained on curated "
         "literature data.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.command("featurize")(featurize.featurize)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("tune")(tune.tune)
app.command("design")(design.design)
app.command("ui")(ui.ui)
app.command("quickstart")(quickstart.quickstart)


def main() -> None:
    """Console-script entry point."""
    app()
