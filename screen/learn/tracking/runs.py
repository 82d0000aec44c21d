"""Runs: start and end them (never left RUNNING), orphans of dead processes, parameters,
metrics and tags.

One experiment per target (``experiment_name``). ``start_run`` is a context manager that never
leaves a run RUNNING: any exception, including KeyboardInterrupt, ends it FAILED with the tags
``error`` (type and message, truncated) and ``error_type``, then re-raises. Every run is tagged
with the pid and host of its process (``mgscreen.pid``, ``mgscreen.host``); ``fail_orphaned_runs``
ends FAILED the RUNNING runs whose process died (kill -9, crash), tagging them
``mgscreen.orphaned``."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient

from screen.learn.liveness import orphaned, process_identity
from screen.learn.tracking.registry import _rollback_registrations
from screen.learn.tracking.store import (
    MAX_PARAM_VALUE,
    MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE,
    TAG_HOST,
    TAG_MODEL_TARGET,
    TAG_ORPHANED,
    TAG_PID,
    Store,
    _error_text,
    _fail_fast,
    _get_or_create_experiment,
    _is_clean_exit,
    _key,
    _use,
    _value_text,
    experiment_name,
    is_unreachable,
)


@contextlib.contextmanager
def start_run(target: str, run_name: str | None = None, store: Store | str | None = None,
              tags: Mapping[str, Any] | None = None, nested: bool = False,
              experiment_tags: dict[str, str] | None = None) -> Iterator[str]:
    """Start a run in the target's experiment and yield its run id.

    On any exception (KeyboardInterrupt included) the run ends FAILED with the tags ``error``
    and ``error_type``, and the exception propagates; runs opened inside it and still active
    are ended FAILED first, and model versions registered from the run are deleted (the alias
    ``champion`` returns to the version that held it before). ``nested=True`` starts a child of
    the active run (e.g. one Optuna trial). ``experiment_tags`` (e.g. the description
    ``mlflow.note.content``) are set on the target's experiment. The tag ``git_commit`` is added to
    top-level runs
    when the code lives in a git checkout; ``mgscreen.pid`` / ``mgscreen.host`` to every run.
    When the store is unreachable the clean-up is tried once, without retries.
    """
    chosen = Store.of(store)
    uri, client = chosen.uri, chosen.client
    experiment_id = _get_or_create_experiment(client, uri, experiment_name(target),
                                              experiment_tags)
    me = process_identity()
    all_tags = {TAG_MODEL_TARGET: target, TAG_PID: me["pid"], TAG_HOST: me["host"]}
    commit = None if nested else git_commit()  # children inherit it from the parent run
    if commit is not None:
        all_tags["git_commit"] = commit
    all_tags.update({_key(k): _value_text(v, MAX_TAG_VALUE) for k, v in (tags or {}).items()})
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags,
                           nested=nested)
    run_id = run.info.run_id
    outer, Store._active = Store._active, chosen  # helpers called without a store use this one
    try:
        yield run_id
    except BaseException as exc:
        if _is_clean_exit(exc):
            _finish(client, run_id, "FINISHED")
        else:
            with _fail_fast(is_unreachable(exc)):
                with contextlib.suppress(Exception):
                    client.set_tag(run_id, "error", _error_text(exc))
                    client.set_tag(run_id, "error_type", type(exc).__name__)
                with contextlib.suppress(Exception):
                    _rollback_registrations(client, run_id)
                _finish(client, run_id, "FAILED")
        raise
    finally:
        Store._active = outer
    _finish(client, run_id, "FINISHED")


def _finish(client: MlflowClient, run_id: str, status: str) -> None:
    """End ``run_id`` (and any run still active above it on MLflow's stack) with ``status``."""
    try:
        stack_ids = []
        active = mlflow.active_run()
        while active is not None and active.info.run_id != run_id:
            if active.info.run_id in stack_ids:  # defensive: never loop forever
                break
            stack_ids.append(active.info.run_id)
            mlflow.end_run(status="FAILED" if status == "FAILED" else "FINISHED")
            active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
        elif client.get_run(run_id).info.status == "RUNNING":  # ended elsewhere? make sure
            client.set_terminated(run_id, status)
    except Exception:  # the store itself failed: try once more directly, then give up
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, status)
        if status == "FINISHED":
            raise


