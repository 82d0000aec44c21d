"""Training logs to a real MLflow store; the champion reloads in a new process; predict CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.cli import app
from screen.learn import tracking
from screen.learn.config import default_config_path, load_config
from screen.learn.registry import target_names
from screen.learn.train import featurize_dataset, train_target

FAST = {  # small models and one CV scheme keep the suite quick
    "overpotential": ["uncertainty.cv=3"],
    "coulombic_efficiency": ["model.params.n_estimators=30", "uncertainty.cv=3"],
    "cycle_life": ["model.params.n_estimators=30", "uncertainty.cv=3"],
    "passivation": [],
}


def fast_config(target: str, *extra: str) -> dict:
    return load_config(default_config_path(target),
                       ['cv.schemes=["random", "source"]', 'cv.primary="source"',
                        "cv.n_splits=3", *FAST[target], *extra])


@pytest.fixture(scope="module")
def features():
    return featurize_dataset()


@pytest.fixture(scope="module")
def store(tmp_path_factory, features):
    """A tracking store in which all three targets were trained once."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    results = {t: train_target(fast_config(t), features, uri) for t in target_names()}
    return uri, results


def test_runs_are_logged_with_metrics_and_artifacts(store):
    uri, results = store
    for target, result in results.items():
        info = tracking.run_info(result.run_id, uri)
        assert info["status"] == "FINISHED"
        assert f"source.model.{result.primary_metric}" in info["metrics"]
        assert f"source.dummy.{result.primary_metric}" in info["metrics"]
        assert info["tags"]["target"] == target and len(info["tags"]["data_digest"]) == 64
        assert result.champion  # the first model of a fresh store becomes champion
        table = result.results
        direct = fast_config(target)["model"]["family"] != "butler_volmer"
        expected = {"model", "dummy", "names_rf"} | ({"physics"} if target == "overpotential"
                                                     and direct else set())
        assert set(table["candidate"]) == expected


def test_champion_reloads_in_a_new_process_with_identical_predictions(store, features):
    uri, results = store
    from screen.data.components import ComponentLibrary
    from screen.learn.modeling_data import build_target_data

    config = fast_config("overpotential")
    td = build_target_data(features.frame, features.matrix, features.names, config,
                           ComponentLibrary.load())
    X = td.X.head(10)
    local = tracking.load_model(results["overpotential"].model_uri, uri).predict(X)
    payload = X.to_json(orient="split")
    code = (
        "import json, sys, pandas as pd\n"
        "from io import StringIO\n"
        "from screen.learn import tracking\n"
        "from screen.learn.models.bundle import trusted_types\n"
        "X = pd.read_json(StringIO(sys.stdin.read()), orient='split')\n"
        f"model = tracking.load_champion('mgscreen-overpotential', {uri!r},\n"
        "                                trusted_types('overpotential'))\n"
        "print(json.dumps(model.predict(X).tolist()))\n")
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    remote = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    # the physics model's least-squares maps run through BLAS, whose summation order may
    # follow the thread count of the process: equal to the last few ulps
    np.testing.assert_allclose(remote, local, rtol=1e-9, atol=0)


def test_worse_model_does_not_take_the_champion_alias(store, features):
    uri, results = store
    before = tracking.champion_info("mgscreen-passivation", uri)
    worse = train_target(fast_config("passivation", "model.params.C=0.000001"), features, uri)
    after = tracking.champion_info("mgscreen-passivation", uri)
    if worse.primary_value >= results["passivation"].primary_value:  # Brier: lower is better
        assert not worse.champion and after["version"] == before["version"]
    else:
        assert worse.champion


def test_too_few_rows_fails_the_run_with_the_error_as_tag(store, features):
    uri, _ = store
    with pytest.raises(ValueError, match="data.min_rows"):
        train_target(fast_config("passivation", "data.min_rows=100000"), features, uri)
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.experiment_name("passivation"))
    failed = client.search_runs([experiment.experiment_id], "attributes.status = 'FAILED'")
    assert failed and "data.min_rows" in failed[0].data.tags["error"]


def test_cli_train_refuses_unknown_config_key(tmp_path):
    result = CliRunner().invoke(app, ["train", "--config", str(default_config_path("passivation")),
                                      "--set", "model.parms.C=1",
                                      "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert result.exit_code == 1 and "unknown key 'model.parms'" in result.output


def test_cli_predict_writes_every_column(store, tmp_path, interfaces_path):
    uri, _ = store
    systems = pd.read_csv(interfaces_path).head(6)[["metal", "anion", "salt_conc_M", "solvent",
                                                   "solvent_ratio", "additive", "coating",
                                                   "cell_type", "current_density_mA_cm2"]]
    systems.loc[0, "anion"] = "FC(F)(F)C(=O)[O-]"  # a new anion, given as SMILES
    source = tmp_path / "systems.csv"
    systems.to_csv(source, index=False)
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(app, ["predict", str(source), "--out", str(out),
                                      "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out)
    for column in ("overpotential_V_pred", "overpotential_V_low", "overpotential_V_high",
                   "coulombic_efficiency_pct_pred", "coulombic_efficiency_pct_low",
                   "coulombic_efficiency_pct_high", "stable_duration_h_pred", "p_passivating",
                   "domain_distance", "in_domain"):
        assert column in pred.columns, column
    assert len(pred) == 6 and pred["p_passivating"].between(0, 1).all()
    assert (pred["overpotential_V_low"] <= pred["overpotential_V_pred"]).all()
    assert (pred["overpotential_V_pred"] <= pred["overpotential_V_high"]).all()
    assert (pred["overpotential_V_low"] > 0).all()  # intervals on the log scale
    ce = pred[["coulombic_efficiency_pct_low", "coulombic_efficiency_pct_pred",
               "coulombic_efficiency_pct_high"]]
    assert ce.ge(0).all().all() and ce.le(100).all().all()
    assert (ce.diff(axis=1).iloc[:, 1:] >= 0).all().all()


def test_cli_predict_without_models_is_a_clear_error(tmp_path, interfaces_path):
    result = CliRunner().invoke(app, ["predict", str(interfaces_path), "--out",
                                      str(tmp_path / "p.csv"), "--tracking-uri",
                                      f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1 and "Train the models first" in result.output
    assert f"missing: there is no store file {tmp_path / 'empty.db'}" in " ".join(
        result.output.split())
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "empty.db").exists()


def test_cli_predict_missing_column(store, tmp_path):
    uri, _ = store
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"metal": ["Mg"], "anion": ["TFSI"], "solvent": ["DME"]}).to_csv(bad,
                                                                                index=False)
    result = CliRunner().invoke(app, ["predict", str(bad), "--out", str(tmp_path / "p.csv"),
                                      "--tracking-uri", uri])
    assert result.exit_code == 1 and "column 'coating'" in result.output
    assert "missing required column" in result.output


def test_every_training_row_is_in_its_models_domain(store, features):
    """A measured system is never flagged out of domain by a model trained on it."""
    from screen.data.components import ComponentLibrary
    from screen.learn.modeling_data import build_target_data

    uri, results = store
    library = ComponentLibrary.load()
    for target, result in results.items():
        td = build_target_data(features.frame, features.matrix, features.names,
                               fast_config(target), library)
        model = tracking.load_model(result.model_uri, uri)
        table = model.predict_table(td.X)
        assert table["in_domain"].all(), (target, table.loc[~table["in_domain"]].index[:5])
        blocks = [c for c in table.columns if c.startswith("domain_") and c != "domain_distance"]
        assert {"domain_anion", "domain_conditions"} <= set(blocks), blocks
