"""Faults during a run: SIGINT/SIGTERM sent to `mgscreen featurize` and `mgscreen train`, and a
corrupted feature cache.

After a signal there is no output file and no temporary file beside it, no MLflow run is left
RUNNING (it ends FAILED with the signal as its error), the exit status is 130 (SIGINT) or 143
(SIGTERM), and the feature cache is intact: the next uninterrupted run writes the same bytes as
a run on a cold cache. A cache entry whose bytes were changed is recomputed, never used; a cache
file SQLite cannot read is set aside and rebuilt.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurizers.cache import CACHE_FILE
from screen.cli import app
from screen.learn.config import default_config_path

MGSCREEN = Path(sys.executable).with_name("mgscreen")
pytestmark = pytest.mark.skipif(not MGSCREEN.is_file(), reason="console script not installed")
SIGNALS = [pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),
           pytest.param(signal.SIGTERM, 143, "stopped by SIGTERM", id="SIGTERM")]
#: 12 ethers, none in a fresh cache: each needs a 3D embedding, a GFN2-xTB single point and
#: the redox/binding calculations (seconds per solvent), so the solvent blocks run for tens of
#: seconds: long enough to be interrupted partway, short enough to be run three times.
# dialkyl ethers the library lacks; methyl heptyl ether is left out: the SCF of its Mg²⁺ cluster
# start geometry takes ~660 cycles (30 s), which would triple the cold featurizations here
NEW_SOLVENTS = [s for s in (f"{'C' * a}O{'C' * b}" for a in range(1, 9) for b in range(a, 9))
                if s != "COCCCCCCC"][:12]


def default_sigint() -> None:
    """In the child before exec: a shell that started pytest in the background may have left
    SIGINT ignored, and the child would inherit that; give it the default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ, MGSCREEN_CACHE_DIR=str(cache), COLUMNS="200")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def write_systems(path: Path, solvents: list[str]) -> Path:
    rows = [f"Mg,TFSI,{s},none,0.5,0.1" for s in solvents]
    path.write_text("metal,anion,solvent,coating,salt_conc_M,current_density_mA_cm2\n"
                    + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def cache_counts(directory: Path) -> dict[str, int]:
    """Rows per featurizer in a feature cache that another process is writing ({} if none)."""
    db = directory / CACHE_FILE
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return dict(con.execute(
                "SELECT featurizer, COUNT(*) FROM features GROUP BY featurizer").fetchall())
        finally:
            con.close()
    except sqlite3.Error:  # not created / WAL not set up yet
        return {}


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, timeout: float,
               what: str) -> None:
    """Poll for a sign of progress; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"process ended (status {process.returncode}) before {what}:\n{out}\n"
                        f"{err}")
        if ready():
            return
        time.sleep(0.05)
    pytest.fail(f"no {what} within {timeout} s")


def interrupt(process: subprocess.Popen, signum: int) -> tuple[int, str, str]:
    """Send ``signum``; a Ctrl-C is repeated (as a user would press it again) while the process
    runs on: RDKit swallows a SIGINT that lands inside a substructure search that then finds
    everything (see featurizers/interrupts.py); that search's result is complete."""
    for _ in range(20 if signum == signal.SIGINT else 1):
        process.send_signal(signum)
        try:
            out, err = process.communicate(timeout=1.5)
            return process.returncode, out, err
        except subprocess.TimeoutExpired:
            continue
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def featurize_process(source: Path, out: Path, cache: Path) -> subprocess.Popen:
    return subprocess.Popen([str(MGSCREEN), "featurize", str(source), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(cache), preexec_fn=default_sigint)


def featurize_to_end(source: Path, out: Path, cache: Path) -> None:
    done = subprocess.run([str(MGSCREEN), "featurize", str(source), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False,
                          env=environment(cache))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def new_solvents(tmp_path_factory) -> tuple[Path, Path]:
    """(input with the new solvents, its features computed on a cold cache)."""
    folder = tmp_path_factory.mktemp("cold")
    source = write_systems(folder / "systems.csv", NEW_SOLVENTS)
    reference = folder / "reference.parquet"
    featurize_to_end(source, reference, folder / "cache")
    return source, reference


# ----------------------------------------------------------------------------- featurize
@pytest.mark.parametrize(("signum", "status", "message"), SIGNALS)
def test_signal_during_featurize(tmp_path, new_solvents, signum, status, message):
    source, reference = new_solvents
    cache, outdir = tmp_path / "cache", tmp_path / "out"
    outdir.mkdir()
    out = outdir / "features.parquet"
    process = featurize_process(source, out, cache)
    try:
        # the check of the input featurizes the new solvents one by one (each stored when
        # complete): the first one stored means the others are being computed
        wait_until(lambda: cache_counts(cache).get("solvent", 0) > 0, process, 300,
                   "the first solvent in the cache")
        code, stdout, stderr = interrupt(process, signum)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == status, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert f"mgscreen: {message}" in stderr
    assert list(outdir.iterdir()) == []  # no output, no temporary file beside it
    # interrupted partway through the solvents: each one stored is complete (checked by the
    # rerun below), and not all were reached
    assert 0 < cache_counts(cache).get("solvent", 0) < len(NEW_SOLVENTS)

    featurize_to_end(source, out, cache)  # the same cache, uninterrupted
    assert out.read_bytes() == reference.read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference),
                                  check_exact=True)
    assert sorted(p.name for p in outdir.iterdir()) == ["features.parquet"]


