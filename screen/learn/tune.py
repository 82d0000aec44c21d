"""Hyperparameter (and feature-set) search with Optuna, scored by the grouped CV of ``train``.

Search space (the experiment config's ``[tune]`` table, checked here)::

    [tune]
    pruner = "median"            # median | successive_halving | none
    sampler = "tpe"              # tpe | random
    seed = 0                     # sampler seed (optional; leave unset when several processes
                                 # share a study, or they propose the same first trials)
    n_startup_trials = 5         # median pruner: trials completed before pruning starts
    n_warmup_steps = 1           # median pruner: folds reported before a trial can be pruned
    min_resource = 1             # successive halving (int or "auto")
    reduction_factor = 3         # successive halving
    keep_params = ["log_target"] # base model.params kept when a trial changes model.family

    [tune.space."model.family"]
    choices = ["random_forest", "kernel_ridge"]
    [tune.space."model.params.n_estimators"]
    type = "int"                 # int | float | categorical (default: categorical if choices)
    low = 50
    high = 400
    log = true                   # optional; `step` optional too
    when = {"model.family" = ["random_forest"]}   # only sampled if an earlier choice matches
    [tune.space."features.blocks"]
    choices = [["anion", "solvent"], ["anion", "solvent", "additive", "coating", "system"]]

Every space key is a dotted config key; a trial is the base config with the sampled values
applied with :func:`screen.learn.config.apply_override` semantics, then re-checked with
``check_config``. When a trial samples a ``model.family`` other than the base config's, the base
``model.params`` are dropped except the keys in ``keep_params`` (the old family's
hyperparameters would be unknown keys of the new one). Choices that are not scalars (lists,
tables) are shown to Optuna as their JSON text.

Objective: the primary (grouped) scheme of the trial's config, candidate ``model``, evaluated
fold by fold by :func:`screen.learn.cv.cross_validate` (the engine ``train`` uses); after each
fold the running mean of the finite fold values of the primary metric is reported (``step`` = fold
index) so the
pruner can stop a clearly worse trial. The value returned is the pooled out-of-fold primary
metric, identical to what ``train`` uses for the champion decision. Direction follows
``task.higher_is_better``.

Failures: a trial whose pooled metric is NaN, or whose config or model raises, is a FAIL trial
(never best; the reason is the trial's user attribute ``error`` and the nested run's tag).

Storage: ``None`` → ``optuna-journal.log`` in the working directory (``JournalStorage`` with a
file backend, safe for several processes); ``journal:///abs/path.log``, ``journal://rel.log`` or
a bare path → journal file; any other URL (``sqlite:///…``, ``postgresql://…``) → RDB storage
(a PostgreSQL URL without a driver gets the installed one, see :mod:`screen.learn.dburl`; RDB
storages
record trial heartbeats, so trials of a process that died anywhere are failed after
``HEARTBEAT_GRACE`` seconds). Studies are created with ``load_if_exists=True``: the same
command continues the study.

Processes that died (kill -9, crash): every trial records its process (user attribute
``mgscreen.process`` = host and pid). When a study starts or resumes, trials left RUNNING by a
dead process of this host become FAIL (user attribute ``error`` says why), and the study's
MLflow runs left RUNNING by one (parent and nested) end FAILED with the tag
``mgscreen.orphaned`` (:func:`screen.learn.tracking.fail_orphaned_runs`).

MLflow (through :mod:`screen.learn.tracking` only): one parent run ``tune-<study>`` per invocation,
one nested run per trial with the sampled parameters, the fold metrics (step = fold), the final
value and the tags ``state`` (COMPLETE / PRUNED / FAIL) and ``optuna.trial_number``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from screen.data.config import thawed, toml_literal, write_toml
from screen.learn.config import ConfigError, TrainConfig, apply_override
from screen.learn.dburl import with_driver
from screen.learn.liveness import orphaned, process_identity
from screen.learn.tracking.store import Store

DEFAULT_JOURNAL = "optuna-journal.log"
#: Trial user attribute naming the process that runs the trial.
PROCESS_ATTR = "mgscreen.process"
#: RDB storages: heartbeat every HEARTBEAT_INTERVAL s; a trial silent for HEARTBEAT_GRACE s
#: is failed by the next process that starts a trial of the study.
HEARTBEAT_INTERVAL, HEARTBEAT_GRACE = 60, 180
PRUNERS = ("median", "successive_halving", "none")
SAMPLERS = ("tpe", "random")
_SETTINGS = {"pruner": str, "sampler": str, "seed": int, "n_startup_trials": int,
             "n_warmup_steps": int, "min_resource": (int, str), "reduction_factor": int,
             "keep_params": list, "space": dict}
_PARAM_KEYS = ("type", "choices", "low", "high", "log", "step", "when")
PARAM_TYPES = ("categorical", "int", "float")


# --------------------------------------------------------------------------- settings


@dataclass
class Param:
    """One dimension of the search space."""

    key: str
    type: str
    choices: list[Any] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    when: dict[str, list[Any]] = field(default_factory=dict)

    def active(self, sampled: dict[str, Any]) -> bool:
        """True if every ``when`` condition holds for the values sampled so far."""
        return all(key in sampled and sampled[key] in values for key, values in self.when.items())

    def labels(self) -> list[Any]:
        """What Optuna sees for a categorical: scalars as they are, others as JSON text."""
        return [_label(c) for c in self.choices]

    def suggest(self, trial) -> Any:
        """Sample this parameter in an Optuna trial; returns the config value."""
        if self.type == "categorical":
            labels = self.labels()
            picked = trial.suggest_categorical(self.key, labels)
            return self.choices[labels.index(picked)]
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.key, float(self.low), float(self.high), log=self.log,
                                   step=self.step)

    def decode(self, value: Any) -> Any:
        """Optuna's stored value → config value."""
        if self.type == "categorical":
            labels = self.labels()
            return self.choices[labels.index(value)] if value in labels else value
        return value


