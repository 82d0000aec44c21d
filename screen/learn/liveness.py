"""Which process owns a run or trial, and whether it is still alive.

Runs (MLflow) and trials (Optuna) record the host name and pid of the process that started
them; a RUNNING one whose process is gone from this host was orphaned by a kill -9, a crash or
a power loss. Processes on other hosts cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_identity() -> dict[str, str]:
    """``{"pid": ..., "host": ...}`` of this process (strings, ready to be tags)."""
    return {"pid": str(os.getpid()), "host": socket.gethostname()}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    try:  # Linux: a killed child not yet reaped by its parent is a zombie ("Z")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def orphaned(pid: str | int | None, host: str | None) -> bool:
    """True if (``pid``, ``host``) names a process of this host that is no longer alive
    (False when either is missing, malformed or another host's)."""
    if host != socket.gethostname():
        return False
    try:
        return not pid_alive(int(pid))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
