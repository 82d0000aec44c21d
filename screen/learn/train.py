"""Train one target: cross-validate the model against its baselines under every CV scheme, fit
the final model on all labelled rows, and record everything in MLflow (through
:mod:`screen.learn.tracking`). The new model takes the registry alias ``champion`` only if it beats
the current champion on the primary metric of the primary (grouped) CV scheme.

If the tracking server stops answering during training, the computation goes on without it;
then the model (skops), the metrics, the config and the CV tables are written atomically to
``./mgscreen-unsent/<target>-<time>/`` and :class:`~screen.learn.tracking.TrackingUnreachable` says
where. Runs left RUNNING by dead processes of this host are ended FAILED when training starts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.config import thawed
from screen.data.dataset import DataInput, TrainingTable
from screen.learn.cv import CVResult, cross_validate
from screen.learn.modeling_data import TargetData, build_target_data
from screen.learn.models.bundle import trusted_types
from screen.learn.models.common import MetricUndefinedWarning
from screen.learn.tasks import BaseTask, make_task
from screen.learn.tracking.store import Store

Progress = Callable[[str], None]
UNSENT_DIR = "mgscreen-unsent"


@dataclass
class Features:
    """The featurized data set: typed rows and their feature matrix (same order), and the
    files the rows came from (empty when a frame was given directly)."""

    frame: pd.DataFrame
    matrix: np.ndarray
    names: np.ndarray
    versions: dict[str, str]
    inputs: tuple[DataInput, ...] = ()


@dataclass
class TrainResult:
    """Outcome of training one target."""

    target: str
    run_id: str
    results: pd.DataFrame  # scheme, candidate, metric, value
    primary_metric: str
    primary_value: float
    champion: bool
    model_uri: str
    registered_name: str = ""  # the lab model set's registered model ('' for the defaults)


def featurize_dataset(data: pd.DataFrame | TrainingTable | None = None,
                      library: ComponentLibrary | None = None) -> Features:
    """Featurize the training rows once (cached per component): a typed frame, a
    :class:`~screen.data.dataset.TrainingTable` (the embedded data set and/or user files, see
    :func:`~screen.data.dataset.load_training_table`) or, by default, the embedded data set."""
    from featurizers.system import SystemFeaturizer
    from screen.data.dataset import load_training_table

    library = library or ComponentLibrary.load()
    if data is None:
        data = load_training_table(library=library)
    frame, inputs = (data.frame, data.inputs) if isinstance(data, TrainingTable) else (data, ())
    featurizer = SystemFeaturizer(library=library).fit()
    matrix = featurizer.transform(frame)
    versions = {name: f.cache_version for name, f in featurizer.featurizers_.items()}
    return Features(frame, matrix, featurizer.get_feature_names_out(), versions, inputs)


def input_tags(inputs: tuple[DataInput, ...]) -> dict[str, str]:
    """Run tags naming the training files: ``data.files`` and per file its rows and sha256."""
    if not inputs:
        return {}
    tags = {"data.files": "; ".join(i.path for i in inputs)}
    for i in inputs:
        tags[f"data.{i.name}.rows"] = str(i.n_rows)
        tags[f"data.{i.name}.sha256"] = i.sha256
    return tags


def evaluate(task: BaseTask, td: TargetData, config: dict,
             progress: Progress | None = None) -> list[CVResult]:
    """CV results of every candidate under every scheme of the config."""
    results = []
    for scheme in config["cv"]["schemes"]:
        for candidate in task.candidates:
            with warnings.catch_warnings():  # a held-out group often has one class / no event
                warnings.simplefilter("ignore", MetricUndefinedWarning)
                results.append(cross_validate(task, td, candidate, scheme,
                                              config["cv"]["n_splits"], task.seed))
            if progress:
                progress(f"{task.target}: CV {scheme} / {candidate}")
    return results


def results_table(results: list[CVResult]) -> pd.DataFrame:
    """Long table: scheme, candidate, metric, value (pooled and fold mean/sd)."""
    rows = [(r.scheme, r.candidate, metric, value)
            for r in results for metric, value in r.summary().items()]
    return pd.DataFrame(rows, columns=["scheme", "candidate", "metric", "value"])


def per_group_table(results: list[CVResult]) -> pd.DataFrame:
    """Fold metrics of the grouped schemes, one row per held-out group and candidate."""
    frames = [pd.DataFrame(r.folds).assign(scheme=r.scheme, candidate=r.candidate)
              for r in results if r.scheme != "random"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def experiment_tags(target) -> dict[str, str]:
    """The description the MLflow UI shows for a target's experiment (``mlflow.note.content``):
    what is learned, its unit, and which metric of which CV scheme decides the champion."""
    import inspect

    direction = "higher" if target.higher_is_better else "lower"
    module = inspect.getmodule(type(target))
    doc = " ".join((inspect.getdoc(module) or target.label).split("\n\n")[0].split())
    text = (f"{doc}\n\nEach run cross-validates the model beside a dummy and a one-hot-names "
            "baseline under random K-fold, leave-one-anion-family-out (`anion_family.*`) and "
            "leave-one-source-out (`source.*`); `primary.{m}` is the model's pooled "
            "out-of-fold {m} on the primary grouped scheme ({d} is better) and decides the "
            "registry alias `champion`.").format(m=target.primary_metric, d=direction)
    return {"mlflow.note.content": text}


def final_model(task: BaseTask, td: TargetData, config: dict,
                results: list[CVResult] | None = None):
    """The deployable :class:`~screen.learn.models.bundle.ScreeningModel`, fit on all rows; its
    applicability domain is calibrated with the primary grouped scheme's out-of-fold errors
    when ``results`` are given."""
    from screen.learn.domain import DomainScorer
    from screen.learn.models.bundle import ScreeningModel

    domain = DomainScorer(tolerance=config["domain"].get("tolerance", 1.5))
    model = ScreeningModel(target=task.target,
                           estimator=task.spec.final_estimator(config, task.seed),
                           domain=domain, settings=task.spec.model_settings(config)
                           ).fit(td.X, td.y)
    primary = next((r for r in results or [] if r.candidate == "model"
                    and r.scheme == config["cv"]["primary"] and r.scheme != "random"), None)
    if primary is not None:
        errors = task.spec.oof_errors(td, primary.oof)
        if errors is not None:
            model.domain_.calibrate(td.X, errors, td.groups[primary.scheme])
    return model


class _Sender:
    """Calls a :mod:`screen.learn.tracking` function; once the tracking store is unreachable, the
    error is kept and this and later calls return None, so training can finish locally."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def __call__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            return None
        from screen.learn import tracking

        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if not tracking.is_unreachable(exc):
                raise
            self.error = exc
            return None