def _label(choice: Any) -> Any:
    if choice is None or isinstance(choice, (bool, int, float, str)):
        return choice
    return json.dumps(choice, sort_keys=True)


@dataclass
class TuneSettings:
    """The checked ``[tune]`` table."""

    space: list[Param]
    pruner: str = "median"
    sampler: str = "tpe"
    seed: int | None = None
    n_startup_trials: int = 5
    n_warmup_steps: int = 1
    min_resource: int | str = 1
    reduction_factor: int = 3
    keep_params: list[str] = field(default_factory=lambda: ["log_target"])


def parse_tune(config: dict, where: str = "<config>") -> TuneSettings:
    """Check the config's ``[tune]`` table (unknown key → :class:`ConfigError` naming it)."""
    table = config.get("tune")
    if not isinstance(table, dict) or not table.get("space"):
        raise ConfigError(f"{where}: no search space: add a [tune.space.\"<config key>\"] table "
                          "(see screen/tune.py)")
    for key, value in table.items():
        if key not in _SETTINGS:
            raise ConfigError(f"{where}: unknown key 'tune.{key}'; accepted here: "
                              f"{', '.join('tune.' + k for k in _SETTINGS)}")
        if not isinstance(value, _SETTINGS[key]) or isinstance(value, bool):
            raise ConfigError(f"{where}: 'tune.{key}' = {value!r} has the wrong type")
    if table.get("pruner", "median") not in PRUNERS:
        raise ConfigError(f"{where}: tune.pruner {table['pruner']!r}; accepted: "
                          f"{', '.join(PRUNERS)}")
    if table.get("sampler", "tpe") not in SAMPLERS:
        raise ConfigError(f"{where}: tune.sampler {table['sampler']!r}; accepted: "
                          f"{', '.join(SAMPLERS)}")
    if isinstance(table.get("min_resource"), str) and table["min_resource"] != "auto":
        raise ConfigError(f"{where}: tune.min_resource must be an int or \"auto\"")
    space: list[Param] = []
    for key, spec in table["space"].items():
        space.append(_parse_param(key, spec, space, where))
    settings = {k: v for k, v in table.items() if k != "space"}
    return TuneSettings(space=space, **settings)