def fail_orphaned_runs(target: str, store: Store | str | None = None,
                       match: Mapping[str, Any] | None = None) -> list[str]:
    """End FAILED the RUNNING runs of the target's experiment whose process (tags
    ``mgscreen.pid`` / ``mgscreen.host``) is no longer alive on this host, e.g. after a kill -9;
    ``match``: tags a run must also have (e.g. ``{"optuna.study": name}``). Each gets the tags
    ``mgscreen.orphaned`` and ``error`` saying why. Runs of live processes, of other hosts or
    without these tags are left alone. Returns the ids of the runs it ended."""
    _, client = _use(store)
    exp = client.get_experiment_by_name(experiment_name(target))
    if exp is None:
        return []
    wanted = {_key(k): _value_text(v, MAX_TAG_VALUE) for k, v in (match or {}).items()}
    me = process_identity()
    ended, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'",
                                  max_results=500, page_token=token)
        for run in page:
            tags = run.data.tags
            if any(tags.get(k) != v for k, v in wanted.items()):
                continue
            if not orphaned(tags.get(TAG_PID), tags.get(TAG_HOST)):
                continue
            why = (f"process {tags[TAG_PID]} on {tags[TAG_HOST]} ended without closing this run "
                   f"(killed or crashed); marked FAILED by process {me['pid']} at "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
            client.set_tag(run.info.run_id, TAG_ORPHANED, why)
            client.set_tag(run.info.run_id, "error", why)
            client.set_tag(run.info.run_id, "error_type", "OrphanedRun")
            client.set_terminated(run.info.run_id, "FAILED")
            ended.append(run.info.run_id)
        token = page.token
        if not token:
            return ended


def active_run_id() -> str | None:
    """The id of the active run (None outside ``start_run``)."""
    run = mlflow.active_run()
    return None if run is None else run.info.run_id


def run_info(run_id: str, store: Store | str | None = None) -> dict[str, Any]:
    """Status, parameters, last metric values and tags of a run, as plain dicts."""
    _, client = _use(store)
    run = client.get_run(run_id)
    return {"run_id": run_id, "status": run.info.status,
            "experiment_id": run.info.experiment_id, "artifact_uri": run.info.artifact_uri,
            "params": dict(run.data.params), "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags)}


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts → ``{"a.b.c": "value"}``; values stringified (lists as JSON) and truncated
    to MLflow's limits; key characters MLflow refuses become ``_``."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[_key(name)] = _value_text(value, MAX_PARAM_VALUE)
    return flat


def log_params_flat(params: Mapping[str, Any]) -> dict[str, str]:
    """Log a (nested) config dict as parameters; returns what was logged."""
    flat = flatten_params(params)
    items = list(flat.items())
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        mlflow.log_params(dict(items[start:start + MAX_PARAMS_PER_BATCH]))
    return flat


def _metric_value(key: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {key!r}: {value!r} is not a number") from None


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> dict[str, float]:
    """Log numeric metrics (None values skipped, NaN kept); returns what was logged."""
    clean = {_key(k): _metric_value(k, v) for k, v in metrics.items() if v is not None}
    if clean:
        mlflow.log_metrics(clean, step=step)
    return clean


def fold_aggregates(folds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``{key_mean, key_sd}`` over folds (finite values only; sd with ddof=1, omitted when
    fewer than two folds have a finite value)."""
    keys: list[str] = []
    for fold in folds:
        keys.extend(k for k in fold if k not in keys)
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([_metric_value(key, f[key]) for f in folds
                           if f.get(key) is not None], dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            out[f"{key}_mean"] = float(values.mean())
        if values.size >= 2:
            out[f"{key}_sd"] = float(values.std(ddof=1))
    return out


def log_fold_metrics(folds: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, float]:
    """Log per-fold metrics as ``<prefix><key>_fold`` with step = fold index, and the
    aggregates ``<prefix><key>_mean`` / ``<prefix><key>_sd``; returns the aggregates."""
    for index, fold in enumerate(folds):
        log_metrics({f"{prefix}{k}_fold": v for k, v in fold.items()}, step=index)
    aggregates = {f"{prefix}{k}": v for k, v in fold_aggregates(folds).items()}
    log_metrics(aggregates)
    return aggregates


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set run tags (values stringified and truncated)."""
    mlflow.set_tags({_key(k): _value_text(v, MAX_TAG_VALUE) for k, v in tags.items()})


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The HEAD commit of the git checkout holding ``path`` (default: this package), or None."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