def save_unsent(config: dict, kept: dict[str, Any], tracking_uri: str, error: BaseException,
                where: str | Path | None = None) -> Path:
    """Write what a run could not send to its tracking store, atomically (a temporary folder
    renamed into place): ``model.skops``, ``result.json`` (metrics, config, tags, digest),
    ``cv_results.csv`` and ``cv_per_group.csv``. Returns the folder."""
    import hashlib

    import skops.io

    root = Path(where or Path.cwd() / UNSENT_DIR).resolve()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix=f".{config['target']}-{stamp}-", dir=root))
    try:
        result: dict[str, Any] = {
            "target": config["target"], "tracking_uri": tracking_uri, "run_id": kept.get("run_id"),
            "error": f"{type(error).__name__}: {error}"[:4000], "created": stamp,
            "tags": kept.get("tags", {}), "metrics": kept.get("metrics", {}),
            "primary_metric": kept.get("primary_metric"), "config": thawed(config)}
        if kept.get("model") is not None:
            skops.io.dump(kept["model"], tmp / "model.skops")
            result["model_file"] = "model.skops"
            result["model_sha256"] = hashlib.sha256((tmp / "model.skops").read_bytes()).hexdigest()
            result["trusted_types"] = trusted_types(config["target"])
        for name in ("cv_results", "cv_per_group"):
            if isinstance(kept.get(name), pd.DataFrame):
                kept[name].to_csv(tmp / f"{name}.csv", index=False)
        (tmp / "result.json").write_text(json.dumps(result, indent=2, default=str) + "\n",
                                         encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = root / f"{config['target']}-{stamp}"
    suffix = 1
    while final.exists():
        suffix += 1
        final = root / f"{config['target']}-{stamp}-{suffix}"
    os.rename(tmp, final)
    return final


def train_target(config: dict, features: Features | None = None,
                 store: Store | str | None = None, register: bool = True,
                 progress: Progress | None = None,
                 model_set: str | None = None) -> TrainResult:
    """Cross-validate, fit, log and (maybe) register one target; see the module docstring.

    ``model_set``: register as ``<model_set>-<target>`` (a lab's own models, ``train --name``)
    instead of the default registered model, whose ``champion`` it then never touches.
    """
    from screen.learn import tracking

    features = features or featurize_dataset()
    store = Store.of(store)
    uri = store.uri
    kept: dict[str, Any] = {}
    try:
        return _train(config, features, store, register, progress, kept, model_set)
    except Exception as exc:
        if isinstance(exc, tracking.TrackingUnreachable) or not tracking.is_unreachable(exc):
            raise
        saved = save_unsent(config, kept, uri, exc) if "metrics" in kept else None
        raise tracking.TrackingUnreachable(uri, tracking.unreachable_reason(exc),
                                           saved) from exc


def _train(config: dict, features: Features, store: Store, register: bool,
           progress: Progress | None, kept: dict[str, Any],
           model_set: str | None = None) -> TrainResult:
    """``train_target``'s work; ``kept`` collects the results as they are computed."""
    from screen.learn import tracking
    from screen.learn.diagnostics import log_diagnostics

    task = make_task(config)
    library = ComponentLibrary.load()
    tags = {"target": task.target, "data_digest": tracking.dataset_digest(features.frame),
            **{f"featurizer.{k}": v for k, v in features.versions.items()},
            **input_tags(features.inputs), **({"model_set": model_set} if model_set else {})}
    kept["tags"] = tags
    tracking.fail_orphaned_runs(task.target, store)
    send = _Sender()
    registered = tracking.registered_model_name(task.target, model_set)
    run_name = f"{registered if model_set else task.target}-{config['model']['family']}"
    with tracking.start_run(task.target, run_name, store, tags,
                            experiment_tags=experiment_tags(task.spec)) as run_id:
        kept["run_id"] = run_id
        send(tracking.log_params_flat, config)
        td = build_target_data(features.frame, features.matrix, features.names, config,
                               library)
        send(tracking.log_params_flat, {"n_rows": len(td.y), "n_features": td.X.shape[1]})
        send(tracking.log_dataset, td.rows, f"interfaces-{task.target}", tags["data_digest"],
             " + ".join(i.name for i in features.inputs) or "mgscreen embedded data set")
        for data_input in features.inputs:  # every file: its sha256 and row count
            send(tracking.log_dataset, data_input.rows, data_input.name, data_input.sha256,
                 data_input.path)
        results = evaluate(task, td, config, progress)
        table = results_table(results)
        metrics: dict[str, float] = {}
        kept.update(metrics=metrics, cv_results=table, cv_per_group=per_group_table(results),
                    primary_metric=f"primary.{task.primary_metric}")
        for r in results:
            summary = {f"{r.scheme}.{r.candidate}.{k}": v
                       for k, v in r.summary().items() if np.isfinite(v)}
            metrics.update(summary)
            send(tracking.log_metrics, summary)
            if r.candidate == "model":
                send(tracking.log_fold_metrics,
                     [{k: v for k, v in fold.items()
                       if k not in ("fold", "group") and np.isfinite(v)} for fold in r.folds],
                     prefix=f"{r.scheme}.model.")
        send(tracking.log_table, table, "cv_results.csv")
        send(tracking.log_table, kept["cv_per_group"], "cv_per_group.csv")
        primary = next(r for r in results
                       if r.scheme == config["cv"]["primary"] and r.candidate == "model")
        value = float(primary.pooled.get(task.primary_metric, np.nan))
        metrics[f"primary.{task.primary_metric}"] = value
        send(tracking.log_metrics, {f"primary.{task.primary_metric}": value})
        model = final_model(task, td, config, results)
        kept["model"] = model
        if progress:
            progress(f"{task.target}: final model fitted")
        send(log_diagnostics, task, td, results, model, config)
        model_uri = send(tracking.log_model, model, "model", td.X.head(5),
                         trusted_types(task.target))
        champion = False
        if register and np.isfinite(value):
            champion = bool(send(tracking.register_if_better, model_uri,
                                 registered,
                                 f"primary.{task.primary_metric}", value,
                                 task.higher_is_better, store))
        if send.error is not None:
            raise send.error
    return TrainResult(task.target, run_id, table, task.primary_metric, value, champion,
                       model_uri, registered if register and model_set else "")
