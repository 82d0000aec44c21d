"""Faults with real components: a tune process killed with SIGKILL mid-study, a tracking
server killed mid-training, a corrupted model artifact, a model without a recorded digest."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.storages.journal import JournalFileBackend, JournalStorage
from service_utils import (
    CLI,
    free_port,
    server_env,
    sqlite_store,
    start_logged,
    start_mlflow_server,
    stop,
    tail,
)
from typer.testing import CliRunner

from screen.cli import app
from screen.learn import tracking
from screen.learn.config import default_config_path, load_config
from screen.learn.models.bundle import trusted_types
from screen.learn.train import featurize_dataset, train_target
from screen.learn.tune import PROCESS_ATTR

STUDY = "mgscreen-passivation"
TUNE_FAST = ['cv.schemes=["source"]', 'cv.primary="source"', "cv.n_splits=6",
             'model.family="logistic_regression"',
             'tune.space={"model.params.C" = {type = "float", low = 0.001, high = 10.0, '
             'log = true}}', "tune.pruner=\"none\""]


def journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None,
             log: Path | None = None, every: float = 0.1):
    """Poll ``condition()`` until it returns something truthy (returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"process exited ({proc.returncode}) before {what}:\n"
                        f"{tail(log) if log else ''}")
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n"
                f"{tail(log) if log else ''}")


def study_runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(tracking.experiment_name("passivation"))
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id],
                              f"tags.`optuna.study` = '{STUDY}'", max_results=1000)


# --------------------------------------------------------------------------- kill -9 tune


