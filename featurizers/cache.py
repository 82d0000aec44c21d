"""On-disk cache of per-component feature vectors (SQLite).

One row per (featurizer, version, structure key): the vector is stored as float64 bytes with a
SHA-256 checksum. A row whose checksum does not match is treated as missing (and recomputed by
the caller), never used. Writes are transactions, so an interrupted run leaves the cache valid.

Location: ``$MGSCREEN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/mgscreen`` or
``~/.cache/mgscreen``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

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


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Feature vectors keyed by featurizer name, version and canonical structure key."""

    def __init__(self, directory: str | Path | None = None):
        self.path = Path(directory or default_cache_dir()) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def get_many(self, featurizer: str, version: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the keys that are present and intact."""
        keys = list(keys)
        out: dict[str, np.ndarray] = {}
        if not keys:
            return out
        con = self._connect()
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT key, n, data, sha256 FROM features WHERE featurizer=? AND version=? "
                    f"AND key IN ({marks})", [featurizer, version, *chunk]).fetchall()
                for key, n, data, sha in rows:
                    if _digest(data) != sha or len(data) != 8 * n:
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
        con = self._connect()
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO features VALUES (?,?,?,?,?,?)", rows)
        finally:
            con.close()
