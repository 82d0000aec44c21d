"""`mgscreen tune`: search-space checks, resumable and shared studies, MLflow nested runs,
pruning, and a best config that reproduces its score through `train`'s CV."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from screen.data.components import ComponentLibrary
from screen.learn.config import ConfigError, default_config_path, load_config
from screen.learn.cv import cross_validate
from screen.learn.modeling_data import build_target_data
from screen.learn.tasks import make_task
from screen.learn.tune import (
    Objective,
    TargetDataCache,
    parse_tune,
    run_tune,
    summarize,
    trial_config,
)

FAST = ['cv.schemes=["source"]', 'cv.primary="source"', "cv.n_splits=3",
        'model.family="logistic_regression"',
        'tune.space={"model.params.C" = {type = "float", low = 0.001, high = 10.0, log = true}}',
        "tune.n_startup_trials=2", "tune.n_warmup_steps=1"]


# the real CLI, as the console script runs it
CLI = "from screen.cli import app; app()"


def fast_config(*extra: str) -> dict:
    return load_config(default_config_path("passivation"), [*FAST, *extra])


@pytest.fixture(scope="module")
def features():
    from screen.learn.train import featurize_dataset

    return featurize_dataset()


def journal(path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def child_runs(uri: str, parent: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parent}'",
                              max_results=1000)


def cv_score(config: dict, features) -> float:
    """The primary score exactly as `train` computes it for the champion decision."""
    task = make_task(config)
    td = build_target_data(features.frame, features.matrix, features.names, config,
                           ComponentLibrary.load())
    result = cross_validate(task, td, "model", config["cv"]["primary"],
                            config["cv"]["n_splits"], task.seed)
    return result.pooled[task.primary_metric]


# --------------------------------------------------------------------------- config checks


def test_unknown_space_key_is_a_clear_error():
    config = fast_config()
    bad = config.to_dict()
    bad["tune"]["space"]["model.params.C"]["hgh"] = 3.0
    with pytest.raises(ConfigError, match="unknown key 'hgh'"):
        parse_tune(bad, "x.toml")
    bad = config.to_dict()
    bad["tune"]["prunner"] = "median"
    with pytest.raises(ConfigError, match="unknown key 'tune.prunner'"):
        parse_tune(bad, "x.toml")
    bad = config.to_dict()
    bad["tune"]["space"]["model.params.C"]["when"] = {"model.famly": ["random_forest"]}
    with pytest.raises(ConfigError, match="model.famly"):
        parse_tune(bad, "x.toml")


def test_shipped_spaces_parse_and_build_valid_trial_configs():
    for target in ("overpotential", "cycle_life", "passivation"):
        config = load_config(default_config_path(target))
        settings = parse_tune(config, target)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for _ in range(10):
            trial = study.ask()
            from screen.learn.tune import sample_values

            values = sample_values(trial, settings)
            trial_cfg = trial_config(config, values, settings)  # check_config passes
            make_task(trial_cfg).make("model")  # model factory accepts the params
            study.tell(trial, 0.0)


def test_unknown_trial_key_fails_the_config_check():
    config = fast_config('tune.space={"model.bogus" = {choices = [1, 2]}}')
    settings = parse_tune(config)
    with pytest.raises(ConfigError, match="model.bogus"):
        trial_config(config, {"model.bogus": 1}, settings)


# --------------------------------------------------------------------------- studies


def test_study_resumes_and_best_config_reproduces_train_cv(tmp_path, features):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage, out = str(tmp_path / "journal.log"), tmp_path / "best.toml"
    config = fast_config()
    first = run_tune(config, 3, storage=storage, out=out, store=uri, features=features)
    second = run_tune(config, 3, storage=storage, out=out, store=uri, features=features)
    studies = optuna.get_all_study_summaries(journal(storage))
    assert [s.study_name for s in studies] == ["mgscreen-passivation"]
    study = optuna.load_study(study_name="mgscreen-passivation", storage=journal(storage))
    assert len(study.trials) == 6
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert second.n_trials_total == 6 and first.n_trials_total == 3
    assert sum(second.this_run.values()) == 3
    assert second.n_complete + second.n_pruned + second.n_failed == 6

    # the best config loads unchanged and `train`'s CV gives exactly the best value
    best = load_config(out)
    assert "tune" not in best
    assert best["model"]["params"]["C"] == study.best_params["model.params.C"]
    assert cv_score(best, features) == study.best_value == second.best_value

    # one nested MLflow run per trial under each parent run, with its params and state
    runs = child_runs(uri, second.run_id)
    assert len(runs) == 3
    numbers = {int(r.data.tags["optuna.trial_number"]) for r in runs}
    assert numbers == set(range(3, 6))
    for run in runs:
        assert "model.params.C" in run.data.params
        assert run.data.tags["state"] in ("COMPLETE", "PRUNED")
        assert run.info.status == "FINISHED"
        trial = study.trials[int(run.data.tags["optuna.trial_number"])]
        assert float(run.data.params["model.params.C"]) == trial.params["model.params.C"]
        if trial.state.name == "COMPLETE":
            assert run.data.metrics["value"] == trial.value


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_pruned_trials_are_counted_and_their_runs_finish(tmp_path, features):
    from screen.learn import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = fast_config()
    settings = parse_tune(config)
    study = optuna.create_study(pruner=AlwaysPrune(), direction="minimize")
    with tracking.start_run("passivation", "tune-test", uri) as parent:
        objective = Objective(config, settings, TargetDataCache(features), uri, parent)
        study.optimize(objective, n_trials=3)
    summary = summarize(study, settings, parent, None, "memory", {})
    assert summary.n_pruned == 3 and summary.n_complete == 0 and summary.best_value is None
    runs = child_runs(uri, parent)
    assert len(runs) == 3
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["state"] == "PRUNED"
        assert "brier" in run.data.metrics  # the fold reported before pruning


def test_unpruned_objective_value_equals_train_cv(features):
    config = fast_config()
    settings = parse_tune(config)
    study = optuna.create_study(direction="minimize")  # no MLflow: parent_run_id=None
    study.optimize(Objective(config, settings, TargetDataCache(features)), n_trials=1)
    trial = study.trials[0]
    cfg = trial_config(config, trial.params, settings)
    assert cv_score(cfg, features) == trial.value
    assert np.isfinite(trial.value)


def test_two_processes_share_one_journal(tmp_path):
    storage, n = tmp_path / "journal.log", 4
    env = dict(os.environ)
    command = [sys.executable, "-c", CLI, "tune",
               "--config", str(default_config_path("passivation")), "--trials", str(n),
               "--storage", str(storage), *[a for s in FAST for a in ("--set", s)]]
    procs = [subprocess.Popen(
        [*command, "--tracking-uri", f"sqlite:///{tmp_path / f'mlflow{i}.db'}",
         "--out", str(tmp_path / f"best{i}.toml")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    for p, text in zip(procs, outputs, strict=True):
        assert p.returncode == 0, text
        assert "best config:" in text
    study = optuna.load_study(study_name="mgscreen-passivation", storage=journal(storage))
    states = [t.state.name for t in study.trials]
    assert len(study.trials) == 2 * n
    assert all(s in ("COMPLETE", "PRUNED") for s in states), states
    assert sorted(t.number for t in study.trials) == list(range(2 * n))
