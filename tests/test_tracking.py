"""screen.learn.tracking and `mgscreen ui` against a real MLflow SQLite store in a temporary
folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from screen.cli.ui import is_loopback, ui_command, ui_url
from screen.learn import tracking
from screen.learn.tracking import store as store_limits

RF_TRUSTED = ["numpy.dtype", "sklearn.tree._tree.Tree"]
REPO = Path(__file__).resolve().parents[1]


class Shifted(BaseEstimator, RegressorMixin):
    """A custom (non-sklearn) estimator: skops must be told to trust it."""

    def __init__(self, shift: float = 1.0):
        self.shift = shift

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_ + self.shift)


class Structured(Shifted):
    """predict returns a structured array (like a survival target): an awkward output."""

    def predict(self, X):
        out = np.zeros(len(X), dtype=[("event", "?"), ("time", "f8")])
        out["time"] = self.mean_ + self.shift
        return out


class Tupled(Shifted):
    def predict(self, X):
        return tuple(np.full(len(X), self.mean_)), "note"


CUSTOM_TRUSTED = [f"{__name__}.Shifted", f"{__name__}.Structured", f"{__name__}.Tupled"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating the schema takes seconds); the working
    directory and MLFLOW_TRACKING_URI point into the temporary folder too."""
    root = tmp_path_factory.mktemp("mlflow-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mp.chdir(root)
    yield uri
    mp.undo()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 5)).astype("float32"),
                     columns=[f"system__f{i}" for i in range(5)])
    X.iloc[3, 1] = np.nan
    y = X["system__f0"].fillna(0).to_numpy() * 0.2 + rng.normal(scale=0.02, size=40)
    return X, y


@pytest.fixture(scope="module")
def forest(data):
    X, y = data
    return make_pipeline(SimpleImputer(), RandomForestRegressor(n_estimators=8, random_state=0,
                                                                n_jobs=1)).fit(X, y)


@pytest.fixture
def client(store):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store)


# --------------------------------------------------------------------------- store


def test_resolve_tracking_uri_precedence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri(None) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.resolve_tracking_uri(None) == "http://127.0.0.1:5999"
    assert tracking.resolve_tracking_uri("postgresql://u@h/db") == "postgresql://u@h/db"
    assert tracking.resolve_tracking_uri("sqlite:///rel/m.db") == \
        f"sqlite:///{tmp_path.resolve()}/rel/m.db"
    assert tracking.resolve_tracking_uri("x.db") == f"sqlite:///{tmp_path.resolve()}/x.db"
    assert tracking.experiment_name("overpotential") == "mgscreen-overpotential"


def test_flatten_params_nested_and_truncated():
    flat = tracking.flatten_params({"model": {"kind": "rf", "params": {"n": 5}}, "seed": 1,
                                    "features": ["a", "b"], "long": "x" * 7000,
                                    "odd(key)": None, "empty": {}})
    assert flat["model.kind"] == "rf"
    assert flat["model.params.n"] == "5"
    assert flat["features"] == '["a", "b"]'
    assert len(flat["long"]) == store_limits.MAX_PARAM_VALUE
    assert flat["odd_key_"] == "None"
    assert flat["empty"] == "{}"


def test_fold_aggregates():
    agg = tracking.fold_aggregates([{"mae": 1.0, "rho": np.nan}, {"mae": 3.0, "rho": 0.5}])
    assert agg == {"mae_mean": 2.0, "mae_sd": pytest.approx(np.sqrt(2.0)), "rho_mean": 0.5}


# --------------------------------------------------------------------------- runs


