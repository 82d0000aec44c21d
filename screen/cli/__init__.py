"""The ``mgscreen`` command line: one module per verb; this module only assembles them."""

from __future__ import annotations

import typer

from screen.cli import (
    data,
    design,
    featurize,
    predict,
    quickstart,
    rank,
    suggest,
    train,
    tune,
    ui,
)
from screen.cli import enumerate as enumerate_verb  # not the builtin

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
app.command("enumerate")(enumerate_verb.enumerate_candidates)
app.command("rank")(rank.rank)
app.command("suggest")(suggest.suggest)
app.command("ui")(ui.ui)
app.command("quickstart")(quickstart.quickstart)


def main() -> None:
    """Console-script entry point (SIGTERM exits 143 after the same clean-up as Ctrl-C)."""
    from featurizers.interrupts import watch_signals
    from screen.cli.errors import clean_exit_on_signals, tolerant_streams

    tolerant_streams()
    with clean_exit_on_signals(), watch_signals():
        app()