def _parse_param(key: str, spec: Any, earlier: list[Param], where: str) -> Param:
    name = f"tune.space.{key!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: {name} must be a table like {{choices = [...]}} or "
                          "{type = \"int\", low = .., high = ..}")
    for k in spec:
        if k not in _PARAM_KEYS:
            raise ConfigError(f"{where}: unknown key {k!r} in {name}; accepted: "
                              f"{', '.join(_PARAM_KEYS)}")
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in PARAM_TYPES:
        raise ConfigError(f"{where}: {name}: type {kind!r}; accepted: {', '.join(PARAM_TYPES)}")
    param = Param(key=key, type=kind, log=bool(spec.get("log", False)), step=spec.get("step"))
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {name}: 'choices' must be a non-empty list")
        if len({json.dumps(_label(c)) for c in choices}) != len(choices):
            raise ConfigError(f"{where}: {name}: duplicate choices")
        param.choices = choices
        extra = [k for k in ("low", "high", "log", "step") if k in spec]
        if extra:
            raise ConfigError(f"{where}: {name}: {extra} only apply to int/float")
    else:
        if "choices" in spec:
            raise ConfigError(f"{where}: {name}: 'choices' only applies to categorical")
        for bound in ("low", "high"):
            value = spec.get(bound)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or (
                    kind == "int" and not isinstance(value, int)):
                what = "an int" if kind == "int" else "a number"
                raise ConfigError(f"{where}: {name}: {bound!r} must be {what}")
        if spec["low"] > spec["high"]:
            raise ConfigError(f"{where}: {name}: low > high")
        if param.log and spec["low"] <= 0:
            raise ConfigError(f"{where}: {name}: log scale needs low > 0")
        param.low, param.high = spec["low"], spec["high"]
    when = spec.get("when", {})
    if not isinstance(when, dict):
        raise ConfigError(f"{where}: {name}: 'when' must be a table {{\"earlier.key\" = [..]}}")
    known = {p.key: p for p in earlier}
    for cond, values in when.items():
        if cond not in known:
            raise ConfigError(f"{where}: {name}: 'when' refers to {cond!r}, which is not an "
                              f"earlier key of tune.space ({', '.join(known) or 'none'})")
        param.when[cond] = values if isinstance(values, list) else [values]
    return param


# --------------------------------------------------------------------------- trial configs


def trial_config(base, values: dict[str, Any], settings: TuneSettings,
                 where: str = "<trial>") -> TrainConfig:
    """The base config with sampled ``values`` applied; checked. ``[tune]`` is removed."""
    config = thawed(base)
    config.pop("tune", None)
    family = values.get("model.family")
    if family is not None and family != base["model"]["family"]:
        params = config["model"].get("params", {})
        config["model"]["params"] = {k: v for k, v in params.items()
                                     if k in settings.keep_params}
    for key, value in values.items():
        apply_override(config, f"{key}={toml_literal(value)}", where)
    return TrainConfig.from_dict(config, where)


def sample_values(trial, settings: TuneSettings) -> dict[str, Any]:
    """Sample the active parameters of the space in order."""
    values: dict[str, Any] = {}
    for param in settings.space:
        if param.active(values):
            values[param.key] = param.suggest(trial)
    return values


def decode_params(params: dict[str, Any], settings: TuneSettings) -> dict[str, Any]:
    """An Optuna trial's ``params`` → config values (JSON-labelled choices decoded)."""
    by_key = {p.key: p for p in settings.space}
    return {k: by_key[k].decode(v) if k in by_key else v for k, v in params.items()}


# --------------------------------------------------------------------------- storage / study


def make_storage(spec: str | None = None):
    """Optuna storage from ``--storage`` (see the module docstring)."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    spec = (spec or "").strip() or DEFAULT_JOURNAL
    if spec.startswith("journal://"):
        spec = spec[len("journal://"):] or DEFAULT_JOURNAL
    elif "://" in spec:
        return _rdb_storage(with_driver(spec))
    path = Path(spec).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _rdb_storage(url: str, attempts: int = 3):
    """``RDBStorage`` with heartbeats. Two processes creating the schema of an empty database
    at the same instant collide (PostgreSQL: duplicate type/table); the loser retries, and
    then finds the schema in place."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    def connect():
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL,
                                          grace_period=HEARTBEAT_GRACE)

    for attempt in range(attempts - 1):
        try:
            return connect()
        except (IntegrityError, ProgrammingError):
            time.sleep(0.5 * (attempt + 1))
    return connect()


def make_sampler(settings: TuneSettings):
    import optuna

    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    return optuna.samplers.TPESampler(seed=settings.seed)


def make_pruner(settings: TuneSettings):
    import optuna

    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.n_startup_trials,
                                           n_warmup_steps=settings.n_warmup_steps)
    if settings.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=settings.min_resource, reduction_factor=settings.reduction_factor)
    return optuna.pruners.NopPruner()


