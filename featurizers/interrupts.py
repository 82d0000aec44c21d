"""Signals that a C extension swallowed are not lost.

RDKit installs its own process-wide SIGINT handler for the duration of every substructure
search (in any thread). A Ctrl-C that lands there stops the search, RDKit logs "Substructure
search was interrupted, result may not include all matches" and returns the *partial* matches;
Python never sees the signal. Left alone, the run would go on with a wrong feature vector — and
store it in the feature cache.

:func:`watch_signals` wraps the SIGINT/SIGTERM handlers so that every delivery Python sees is
recorded, and routes RDKit's log through Python logging (:func:`hook_rdkit`) so that RDKit's
"interrupted" message is recorded as a Ctrl-C too. :func:`raise_if_interrupted` (called by the
featurizers after each component, before anything is cached, and between units of work)
re-raises a recorded signal through its original handler (KeyboardInterrupt for Ctrl-C). A
Ctrl-C that RDKit catches after its search has found every match is lost (the result is
complete, so nothing wrong is kept): press Ctrl-C again.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

WATCHED = (signal.SIGINT, signal.SIGTERM)
_received: list[tuple[int, object]] = []  # (signal number, the handler it was meant for)


RDKIT_INTERRUPTED = "Substructure search was interrupted"


class _RDKitInterrupted(logging.Handler):
    """Records RDKit's 'search interrupted' log line as a received Ctrl-C."""

    def emit(self, record: logging.LogRecord) -> None:
        if RDKIT_INTERRUPTED in record.getMessage():
            _received.append((signal.SIGINT, signal.default_int_handler))


def hook_rdkit() -> None:
    """Send RDKit's log to the Python logger ``rdkit`` (once) and watch it for interrupted
    searches; RDKit's other messages are still shown on stderr."""
    logger = logging.getLogger("rdkit")
    if any(isinstance(h, _RDKitInterrupted) for h in logger.handlers):
        return
    from rdkit import rdBase

    rdBase.LogToPythonLogger()
    logger.addHandler(_RDKitInterrupted(level=logging.DEBUG))
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        logger.addHandler(stream)
    logger.propagate = False


def _recording(signum: int, previous):
    def handler(sig, frame):
        _received.append((sig, previous))
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL and sig == signal.SIGINT:
            raise KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)
    return handler


@contextlib.contextmanager
def watch_signals() -> Iterator[None]:
    """Record SIGINT/SIGTERM deliveries while the block runs (main thread only; a no-op
    elsewhere). Ignored signals stay ignored."""
    hook_rdkit()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in WATCHED}
    for sig, handler in previous.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(sig, _recording(sig, handler))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        _received.clear()


def raise_if_interrupted() -> None:
    """Raise the exception of a recorded signal that was swallowed on the way (see the module
    docstring); nothing happens if no signal was received."""
    if not _received:
        return
    sig, previous = _received.pop()
    _received.clear()
    if callable(previous):
        previous(sig, None)
    raise KeyboardInterrupt