def test_run_logs_params_metrics_artifacts_and_dataset(store, client):
    from screen.learn.plots import parity_plot

    frame = pd.DataFrame({"anion": ["TFSI", "BH4", "Cl"], "overpotential_V": [0.2, 0.1, 0.3]})
    digest = tracking.dataset_digest(frame)
    assert digest == tracking.dataset_digest(frame.copy()) and len(digest) == 64
    folds = [{"mae": 0.1, "rmse": 0.2}, {"mae": 0.3, "rmse": 0.4}, {"mae": 0.2, "rmse": 0.3}]
    with tracking.start_run("overpotential", "logs", store,
                            tags={"dataset_digest": digest}) as run_id:
        assert tracking.active_run_id() == run_id
        tracking.log_params_flat({"model": {"kind": "rf", "n_estimators": 8}, "seed": 0})
        tracking.log_metrics({"mae": np.float32(0.25), "skipped": None})
        aggregates = tracking.log_fold_metrics(folds, prefix="grouped_")
        tracking.log_figure(parity_plot([0.1, 0.2], [0.12, 0.18], "parity"), "plots/parity")
        tracking.log_table(pd.DataFrame({"fold": [0, 1], "mae": [0.1, 0.3]}), "tables/cv.csv")
        assert tracking.log_dataset(frame, "interfaces", digest, source="interfaces.csv") == \
            digest
    assert tracking.active_run_id() is None

    info = tracking.run_info(run_id, store)
    assert info["status"] == "FINISHED"
    assert info["params"] == {"model.kind": "rf", "model.n_estimators": "8", "seed": "0"}
    assert info["tags"]["dataset_digest"] == digest
    assert info["tags"]["mgscreen.target"] == "overpotential"
    assert info["metrics"]["mae"] == pytest.approx(0.25)
    assert aggregates["grouped_mae_mean"] == pytest.approx(0.2)
    assert info["metrics"]["grouped_mae_mean"] == pytest.approx(0.2)
    assert info["metrics"]["grouped_mae_sd"] == pytest.approx(0.1)
    history = client.get_metric_history(run_id, "grouped_mae_fold")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.1), (1, 0.3), (2, 0.2)]

    artifacts = {a.path for a in client.list_artifacts(run_id, "plots")} | \
        {a.path for a in client.list_artifacts(run_id, "tables")}
    assert artifacts == {"plots/parity.png", "tables/cv.csv"}
    local = Path(client.download_artifacts(run_id, "tables/cv.csv"))
    assert local.read_text().splitlines() == ["fold,mae", "0,0.1", "1,0.3"]
    # artifacts live beside the temporary database, never in the repository
    store_dir = Path(store[len("sqlite:///"):]).parent
    assert info["artifact_uri"].startswith((store_dir / "mlartifacts").as_uri())

    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "interfaces"
    assert inputs[0].dataset.digest == digest[:36]
    tags = {t.key: t.value for t in inputs[0].tags}
    assert tags["mlflow.data.context"] == "training" and tags["sha256"] == digest


@pytest.mark.parametrize("exc", [ValueError("too few labelled rows: 3 < 10"),
                                 KeyboardInterrupt()])
def test_exception_ends_run_failed_with_error_tag(store, exc):
    with pytest.raises(type(exc)), tracking.start_run("passivation", "boom", store) as run_id:
        raise exc
    info = tracking.run_info(run_id, store)
    assert info["status"] == "FAILED"
    assert info["tags"]["error_type"] == type(exc).__name__
    assert info["tags"]["error"].startswith(type(exc).__name__)
    assert str(exc) in info["tags"]["error"]
    assert tracking.active_run_id() is None


def test_long_error_truncated_and_open_child_failed_too(store, client):
    import mlflow

    with pytest.raises(RuntimeError), \
            tracking.start_run("passivation", "parent", store) as parent:
        child = mlflow.start_run(nested=True).info.run_id  # left open by a careless caller
        raise RuntimeError("x" * 20000)
    assert client.get_run(child).info.status == "FAILED"
    info = tracking.run_info(parent, store)
    assert info["status"] == "FAILED"
    assert len(info["tags"]["error"]) <= store_limits.MAX_ERROR_MESSAGE
    assert tracking.active_run_id() is None


def test_clean_exit_inside_run_is_finished(store):
    with pytest.raises(SystemExit), tracking.start_run("passivation", "exit0", store) as run_id:
        sys.exit(0)
    assert tracking.run_info(run_id, store)["status"] == "FINISHED"


def test_nested_runs(store):
    with tracking.start_run("cycle_life", "study", store) as parent:
        for trial in range(2):
            with tracking.start_run("cycle_life", f"trial-{trial}", store, nested=True) as child:
                tracking.log_metrics({"c_index": 0.6 + trial / 10})
        assert tracking.active_run_id() == parent
        with pytest.raises(ValueError), \
                tracking.start_run("cycle_life", "bad-trial", store, nested=True) as failed:
            raise ValueError("trial failed")
        assert tracking.active_run_id() == parent  # the parent survives a failed child
    assert tracking.run_info(parent, store)["status"] == "FINISHED"
    assert tracking.run_info(child, store)["tags"]["mlflow.parentRunId"] == parent
    assert tracking.run_info(failed, store)["status"] == "FAILED"


# --------------------------------------------------------------------------- models


def test_log_model_round_trip(store, data, forest):
    X, _ = data
    with tracking.start_run("overpotential", "model", store):
        uri = tracking.log_model(forest, "model", X.head(5), RF_TRUSTED)
    assert uri.startswith("models:/")
    loaded = tracking.load_model(uri, store)
    np.testing.assert_array_equal(loaded.predict(X), forest.predict(X))
    from mlflow.models import get_model_info

    info = get_model_info(uri)
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    assert sorted(info.flavors["sklearn"]["skops_trusted_types"]) == RF_TRUSTED
    inputs = info.signature.inputs.inputs
    assert [c.name for c in inputs] == list(X.columns)
    assert not any(c.required for c in inputs)  # NaN features are allowed
    assert info.signature.outputs is not None


