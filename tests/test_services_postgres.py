"""The lab's shared setup on a real PostgreSQL server: `mlflow server` with a PostgreSQL
backend store, `mgscreen train` / `predict` / `tune` over HTTP, and two `mgscreen tune`
processes sharing one Optuna study stored in PostgreSQL.

The PostgreSQL server is ``$MGSCREEN_PG_URL`` or a throwaway one (see ``service_utils``)."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from service_utils import (
    CLI,
    create_database,
    postgres_server,
    require,
    server_env,
    start_mlflow_server,
    stop,
)
from typer.testing import CliRunner

from screen.cli import app
from screen.learn import tracking
from screen.learn.config import default_config_path, load_config
from screen.learn.dburl import with_driver
from screen.learn.registry import target_names
from screen.learn.train import featurize_dataset, train_target
from screen.learn.tune import PROCESS_ATTR

FAST_CV = ['cv.schemes=["source"]', 'cv.primary="source"', "cv.n_splits=3"]
FAST_MODELS = {"overpotential": ["uncertainty.cv=3"],
               "cycle_life": ["model.params.n_estimators=10"]}
TUNE_FAST = [*FAST_CV, 'model.family="logistic_regression"',
             'tune.space={"model.params.C" = {type = "float", low = 0.001, high = 10.0, '
             'log = true}}', "tune.n_startup_trials=2"]


def sets(overrides: list[str]) -> list[str]:
    return [a for s in overrides for a in ("--set", s)]


@pytest.fixture(scope="session")
def pg_url():
    require(importlib.util.find_spec("psycopg") is not None,
            "psycopg (PostgreSQL driver) is not installed: pip install 'psycopg[binary]'")
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):
    """`mlflow server` on a fresh PostgreSQL database; (url, database URL)."""
    database = create_database(pg_url, "mgscreen_test_mlflow")
    proc, url = start_mlflow_server(with_driver(database),
                                    tmp_path_factory.mktemp("pg-server") / "artifacts")
    yield url, database
    stop(proc)


@pytest.fixture(scope="module")
def trained(server, tmp_path_factory):
    """passivation trained by the CLI over HTTP; meanwhile every other registered target
    (`predict` needs them all) trained in-process against the same server."""
    url, _ = server
    cli = subprocess.Popen([*CLI, "train", "--config", str(default_config_path("passivation")),
                            "--tracking-uri", url, *sets(FAST_CV)],
                           cwd=tmp_path_factory.mktemp("pg-train"), env=server_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        features = featurize_dataset()
        for target in target_names():
            if target == "passivation":  # the CLI's
                continue
            config = load_config(default_config_path(target),
                                 [*FAST_CV, *FAST_MODELS.get(target, [])])
            assert train_target(config, features, url).champion
        output = cli.communicate(timeout=600)[0]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == 0, output[-3000:]
    return output


def _sql(database: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(database.replace("+psycopg", "")) as conn:
        return conn.execute(query).fetchall()


def test_train_over_http_logs_to_postgres_and_registers_champion(server, trained,
                                                                  tmp_path):
    url, database = server
    assert "(champion)" in trained
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("mgscreen-passivation")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert run.data.metrics["primary.brier"] > 0
    assert run.data.tags["mgscreen.pid"] and run.data.tags["mgscreen.host"]

    champion = tracking.champion_info("mgscreen-passivation", url)
    assert champion is not None and champion["run_id"] == run.info.run_id
    assert champion["metric_value"] == run.data.metrics["primary.brier"]

    # the model file served by the server is the one whose digest was recorded
    logged = client.search_logged_models([experiment.experiment_id])
    assert len(logged) == 1 and logged[0].source_run_id == run.info.run_id
    logged = logged[0]
    model_file = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"{logged.artifact_location}/model.skops", tracking_uri=url,
        dst_path=str(tmp_path)))
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() == \
        logged.tags[tracking.TAG_MODEL_SHA256]

    # ... and it all lives in PostgreSQL
    names = {r[0] for r in _sql(database, "SELECT name FROM experiments")}
    assert {f"mgscreen-{t}" for t in target_names()} <= names
    aliases = _sql(database, "SELECT name, alias FROM registered_model_aliases")
    assert sorted(aliases) == sorted((f"mgscreen-{t}", "champion") for t in target_names())


def test_predict_loads_champions_from_the_server(server, trained, tmp_path, interfaces_path):
    url, _ = server
    systems = pd.read_csv(interfaces_path).head(5)
    source, out = tmp_path / "systems.csv", tmp_path / "pred.csv"
    systems.to_csv(source, index=False)
    result = CliRunner().invoke(app, ["predict", str(source), "--out", str(out),
                                      "--tracking-uri", url])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out)
    assert len(pred) == 5
    assert pred["p_passivating"].between(0, 1).all()
    assert pred["overpotential_V_pred"].notna().all()
    assert pred["stable_duration_h_pred"].gt(0).all()
    assert pred["coulombic_efficiency_pct_pred"].between(0, 100).all()


def test_two_tune_processes_share_a_postgres_study(server, pg_url, tmp_path):
    url, _ = server
    database = create_database(pg_url, "mgscreen_test_optuna")
    plain = database.replace("+psycopg", "")  # the form users write: no driver named
    assert plain.startswith("postgresql://")
    n1, n2 = 3, 4
    command = [*CLI, "tune", "--config", str(default_config_path("passivation")),
               "--storage", plain, "--tracking-uri", url, *sets(TUNE_FAST)]
    procs = [subprocess.Popen([*command, "--trials", str(n), "--out",
                               str(tmp_path / f"best{i}.toml")], cwd=tmp_path,
                              env=server_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for i, n in enumerate((n1, n2))]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, text in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, text[-3000:]
        assert "best config:" in text

    study = optuna.load_study(study_name="mgscreen-passivation", storage=with_driver(plain))
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(n1 + n2))  # none lost, none duplicated
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    assert len({t.user_attrs[PROCESS_ATTR]["pid"] for t in study.trials}) == 2
    assert len(_sql(database, "SELECT trial_id FROM trials")) == n1 + n2

    # MLflow on the server: one parent run per process, one nested run per trial
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("mgscreen-passivation")
    runs = client.search_runs([experiment.experiment_id],
                              "tags.`optuna.study` = 'mgscreen-passivation'", max_results=100)
    parents = [r for r in runs if r.data.tags.get("tune") == "study"]
    children = [r for r in runs if r.data.tags.get("tune") == "trial"]
    assert len(parents) == 2 and all(r.info.status == "FINISHED" for r in parents)
    assert all(r.data.tags["optuna.storage"] == plain for r in parents)
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == numbers
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == \
        {r.info.run_id for r in parents}