# ----------------------------------------------------------------------------- train
def mlflow_statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return [s for (s,) in con.execute("SELECT status FROM runs").fetchall()]
        finally:
            con.close()
    except sqlite3.Error:  # tables not created yet
        return []


@pytest.mark.parametrize(("signum", "status", "message"), SIGNALS)
def test_signal_during_train(tmp_path, signum, status, message):
    import mlflow

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    config = default_config_path("passivation")
    process = subprocess.Popen(
        [str(MGSCREEN), "train", "--config", str(config), "--tracking-uri", uri],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=environment(Path(os.environ["MGSCREEN_CACHE_DIR"])), preexec_fn=default_sigint)
    try:
        wait_until(lambda: "RUNNING" in mlflow_statuses(db), process, 300, "a RUNNING run")
        time.sleep(1.0)  # inside cross-validation, well before the model is logged
        code, stdout, stderr = interrupt(process, signum)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == status, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert f"mgscreen: {message}" in stderr

    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FAILED"  # never left RUNNING
    expected_type = "KeyboardInterrupt" if signum == signal.SIGINT else "Terminated"
    assert run.data.tags["error_type"] == expected_type
    assert client.search_model_versions() == []  # nothing registered from the failed run
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("mlflow.db")
                  and p.name != "mlartifacts") == []


# ----------------------------------------------------------------------------- the cache
SMALL = "metal,anion,solvent,coating\nMg,TFSI,DME,none\nMg,FSI,THF,MgO\nMg,TFSI,G2,none\n"


def read_entries(directory: Path) -> dict[tuple[str, str], tuple[int, bytes, str]]:
    with sqlite3.connect(directory / CACHE_FILE) as con:
        rows = con.execute("SELECT featurizer, key, n, data, sha256 FROM features").fetchall()
    return {(f, k): (n, d, s) for f, k, n, d, s in rows}


def featurize_in_process(source: Path, out: Path, cache: Path) -> str:
    result = CliRunner().invoke(app, ["featurize", str(source), "--out", str(out),
                                      "--cache-dir", str(cache)])
    assert result.exit_code == 0 and result.exception is None, result.output
    return result.output


@pytest.fixture
def small_cold(tmp_path) -> tuple[Path, Path, Path]:
    """(input, its features on a cold cache, that cache's directory)."""
    source = tmp_path / "small.csv"
    source.write_text(SMALL, encoding="utf-8")
    reference, cache = tmp_path / "cold.parquet", tmp_path / "cache"
    featurize_in_process(source, reference, cache)
    return source, reference, cache


def test_corrupted_cache_entries_are_recomputed_not_used(tmp_path, small_cold):
    source, reference, cache = small_cold
    good = read_entries(cache)
    assert {f for f, _ in good} >= {"anion", "solvent", "coating"}  # + the redox/property ones
    (anion_a, anion_b), solvent, coating = (
        sorted(k for k in good if k[0] == "anion"),
        next(k for k in good if k[0] == "solvent"), next(k for k in good if k[0] == "coating"))
    with sqlite3.connect(cache / CACHE_FILE) as con:
        def change(key, column, value):
            con.execute(f"UPDATE features SET {column}=? WHERE featurizer=? AND key=?",
                        (value, *key))

        data = good[anion_a][1]
        change(anion_a, "data", bytes([data[0] ^ 0x01]) + data[1:])  # one bit flipped
        change(anion_b, "data", good[anion_b][1][:-8])                # a value cut off
        change(solvent, "data", "not bytes at all")                   # wrong type
        change(coating, "sha256", "0" * 64)                           # checksum changed
    out = tmp_path / "again.parquet"
    featurize_in_process(source, out, cache)
    assert out.read_bytes() == reference.read_bytes()
    repaired = read_entries(cache)
    for key in (anion_a, anion_b, solvent, coating):  # recomputed and stored again, intact
        assert repaired[key] == good[key]


def test_damaged_cache_file_is_set_aside_and_rebuilt(tmp_path, small_cold):
    source, reference, cache = small_cold
    db = cache / CACHE_FILE
    cached = {f for f, _ in read_entries(cache)}
    assert cached >= {"anion", "solvent", "coating"}
    damaged = bytearray(db.read_bytes())
    damaged[:16] = b"not a database!!"  # the SQLite header
    db.write_bytes(bytes(damaged))
    out = tmp_path / "again.parquet"
    with pytest.warns(RuntimeWarning, match="is damaged"):
        featurize_in_process(source, out, cache)
    assert out.read_bytes() == reference.read_bytes()
    aside = [p for p in cache.iterdir() if ".corrupt-" in p.name]
    assert aside and any(p.read_bytes()[:16] == b"not a database!!" for p in aside)
    assert {f for f, _ in read_entries(cache)} == cached  # every featurizer's entries again
    np.testing.assert_array_equal(pd.read_parquet(out).to_numpy(),
                                  pd.read_parquet(reference).to_numpy())