def test_untrusted_types_refused(store, data):
    X, y = data
    model = Shifted(0.5).fit(X, y)
    assert tracking.untrusted_types(model) == [f"{__name__}.Shifted"]
    with tracking.start_run("overpotential", "untrusted", store), \
            pytest.raises(ValueError, match="Shifted"):
        tracking.log_model(model, "model", X.head(3), trusted_types=[])
    with tracking.start_run("overpotential", "trusted", store):
        uri = tracking.log_model(model, "model", X.head(3), trusted_types=CUSTOM_TRUSTED)
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException, match="Shifted"):
        tracking.load_model(uri, store, trusted_types=RF_TRUSTED)  # the code does not trust it
    assert tracking.load_model(uri, store, trusted_types=CUSTOM_TRUSTED).shift == 0.5


def test_pickle_model_refused(store, data, forest):
    import mlflow.sklearn

    X, _ = data
    with tracking.start_run("overpotential", "pickle", store):
        info = mlflow.sklearn.log_model(forest, name="model", serialization_format="pickle",
                                        pip_requirements=[])
    with pytest.raises(ValueError, match="not skops"):
        tracking.load_model(info.model_uri, store)


@pytest.mark.parametrize("cls", [Structured, Tupled])
def test_awkward_predict_output_still_logs(store, data, cls):
    X, y = data
    model = cls().fit(X, y)
    with tracking.start_run("cycle_life", cls.__name__, store):
        uri = tracking.log_model(model, "model", X.head(3), CUSTOM_TRUSTED)
    from mlflow.models import get_model_info

    outputs = get_model_info(uri).signature.outputs
    if cls is Structured:
        assert [c.name for c in outputs.inputs] == ["event", "time"]
    else:
        assert outputs is None
    assert type(tracking.load_model(uri, store)) is cls


# --------------------------------------------------------------------------- registry


def test_register_if_better_moves_champion_only_on_improvement(store, data, forest):
    X, _ = data
    name = "mgscreen-test-register"
    uris = []
    with tracking.start_run("overpotential", "reg", store):
        for i in range(4):
            uris.append(tracking.log_model(forest, f"model{i}", X.head(3), RF_TRUSTED))
    assert tracking.champion_info(name, store) is None

    assert tracking.register_if_better(uris[0], name, "grouped_mae", 0.10, False, store)
    first = tracking.champion_info(name, store)
    assert (first["version"], first["metric_value"], first["metric_name"]) == \
        ("1", 0.10, "grouped_mae")
    assert first["model_uri"] == f"models:/{name}@champion"

    assert not tracking.register_if_better(uris[1], name, "grouped_mae", 0.12, False, store)
    assert tracking.champion_info(name, store)["version"] == "1"
    assert not tracking.register_if_better(uris[2], name, "grouped_mae", 0.10, False, store)
    assert not tracking.register_if_better(uris[2], name, "grouped_mae", float("nan"), False,
                                           store)
    assert tracking.champion_info(name, store)["version"] == "1"  # ties and NaN do not win

    assert tracking.register_if_better(uris[3], name, "grouped_mae", 0.08, False, store)
    champion = tracking.champion_info(name, store)
    assert (champion["version"], champion["metric_value"]) == ("5", 0.08)
    assert "beats" in champion["tags"][tracking.TAG_CHAMPION_REASON]

    other = "mgscreen-test-auc"
    assert tracking.register_if_better(uris[0], other, "roc_auc", 0.7, True, store)
    assert not tracking.register_if_better(uris[1], other, "roc_auc", 0.6, True, store)
    assert tracking.register_if_better(uris[2], other, "roc_auc", 0.8, True, store)


def test_failed_run_rolls_back_its_registration(store, data, forest, client):
    X, _ = data
    name = "mgscreen-test-rollback"
    with tracking.start_run("overpotential", "good", store):
        uri = tracking.log_model(forest, "model", X.head(3), RF_TRUSTED)
        assert tracking.register_if_better(uri, name, "mae", 0.2, False)
    with pytest.raises(RuntimeError), tracking.start_run("overpotential", "bad", store) as bad:
        uri = tracking.log_model(forest, "model", X.head(3), RF_TRUSTED)
        assert tracking.register_if_better(uri, name, "mae", 0.1, False)
        raise RuntimeError("failed after registering")
    assert tracking.champion_info(name, store)["version"] == "1"
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert tracking.run_info(bad, store)["tags"]["mgscreen.rolled_back"] == f"{name} v2"
    with pytest.raises(RuntimeError), tracking.start_run("overpotential", "bad2", store):
        uri = tracking.log_model(forest, "model", X.head(3), RF_TRUSTED)
        assert tracking.register_if_better(uri, "mgscreen-test-rollback-new", "mae", 0.1, False)
        raise RuntimeError("failed after the first registration")
    assert tracking.champion_info("mgscreen-test-rollback-new", store) is None