def default_study_name(target: str) -> str:
    return f"mgscreen-{target}"


def storage_label_of(spec: str | None) -> str:
    """The storage as shown in messages and MLflow tags (a URL's password masked)."""
    if not (spec or "").strip():
        return str(Path(DEFAULT_JOURNAL).resolve())
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", spec.strip())


def fail_orphaned_trials(storage, study_name: str) -> list[int]:
    """Mark FAIL the RUNNING trials of a study whose process (``PROCESS_ATTR``) is no longer
    alive on this host; returns their numbers. A trial finished meanwhile by another process
    is skipped."""
    import optuna

    study_id = storage.get_study_id_from_name(study_name)
    failed = []
    for trial in storage.get_all_trials(study_id, deepcopy=False,
                                        states=(optuna.trial.TrialState.RUNNING,)):
        owner = trial.user_attrs.get(PROCESS_ATTR)
        if not isinstance(owner, dict) or not orphaned(owner.get("pid"), owner.get("host")):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(
                trial_id, "error", f"process {owner['pid']} on {owner['host']} ended during "
                f"the trial (killed or crashed); marked FAIL at {time.strftime('%H:%M:%S')}")
            if storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
                failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return failed


# --------------------------------------------------------------------------- objective


class TargetDataCache:
    """Featurize once per process; build ``TargetData`` once per (target, data, features)."""

    def __init__(self, features=None):
        self._features = features
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def features(self):
        with self._lock:
            if self._features is None:
                from screen.learn.train import featurize_dataset

                self._features = featurize_dataset()
            return self._features

    def get(self, config: dict):
        from screen.data.components import ComponentLibrary
        from screen.learn.modeling_data import build_target_data

        key = json.dumps([config["target"], config["data"], config["features"]], sort_keys=True)
        features = self.features
        with self._lock:
            if key not in self._data:
                f = features
                self._data[key] = build_target_data(f.frame, f.matrix, f.names, config,
                                                    ComponentLibrary.load())
            return self._data[key]


def evaluate_config(config: dict, cache: TargetDataCache,
                    report: Callable[[int, float, dict], bool] | None = None
                    ) -> tuple[float, list[dict[str, float]]]:
    """Pooled out-of-fold primary metric of candidate ``model`` on the primary scheme (the CV
    engine of ``train``, :func:`screen.learn.cv.cross_validate`); ``report(fold,
    running_mean, metrics)`` is called after each fold and returning True stops early
    (→ ``(nan, folds so far)``)."""
    from screen.learn.cv import cross_validate
    from screen.learn.models.common import MetricUndefinedWarning
    from screen.learn.tasks import make_task

    task = make_task(config)
    td = cache.get(config)
    metric = task.primary_metric

    def on_fold(i: int, metrics: dict, folds: list[dict]) -> bool:
        if report is None:
            return False
        finite = [f[metric] for f in folds if metric in f and np.isfinite(f[metric])]
        return report(i, float(np.mean(finite)) if finite else float("nan"), metrics)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUndefinedWarning)
        result = cross_validate(task, td, "model", config["cv"]["primary"],
                                config["cv"]["n_splits"], task.seed, on_fold)
    folds = [{k: v for k, v in f.items() if k not in ("fold", "group", "n_test")}
             for f in result.folds]
    if result.stopped:
        return float("nan"), folds
    return float(result.pooled.get(metric, np.nan)), folds


class TrialFailed(Exception):
    """The trial produced no usable score (NaN pooled metric)."""


