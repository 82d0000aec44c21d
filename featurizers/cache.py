"""On-disk cache of per-component feature vectors (SQLite).

One row per (featurizer, version, structure key): the vector is stored as float64 bytes with a
SHA-256 checksum. A row whose checksum does not match is treated as missing (and recomputed by
the caller), never used. Writes are transactions, so an interrupted run leaves the cache valid.
A cache file that SQLite reports as damaged ("file is not a database", "database disk image
is malformed") is moved aside to ``features.sqlite.corrupt-<time>-<pid>`` with a warning and
an empty cache is started in its place: the cache only ever costs recomputation.

Location: ``$MGSCREEN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/mgscreen`` or
``~/.cache/mgscreen``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np

CACHE_FILE = "features.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    featurizer TEXT NOT NULL,
    version    TEXT NOT NULL,
    key        TEXT NOT NULL,
    n          INTEGER NOT NULL,
    data       BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    PRIMARY KEY (featurizer, version, key)
)"""


def default_cache_dir() -> Path:
    """Directory of the feature cache (see module docstring)."""
    if env := os.environ.get("MGSCREEN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mgscreen"


#: SQLite result codes of a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB).
_DAMAGED_CODES = (11, 26)
T = TypeVar("T")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """True for errors that mean the file is damaged, not busy/locked/read-only."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGED_CODES  # extended codes keep the primary in the low byte
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _intact(n, data, sha) -> bool:
    """A stored row is used only if its types, length and checksum all agree."""
    return (isinstance(data, bytes) and isinstance(n, int) and isinstance(sha, str)
            and len(data) == 8 * n and _digest(data) == sha)


class FeatureCache:
    """Feature vectors keyed by featurizer name, version and canonical structure key."""

    def __init__(self, directory: str | Path | None = None):
        self.path = Path(directory or default_cache_dir()) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._guarded(self._create)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def _create(self) -> None:
        con = self._connect()
        try:
            with con:
                con.execute(_SCHEMA)
        finally:
            con.close()

    def _guarded(self, action: Callable[[], T]) -> T:
        """Run ``action``; if the file turns out damaged, set it aside and run it once more on
        a new, empty cache."""
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            if not _is_damaged(exc):
                raise
            self._set_aside(exc)
            self._create()
            return action()

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        aside = f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", self.path.with_name(aside + suffix))
        warnings.warn(f"feature cache {self.path} is damaged ({exc}); moved to "
                      f"{self.path.with_name(aside)} and started anew (features are recomputed)",
                      RuntimeWarning, stacklevel=3)

    def get_many(self, featurizer: str, version: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the keys that are present and intact."""
        keys = list(keys)
        if not keys:
            return {}
        return self._guarded(lambda: self._read(featurizer, version, keys))

    def _read(self, featurizer: str, version: str, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        con = self._connect()
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT key, n, data, sha256 FROM features WHERE featurizer=? AND version=? "
                    f"AND key IN ({marks})", [featurizer, version, *chunk]).fetchall()
                for key, n, data, sha in rows:
                    if not _intact(n, data, sha):
                        continue  # corrupted entry: recomputed by the caller, never used
                    out[key] = np.frombuffer(data, dtype=np.float64).copy()
        finally:
            con.close()
        return out

    def put_many(self, featurizer: str, version: str, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors (one transaction)."""
        rows = []
        for key, vec in vectors.items():
            data = np.ascontiguousarray(vec, dtype=np.float64).tobytes()
            rows.append((featurizer, version, key, len(data) // 8, data, _digest(data)))

        def write() -> None:
            con = self._connect()
            try:
                with con:
                    con.executemany("INSERT OR REPLACE INTO features VALUES (?,?,?,?,?,?)", rows)
            finally:
                con.close()

        self._guarded(write)