def test_load_champion_in_new_process(store, data, forest, tmp_path):
    X, _ = data
    name = "mgscreen-test-subprocess"
    with tracking.start_run("overpotential", "champion", store):
        uri = tracking.log_model(forest, "model", X.head(3), RF_TRUSTED)
    assert tracking.register_if_better(uri, name, "grouped_mae", 0.1, False, store)
    X.to_csv(tmp_path / "X.csv", index=False)
    code = (
        "import json, sys, pandas as pd\n"
        "from screen.learn.tracking import load_champion\n"
        f"X = pd.read_csv({str(tmp_path / 'X.csv')!r}, dtype='float32')\n"
        f"model = load_champion({name!r}, {store!r}, trusted_types={RF_TRUSTED!r})\n"
        "json.dump(model.predict(X).tolist(), sys.stdout)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": "sqlite:///nowhere.db"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    reloaded = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_array_equal(reloaded, forest.predict(X))


def test_helpers_without_uri_follow_the_active_run(store, monkeypatch, tmp_path, data,
                                                   forest):
    X, _ = data
    other = tmp_path / "other.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    with tracking.start_run("overpotential", "follow", store):
        uri = tracking.log_model(forest, "model", X.head(3), RF_TRUSTED)
        assert tracking.register_if_better(uri, "mgscreen-test-follow", "mae", 0.1, False)
    assert tracking.champion_info("mgscreen-test-follow", store)["version"] == "1"
    assert not other.exists()


# --------------------------------------------------------------------------- mgscreen ui


def _ui_app():
    import typer

    from screen.cli.ui import ui

    app = typer.Typer()
    app.command()(ui)
    return app


def test_ui_refuses_busy_port_and_warns_on_network_bind(store, monkeypatch):
    from typer.testing import CliRunner

    runner = CliRunner()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(_ui_app(), ["--port", str(port), "--tracking-uri", store])
    assert result.exit_code == 1 and f"Port {port} on 127.0.0.1 is in use" in result.output

    started = []

    class FakeServer:  # nothing is bound: only the messages and the command are checked
        def __init__(self, command, env):
            started.append((command, env))

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeServer)
    monkeypatch.setattr("screen.cli.ui._port_free", lambda host, port: True)
    result = runner.invoke(_ui_app(), ["--host", "0.0.0.0", "--port", "8765",
                                       "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    assert f"MLflow UI: http://127.0.0.1:8765 (store: {store})" in result.output
    assert "reachable from the network" in result.output
    command, env = started[0]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    result = runner.invoke(_ui_app(), ["--tracking-uri", "http://127.0.0.1:5000"])
    assert result.exit_code == 1 and "already an MLflow server" in result.output


def test_ui_command_binds_loopback_by_default(store):
    command = ui_command(uri=store)
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "5000"
    assert command[command.index("--backend-store-uri") + 1] == store
    root = Path(store[len("sqlite:///"):]).parent / "mlartifacts"
    assert command[command.index("--artifacts-destination") + 1] == root.as_uri()
    assert ui_command("0.0.0.0", 8080, store)[command.index("--host") + 1] == "0.0.0.0"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert ui_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read()


def test_ui_smoke_serves_runs_and_artifacts(store, tmp_path):
    """`mgscreen ui` (the typer function, as a subprocess) answers on a free loopback port,
    serves an artifact logged by screen.learn.tracking, and stops on SIGTERM with its server."""
    with tracking.start_run("overpotential", "ui", store) as run_id:
        tracking.log_table(pd.DataFrame({"a": [1]}), "tables/ui.csv")
    port = _free_port()
    code = ("import typer\nfrom screen.cli.ui import ui\n"
            "app = typer.Typer()\napp.command()(ui)\napp()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", str(port), "--tracking-uri",
                             store], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=tmp_path, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(base + "/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        assert status == 200, f"UI did not answer within 45 s (exit {proc.poll()})"
        _, body = _get(f"{base}/get-artifact?path=tables/ui.csv&run_uuid={run_id}")
        assert body.decode().splitlines() == ["a", "1"]
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert f"MLflow UI: {base} (store: {store})" in output
    assert "reachable from the network" not in output
    # the server went down with `mgscreen ui`: the port is free again
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _get(base + "/health")
            time.sleep(0.3)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            break
    else:
        pytest.fail("MLflow server still answering after `mgscreen ui` was terminated")