class Objective:
    """Optuna objective: sample → config → fold-by-fold grouped CV → pooled metric."""

    def __init__(self, base: dict, settings: TuneSettings, cache: TargetDataCache,
                 store: Store | str | None = None, parent_run_id: str | None = None):
        self.base, self.settings, self.cache = base, settings, cache
        self.store, self.parent_run_id = store, parent_run_id

    def __call__(self, trial) -> float:
        import optuna

        trial.set_user_attr(PROCESS_ATTR, process_identity())
        values = sample_values(trial, self.settings)
        try:
            config = trial_config(self.base, values, self.settings, f"trial {trial.number}")
        except ConfigError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        trial.set_user_attr("config", json.dumps(thawed(config)))
        if self.parent_run_id is None:  # no MLflow (unit tests of the objective)
            value, pruned = self._evaluate(trial, config, log=False)
        else:
            value, pruned = self._tracked(trial, config, values)
        if pruned:
            raise optuna.TrialPruned()
        return value

    def _evaluate(self, trial, config: dict, log: bool) -> tuple[float, bool]:
        from screen.learn import tracking

        state = {"pruned": False}

        def report(fold: int, running: float, metrics: dict) -> bool:
            if log:
                tracking.log_metrics({k: v for k, v in metrics.items()}, step=fold)
                tracking.log_metrics({"running_mean": running}, step=fold)
            if math.isfinite(running):
                trial.report(running, step=fold)
                if trial.should_prune():
                    state["pruned"] = True
                    return True
            return False

        value, _ = evaluate_config(config, self.cache, report)
        if state["pruned"]:
            return value, True
        if not math.isfinite(value):
            trial.set_user_attr("error", "pooled metric is NaN")
            raise TrialFailed(f"trial {trial.number}: pooled metric is NaN")
        return value, False

    def _tracked(self, trial, config: dict, values: dict) -> tuple[float, bool]:
        from screen.learn import tracking

        target = config["target"]
        tags = {"mlflow.parentRunId": self.parent_run_id, "optuna.trial_number": trial.number,
                "optuna.study": trial.study.study_name, "tune": "trial", "target": target}
        with tracking.start_run(target, f"trial-{trial.number}", self.store, tags,
                                nested=True):
            tracking.log_params_flat({k: v for k, v in values.items()})
            try:
                value, pruned = self._evaluate(trial, config, log=True)
            except BaseException as exc:
                tracking.set_tags({"state": "FAIL"})
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
                raise
            if pruned:
                tracking.set_tags({"state": "PRUNED"})
            else:
                primary = make_task_metric(config)
                tracking.log_metrics({f"final.{primary}": value, "value": value})
                tracking.set_tags({"state": "COMPLETE"})
        return value, pruned


def make_task_metric(config: dict) -> str:
    from screen.learn.tasks import make_task

    return make_task(config).primary_metric


# --------------------------------------------------------------------------- running a study


@dataclass
class TuneSummary:
    """What one ``tune`` invocation did and the study's state after it."""

    study_name: str
    storage: str
    direction: str
    n_trials_total: int
    n_complete: int
    n_pruned: int
    n_failed: int
    best_value: float | None
    best_number: int | None
    best_params: dict[str, Any]
    best_config_path: Path | None
    run_id: str | None
    interrupted: bool = False
    retrain: Any = None
    this_run: dict[str, int] = field(default_factory=dict)
    #: what was left RUNNING by dead processes and closed at the start:
    #: ``{"runs": [MLflow run ids], "trials": [trial numbers]}``
    recovered: dict[str, list] = field(default_factory=dict)


class TuneInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study; ``summary`` holds what was kept."""

    def __init__(self, summary: TuneSummary):
        super().__init__("tune interrupted")
        self.summary = summary


def best_config(study, settings: TuneSettings, base: dict) -> dict | None:
    """The best trial's full config (None if no trial completed)."""
    import optuna

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    trial = study.best_trial
    if "config" in trial.user_attrs:
        return json.loads(trial.user_attrs["config"])
    return trial_config(base, decode_params(trial.params, settings), settings)


