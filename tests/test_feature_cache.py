"""The on-disk feature cache: round trip, versioning, corruption never used."""

from __future__ import annotations

import sqlite3

import numpy as np

from featurizers.cache import FeatureCache, default_cache_dir


def test_round_trip_and_version_isolation(tmp_path):
    cache = FeatureCache(tmp_path)
    vec = np.array([1.5, np.nan, -2.0])
    cache.put_many("anion", "1", {"smiles:F": vec})
    got = cache.get_many("anion", "1", ["smiles:F", "smiles:Cl"])
    assert list(got) == ["smiles:F"]
    np.testing.assert_array_equal(got["smiles:F"], vec)
    assert cache.get_many("anion", "2", ["smiles:F"]) == {}
    assert cache.get_many("solvent", "1", ["smiles:F"]) == {}


def test_corrupted_entry_is_not_used(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.put_many("anion", "1", {"a": np.arange(4.0), "b": np.ones(4)})
    with sqlite3.connect(cache.path) as con:
        (data,) = con.execute("SELECT data FROM features WHERE key='a'").fetchone()
        flipped = bytes([data[0] ^ 0xFF]) + data[1:]
        con.execute("UPDATE features SET data=? WHERE key='a'", (flipped,))
    got = cache.get_many("anion", "1", ["a", "b"])
    assert list(got) == ["b"]


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MGSCREEN_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MGSCREEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mgscreen"
