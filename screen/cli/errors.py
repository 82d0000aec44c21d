"""Turning expected errors (bad data, library, config, too few rows) into a clear message
and exit code 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from screen.cli.render import print_problems
from screen.components import LibraryError
from screen.config import ConfigError
from screen.modeling_data import TooFewRowsError
from screen.validation import DataValidationError


@contextlib.contextmanager
def reported_errors(console: Console) -> Iterator[None]:
    """Print data/library errors without a traceback and exit with status 1."""
    try:
        yield
    except DataValidationError as exc:
        print_problems(console, exc.problems)
        console.print(f"[red]{len(exc.problems)} problem(s)[/red]")
        raise typer.Exit(1) from None
    except LibraryError as exc:
        console.print(f"component library error: {exc}", markup=False)
        raise typer.Exit(1) from None
    except (ConfigError, TooFewRowsError) as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