def write_config(config, path: str | Path, header: str = "") -> Path:
    """Write a config as TOML that ``load_config`` / ``train --config`` accept (atomically:
    the file appears complete or not at all)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_toml({k: v for k, v in config.items() if k != "tune"}, path, header)


def summarize(study, settings: TuneSettings, run_id: str | None, out: Path | None,
              storage_label: str, this_run: dict[str, int],
              interrupted: bool = False) -> TuneSummary:
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in states}
    has_best = count[states.COMPLETE] > 0
    best = study.best_trial if has_best else None
    return TuneSummary(
        study_name=study.study_name, storage=storage_label,
        direction=study.direction.name.lower(), n_trials_total=len(trials),
        n_complete=count[states.COMPLETE], n_pruned=count[states.PRUNED],
        n_failed=count[states.FAIL], best_value=None if best is None else best.value,
        best_number=None if best is None else best.number,
        best_params={} if best is None else decode_params(best.params, settings),
        best_config_path=out if has_best else None, run_id=run_id, interrupted=interrupted,
        this_run=dict(this_run))


def run_tune(config: dict, n_trials: int | None = None, timeout: float | None = None,
             storage: str | None = None, study_name: str | None = None, n_jobs: int = 1,
             out: str | Path | None = None, store: Store | str | None = None,
             features=None, callbacks: list | None = None, retrain: bool = False,
             where: str = "<config>", model_set: str | None = None) -> TuneSummary:
    """Run (or continue) a study; write the best config; optionally retrain and register.

    ``callbacks``: extra Optuna callbacks ``(study, frozen_trial)`` (e.g. progress display).
    ``features``: the featurized training rows (default: the embedded data set; the CLI's
    ``--data`` files are featurized by the caller); ``model_set``: the retrained model is
    registered as ``<model_set>-<target>`` (see :func:`~screen.learn.train.train_target`).
    Ctrl-C raises :class:`TuneInterrupted` carrying the summary (finished trials are kept in
    the storage; the parent MLflow run ends FAILED with ``error_type`` TuneInterrupted).
    """
    import optuna

    from screen.learn import tracking
    from screen.learn.tasks import make_task
    from screen.learn.train import input_tags

    settings = parse_tune(config, where)
    task = make_task(config)
    # fail now on a bad base config / unreachable data rather than in every trial
    cache = TargetDataCache(features)
    cache.get(config)
    name = study_name or (tracking.registered_model_name(config["target"], model_set)
                          if model_set else default_study_name(config["target"]))
    direction = "maximize" if task.higher_is_better else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = Store.of(store)
    trials_storage = make_storage(storage)
    study = optuna.create_study(storage=trials_storage, study_name=name,
                                direction=direction, sampler=make_sampler(settings),
                                pruner=make_pruner(settings), load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} exists with direction {study.direction.name.lower()}"
                          f", but target {config['target']} needs {direction}: choose another "
                          "--study-name")
    out_path = Path(out) if out else Path.cwd() / f"best_{config['target']}.toml"
    storage_label = storage_label_of(storage)
    this_run = {"complete": 0, "pruned": 0, "failed": 0}
    lock = threading.Lock()

    def count(_study, trial) -> None:
        key = {"COMPLETE": "complete", "PRUNED": "pruned"}.get(trial.state.name, "failed")
        with lock:
            this_run[key] += 1

    tags = {"tune": "study", "optuna.study": name, "optuna.storage": storage_label,
            "target": config["target"], "direction": direction,
            **input_tags(getattr(cache.features, "inputs", ()))}
    interrupted, stop = False, None
    recovered = {"trials": fail_orphaned_trials(trials_storage, name),
                 "runs": tracking.fail_orphaned_runs(config["target"], store,
                                                     {"optuna.study": name})}
    with tracking.start_run(config["target"], f"tune-{name}", store, tags) as run_id:
        tracking.log_params_flat({"n_trials": n_trials, "timeout": timeout, "n_jobs": n_jobs,
                                  "pruner": settings.pruner, "sampler": settings.sampler,
                                  "space": [p.key for p in settings.space]})
        objective = Objective(config, settings, cache, store, run_id)
        try:
            study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                           catch=(Exception,), callbacks=[count, *(callbacks or [])],
                           gc_after_trial=False)
        except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C, or SIGTERM from the CLI
            interrupted, stop = True, exc
        best = best_config(study, settings, config)
        if best is not None:
            bt = study.best_trial
            write_config(best, out_path,
                         f"Best config of Optuna study {name!r} (trial {bt.number}, "
                         f"{task.primary_metric} = {bt.value!r} on cv.primary "
                         f"{best['cv']['primary']!r}).\nWritten by `mgscreen tune`; "
                         "`mgscreen train --config` accepts it.")
        summary = summarize(study, settings, run_id, out_path, storage_label, this_run,
                            interrupted)
        summary.recovered = recovered
        tracking.log_metrics({"n_complete": summary.n_complete, "n_pruned": summary.n_pruned,
                              "n_failed": summary.n_failed})
        if summary.best_value is not None:
            tracking.log_metrics({f"best.{task.primary_metric}": summary.best_value})
            tracking.set_tags({"best_trial": summary.best_number})
        if interrupted:
            tracking.set_tags({"state": "INTERRUPTED"})
            if isinstance(stop, SystemExit):  # best config written; keep the exit status
                raise stop
            raise TuneInterrupted(summary)
    if retrain and best is not None:
        from screen.learn.train import train_target

        summary.retrain = train_target(best, cache.features, store, register=True,
                                       model_set=model_set)
    return summary