def test_tune_killed_with_sigkill_resumes_and_closes_orphans(tmp_path):
    storage, uri = tmp_path / "journal.log", sqlite_store(tmp_path)
    command = [*CLI, "tune", "--config", str(default_config_path("passivation")),
               "--storage", str(storage), "--tracking-uri", uri,
               "--out", str(tmp_path / "best.toml"),
               *[a for s in TUNE_FAST for a in ("--set", s)]]
    log = tmp_path / "tune1.log"
    first = start_logged([*command, "--trials", "50"], log, cwd=tmp_path, env=server_env())

    def mid_trial() -> bool:
        """≥ 2 finished trials and one running with its nested MLflow run open."""
        if not storage.exists():
            return False
        trials = optuna.load_study(study_name=STUDY, storage=journal(storage)).trials
        running = {str(t.number) for t in trials if t.state.name == "RUNNING"}
        if sum(t.state.name == "COMPLETE" for t in trials) < 2 or not running:
            return False
        return any(r.info.status == "RUNNING" and r.data.tags.get("optuna.trial_number")
                   in running for r in study_runs(uri))

    try:
        wait_for(mid_trial, 180, "a trial in progress", first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        stop(first)
    assert first.returncode == -signal.SIGKILL
    # what the killed process left behind (it may have moved on a little after the poll)
    frozen = optuna.load_study(study_name=STUDY, storage=journal(storage)).trials
    done = [t for t in frozen if t.state.name == "COMPLETE"]
    orphans = [t.number for t in frozen if t.state.name == "RUNNING"
               and PROCESS_ATTR in t.user_attrs]
    open_runs = [r for r in study_runs(uri) if r.info.status == "RUNNING"]
    assert len(done) >= 2  # (a trial in progress, almost always: the poll saw one)
    parents = [r for r in open_runs if r.data.tags.get("tune") == "study"]
    assert len(parents) == 1 and len(open_runs) <= 2  # the parent, and the trial's run if open
    assert all(r.data.tags[tracking.TAG_PID] == str(first.pid) for r in open_runs)

    again = subprocess.run([*command, "--trials", "2"], cwd=tmp_path, env=server_env(),
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (f"{len(orphans)} trial(s) marked FAIL, {len(open_runs)} MLflow run(s) marked "
            "FAILED") in " ".join(again.stdout.split())

    study = optuna.load_study(study_name=STUDY, storage=journal(storage))
    by_number = {t.number: t for t in study.trials}
    for trial in done:  # every trial finished before the kill is still there, unchanged
        assert by_number[trial.number].state.name == "COMPLETE"
        assert by_number[trial.number].value == trial.value
        assert by_number[trial.number].params == trial.params
    for number in orphans:
        assert by_number[number].state.name == "FAIL"
        assert f"process {first.pid} on " in by_number[number].user_attrs["error"]
    assert sorted(by_number) == list(range(len(frozen) + 2))  # 2 more, no gap, no duplicate
    assert all(by_number[n].state.name == "COMPLETE" for n in (len(frozen), len(frozen) + 1))
    assert not [t for t in study.trials if t.state.name == "RUNNING"]

    client = MlflowClient(tracking_uri=uri)
    for stale in open_runs:
        run = client.get_run(stale.info.run_id)
        assert run.info.status == "FAILED"
        assert f"process {first.pid} on " in run.data.tags[tracking.TAG_ORPHANED]
        assert run.data.tags["error_type"] == "OrphanedRun"
    assert not [r for r in study_runs(uri) if r.info.status == "RUNNING"]


# --------------------------------------------------------------------------- server killed


def test_tracking_server_killed_mid_train_keeps_results_locally(tmp_path):
    backend = sqlite_store(tmp_path / "server")
    server, url = start_mlflow_server(backend, tmp_path / "artifacts")
    log = tmp_path / "train.log"
    try:
        train = start_logged(
            [*CLI, "train", "--config", str(default_config_path("passivation")),
             "--tracking-uri", url, "--set", 'cv.schemes=["random", "source"]',
             "--set", 'cv.primary="source"', "--set", "cv.n_splits=3"], log, cwd=tmp_path,
            env=server_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"))

        client = MlflowClient(tracking_uri=url)

        def run_started():
            experiment = client.get_experiment_by_name("mgscreen-passivation")
            runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
            return runs[0] if runs else None

        run = wait_for(run_started, 120, "the training run on the server", train, log, 0.2)
        stop(server, signal.SIGKILL)  # the whole server process group, mid-training
        train.wait(timeout=300)
    finally:
        stop(server, signal.SIGKILL)
        if train.poll() is None:
            stop(train)
    output = log.read_text()
    assert train.returncode == 1, output[-3000:]
    # refused (no server) or lost (killed while answering a request)
    assert re.search(rf"MLflow tracking server {re.escape(url)} is unreachable "
                     r"\(connection (refused|lost)\)", output), output[-3000:]
    assert "Traceback" not in output

    saved = list((tmp_path / "mgscreen-unsent").iterdir())
    assert [p.name.startswith("passivation-") for p in saved] == [True]  # no temporary left
    folder = saved[0]
    assert f"saved in {folder}" in " ".join(output.split())
    result = json.loads((folder / "result.json").read_text())
    assert result["target"] == "passivation" and result["tracking_uri"] == url
    assert result["run_id"] == run.info.run_id
    assert result["config"]["model"]["family"] == "logistic_regression"
    assert np.isfinite(result["metrics"]["primary.brier"])
    assert "source.model.brier" in result["metrics"]
    model_bytes = (folder / "model.skops").read_bytes()
    assert hashlib.sha256(model_bytes).hexdigest() == result["model_sha256"]
    import skops.io

    model = skops.io.load(folder / "model.skops", trusted=trusted_types("passivation"))
    assert type(model).__name__ == "ScreeningModel" and model.target == "passivation"
    assert set(pd.read_csv(folder / "cv_results.csv")["scheme"]) == {"random", "source"}

    # the run the dead server kept RUNNING: its process is gone, so it is closed as orphaned
    assert tracking.fail_orphaned_runs("passivation", backend) == [run.info.run_id]
    assert tracking.run_info(run.info.run_id, backend)["status"] == "FAILED"


# --------------------------------------------------------------------------- model artifacts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SQLite store with a fast overpotential champion (the first model `predict` loads)."""
    root = tmp_path_factory.mktemp("corrupt")
    uri = sqlite_store(root)
    config = load_config(default_config_path("overpotential"),
                         ['cv.schemes=["source"]', 'cv.primary="source"', "cv.n_splits=3",
                          "uncertainty.cv=3"])
    result = train_target(config, featurize_dataset(), uri)
    assert result.champion
    return uri, root, result


def test_corrupted_model_file_is_refused(trained, tmp_path, interfaces_path):
    uri, root, result = trained
    champion = tracking.champion_uri(tracking.registered_model_name("overpotential"))
    model = tracking.load_model(champion, uri, trusted_types("overpotential"))  # intact: loads
    assert type(model).__name__ == "ScreeningModel"

    files = list((root / "mlartifacts").rglob("model.skops"))
    assert len(files) == 1
    path = files[0]
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()

    for uri_form in (champion, result.model_uri):
        with pytest.raises(tracking.ModelIntegrityError) as error:
            tracking.load_model(uri_form, uri, trusted_types("overpotential"))
        message = str(error.value)
        assert message.startswith(f"{uri_form}: model file model.skops is corrupted")
        assert f"expected sha256 {expected}" in message and f"found {found}" in message

    systems = pd.read_csv(interfaces_path).head(3)
    source = tmp_path / "systems.csv"
    systems.to_csv(source, index=False)
    out = tmp_path / "pred.csv"
    cli = CliRunner().invoke(app, ["predict", str(source), "--out", str(out),
                                   "--tracking-uri", uri])
    text = " ".join(cli.output.split())
    assert cli.exit_code == 1, cli.output
    assert "is corrupted or was replaced" in text and f"found {found}" in text
    assert not out.exists()


def test_model_without_recorded_digest_is_refused(trained):
    """A skops model logged with plain MLflow (no digest) is not loaded unverified."""
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    uri, _, _ = trained
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    with tracking.start_run("overpotential", "plain-mlflow", uri):
        info = mlflow.sklearn.log_model(LinearRegression().fit(X, [0, 1, 2]), name="model",
                                        serialization_format="skops", pip_requirements=[])
    with pytest.raises(tracking.ModelIntegrityError, match="no sha256 was recorded"):
        tracking.load_model(info.model_uri, uri)


def test_train_against_a_server_that_is_down_says_so(monkeypatch, tmp_path):
    """Down from the start: nothing was computed, nothing is saved, the message says why."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    config = load_config(default_config_path("passivation"))
    with pytest.raises(tracking.TrackingUnreachable) as error:
        train_target(config, featurize_dataset(), url)
    assert str(error.value) == (f"MLflow tracking server {url} is unreachable (connection "
                                "refused); nothing was logged there by this command")
    assert error.value.saved_to is None and not (tmp_path / "mgscreen-unsent").exists()
