"""Turning expected errors (bad data, library, config, too few rows, a component that cannot
be featurized, an output path that cannot be used or a file that cannot be written, a model
that cannot be loaded from the store) into a clear message and exit code 1;
SIGTERM into a clean exit (status 143) that runs the same clean-up as Ctrl-C (status 130);
and output streams that never fail on characters the terminal cannot encode."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: Exit status after SIGTERM (128 + 15, what a shell reports for a process killed by it).
SIGTERM_EXIT = 128 + signal.SIGTERM


@contextlib.contextmanager
def reported_errors(console: Console) -> Iterator[None]:
    """Print data/library errors without a traceback and exit with status 1."""
    # imported here so that the signal handling below costs the CLI's start-up nothing
    from featurizers.base import FeaturizationError
    from screen.cli.render import print_problems
    from screen.data.components import LibraryError
    from screen.data.config import ConfigError
    from screen.data.outputs import OutputError
    from screen.data.problems import DataValidationError
    from screen.learn.modeling_data import TooFewRowsError

    try:
        yield
    except DataValidationError as exc:
        print_problems(console, exc.problems)
        console.print(f"[red]{len(exc.problems)} problem(s)[/red]")
        raise typer.Exit(1) from None
    except LibraryError as exc:
        console.print(f"component library error: {exc}", markup=False)
        raise typer.Exit(1) from None
    except (ConfigError, TooFewRowsError, FeaturizationError, OutputError) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except LookupError as exc:  # the model store (imported only now: it loads MLflow)
        from screen.learn.tracking.access import ModelStoreError

        if not isinstance(exc, ModelStoreError):
            raise
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # an output path that is a directory, a full disk, no permission
        # os.replace(tmp, out) names the temporary file first and the destination second
        where = next((f for f in (exc.filename2, exc.filename) if f is not None), "file")
        console.print(f"{where}: cannot write or read: {exc.strerror or exc}", markup=False,
                      soft_wrap=True)
        raise typer.Exit(1) from None


def tolerant_streams() -> None:
    """Let stdout/stderr print any text: characters the terminal's encoding lacks (an emoji
    in a cell on a cp1252 console or redirected output) are written as ``\\U0001f50b``
    escapes instead of failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM so that ``finally`` blocks and context managers
    run (temporary files removed, an MLflow run ended FAILED) before the process exits 143."""

    def __init__(self) -> None:
        super().__init__(SIGTERM_EXIT)

    def __str__(self) -> str:
        return "terminated by SIGTERM"


_AFTER = ("output files are only ever written complete, and any MLflow run in progress "
          "was ended FAILED\n")


def _raise_terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up
    raise Terminated


@contextlib.contextmanager
def clean_exit_on_signals() -> Iterator[None]:
    """Run the CLI with SIGTERM turned into :class:`Terminated` and report how it stopped.

    Ctrl-C (SIGINT) already raises KeyboardInterrupt, which typer turns into exit status 130
    after the clean-up; both cases print one line on stderr. Only installs the handler in the
    main thread (where Python delivers signals).
    """
    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main else None
    try:
        yield
    except Terminated:
        sys.stderr.write(f"mgscreen: stopped by SIGTERM (exit status {SIGTERM_EXIT}); {_AFTER}")
        raise
    except SystemExit as exc:
        if exc.code == 130:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the exit
            sys.stderr.write(f"mgscreen: interrupted (exit status 130); {_AFTER}")
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
