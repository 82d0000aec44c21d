"""The thin layer between mgscreen and MLflow (the only module that imports MLflow).

Runs, parameters, metrics, artifacts, data-set inputs, models and the model registry; every
function takes and returns plain Python values (run ids, URIs, dicts, bools).

Store
    ``resolve_tracking_uri``: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` >
    ``sqlite:///<absolute cwd>/mlflow.db``. For a SQLite store the artifacts of the experiments
    this module creates live beside the database, in ``<db dir>/mlartifacts/<experiment>``
    (MLflow's own default would be ``./mlruns`` relative to whatever the current directory is).
    Other stores (PostgreSQL, a tracking server) keep their own artifact configuration.
    A PostgreSQL URL without a driver gets the installed one (``screen.learn.dburl``). For a
    tracking server, an unset ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``..._BACKOFF_FACTOR``
    default to 3 / 1 (MLflow's 7 / 2 wait ~4 min before reporting a server that is down).
    ``is_unreachable`` tells such errors apart; ``TrackingUnreachable`` reports them.

Runs
    One experiment per target (``experiment_name``). ``start_run`` is a context manager that
    never leaves a run RUNNING: any exception, including KeyboardInterrupt, ends it FAILED with
    the tags ``error`` (type and message, truncated) and ``error_type``, then re-raises.
    Every run is tagged with the pid and host of its process (``mgscreen.pid``,
    ``mgscreen.host``); ``fail_orphaned_runs`` ends FAILED the RUNNING runs whose process died
    (kill -9, crash), tagging them ``mgscreen.orphaned``.

Models
    ``log_model`` saves a scikit-learn estimator with skops (no pickle) and a signature;
    ``load_model`` / ``load_champion`` load it back refusing any type that is not trusted.
    skops 0.16 trusts neither ``sklearn.tree._tree.Tree`` nor ``numpy.dtype`` by default, so a
    random forest needs ``["numpy.dtype", "sklearn.tree._tree.Tree"]``; ``untrusted_types``
    lists what a given model needs. ``log_model`` records the sha256 of the stored skops file
    as the logged-model tag ``mgscreen.sha256``; ``load_model`` checks it before unpacking and
    refuses a file whose digest differs or was never recorded (``ModelIntegrityError``).

Registry
    ``register_if_better`` registers a version and moves the alias ``champion`` to it only if
    it beats the current champion on a metric stored as a model-version tag.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from screen.learn.dburl import with_driver
from screen.learn.liveness import orphaned, process_identity

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "mgscreen-"
CHAMPION_ALIAS = "champion"
#: Model-version tags written by ``register_if_better``.
TAG_METRIC_NAME = "mgscreen.metric_name"
TAG_HIGHER_IS_BETTER = "mgscreen.higher_is_better"
TAG_CHAMPION_REASON = "mgscreen.champion_reason"
TAG_PREVIOUS_CHAMPION = "mgscreen.previous_champion"
#: Run tags: the process that started the run, and why a run was found orphaned.
TAG_PID = "mgscreen.pid"
TAG_HOST = "mgscreen.host"
TAG_ORPHANED = "mgscreen.orphaned"
#: Logged-model tags written by ``log_model`` and checked by ``load_model``.
TAG_MODEL_SHA256 = "mgscreen.sha256"
TAG_MODEL_FILE = "mgscreen.model_file"
#: Retry settings for a tracking server when the environment does not set them.
HTTP_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
HTTP_DEFAULTS = {HTTP_RETRIES: "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}

# MLflow limits (mlflow.utils.validation, 3.17).
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
MAX_PARAMS_PER_BATCH = 100
MAX_DATASET_DIGEST = 36
MAX_ERROR_MESSAGE = 4000
_INVALID_KEY_CHARS = re.compile(r"[^/\w.\- :]")


# --------------------------------------------------------------------------- store


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The tracking URI to use: ``uri`` > ``$MLFLOW_TRACKING_URI`` > SQLite file in the cwd.

    A relative SQLite path (``sqlite:///mlflow.db``) and a bare ``*.db`` path are made absolute
    so that every process (and ``mgscreen ui``) sees the same file.
    """
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not chosen.strip():
        return f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"
    chosen = chosen.strip()
    if "://" not in chosen and chosen.endswith((".db", ".sqlite")):
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    path = _sqlite_path(chosen)
    if path is not None and not path.is_absolute():
        return f"sqlite:///{path.resolve()}"
    return chosen


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other schemes or in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def artifact_root(uri: str) -> Path | None:
    """Where this module puts artifacts for a SQLite store (None: the store decides)."""
    path = _sqlite_path(uri)
    return None if path is None else path.resolve().parent / "mlartifacts"


def _use(uri: str | None) -> tuple[str, MlflowClient]:
    """Point MLflow at the store (creating a SQLite file's folder) and get a client.

    ``uri=None`` inside an active run means that run's store (so helpers called without a URI
    inside ``start_run(..., tracking_uri=X)`` stay on X); outside a run, ``resolve_tracking_uri``.
    """
    if uri is None and mlflow.active_run() is not None:
        current = mlflow.get_tracking_uri()
        return current, MlflowClient(tracking_uri=current)
    resolved = with_driver(resolve_tracking_uri(uri))
    path = _sqlite_path(resolved)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if resolved.startswith(("http://", "https://")):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(resolved)
    return resolved, MlflowClient(tracking_uri=resolved)


def experiment_name(target: str) -> str:
    """The experiment of a target, e.g. ``mgscreen-overpotential``."""
    return f"{EXPERIMENT_PREFIX}{target}"


def registered_model_name(target: str) -> str:
    """The registered-model name of a target, e.g. ``mgscreen-overpotential``."""
    return f"{EXPERIMENT_PREFIX}{target}"


def _get_or_create_experiment(client: MlflowClient, uri: str, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        root = artifact_root(uri)
        location = None if root is None else (root / name).as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created concurrently by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage != "active":
        raise RuntimeError(
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted in {uri}; restore "
            f"it in the MLflow UI or purge it with `mlflow gc --backend-store-uri {uri} "
            f"--experiment-ids {exp.experiment_id}`")
    return exp.experiment_id


class TrackingUnreachable(RuntimeError):
    """The tracking store did not answer (server down, wrong host or port, network).

    ``saved_to``: where the results that could not be sent were written instead, if anywhere.
    """

    def __init__(self, uri: str, reason: str, saved_to: Path | None = None):
        self.uri, self.reason, self.saved_to = uri, reason, saved_to
        text = f"MLflow tracking server {uri} is unreachable ({reason})"
        if saved_to is None:
            text += "; nothing was logged there by this command"
        else:
            text += (f". Nothing is lost: the results of this run were saved in {saved_to} "
                     "(model.skops, result.json with metrics and config, cv_results.csv)")
        super().__init__(text)


_UNREACHABLE_TEXT = {"Connection refused": "connection refused",
                     "Failed to establish a new connection": "no connection",
                     "Name or service not known": "unknown host",
                     "Temporary failure in name resolution": "unknown host",
                     "RemoteDisconnected": "connection lost", "Connection aborted":
                     "connection lost", "Connection reset": "connection lost",
                     "timed out": "no answer in time"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unreachable(exc: BaseException) -> bool:
    """True if ``exc`` (or an error it came from) means the tracking store did not answer, as
    opposed to answering with an error."""
    import requests

    for error in _chain(exc):
        if isinstance(error, (TrackingUnreachable, ConnectionError, TimeoutError,
                              requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        if any(text in str(error) for text in _UNREACHABLE_TEXT):
            return True
    return False


def unreachable_reason(exc: BaseException) -> str:
    """A few words on why the store did not answer (for messages)."""
    text = " ".join(str(error) for error in _chain(exc))
    return next((reason for needle, reason in _UNREACHABLE_TEXT.items() if needle in text),
                "connection failed")


@contextlib.contextmanager
def _fail_fast(active: bool) -> Iterator[None]:
    """No HTTP retries inside (closing a run on a server known to be down)."""
    if not active:
        yield
        return
    previous = os.environ.get(HTTP_RETRIES)
    os.environ[HTTP_RETRIES] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HTTP_RETRIES, None)
        else:
            os.environ[HTTP_RETRIES] = previous


# --------------------------------------------------------------------------- runs


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(key: Any) -> str:
    return _truncate(_INVALID_KEY_CHARS.sub("_", str(key)), MAX_KEY)


def _value_text(value: Any, limit: int) -> str:
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        text = json.dumps(sorted(value) if isinstance(value, (set, frozenset)) else value,
                          default=str)
    else:
        text = str(value)
    return _truncate(text, limit)


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return _truncate(text, MAX_ERROR_MESSAGE)


def _is_clean_exit(exc: BaseException) -> bool:
    """``sys.exit(0)`` / ``typer.Exit(0)`` inside a run is not a failure."""
    if isinstance(exc, SystemExit):
        return exc.code in (0, None)
    return type(exc).__name__ == "Exit" and getattr(exc, "exit_code", None) == 0


@contextlib.contextmanager
def start_run(target: str, run_name: str | None = None, tracking_uri: str | None = None,
              tags: Mapping[str, Any] | None = None, nested: bool = False) -> Iterator[str]:
    """Start a run in the target's experiment and yield its run id.

    On any exception (KeyboardInterrupt included) the run ends FAILED with the tags ``error``
    and ``error_type``, and the exception propagates; runs opened inside it and still active
    are ended FAILED first, and model versions registered from the run are deleted (the alias
    ``champion`` returns to the version that held it before). ``nested=True`` starts a child of
    the active run (e.g. one Optuna trial). The tag ``git_commit`` is added to top-level runs
    when the code lives in a git checkout; ``mgscreen.pid`` / ``mgscreen.host`` to every run.
    When the store is unreachable the clean-up is tried once, without retries.
    """
    uri, client = _use(tracking_uri)
    experiment_id = _get_or_create_experiment(client, uri, experiment_name(target))
    me = process_identity()
    all_tags = {"mgscreen.target": target, TAG_PID: me["pid"], TAG_HOST: me["host"]}
    commit = None if nested else git_commit()  # children inherit it from the parent run
    if commit is not None:
        all_tags["git_commit"] = commit
    all_tags.update({_key(k): _value_text(v, MAX_TAG_VALUE) for k, v in (tags or {}).items()})
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags,
                           nested=nested)
    run_id = run.info.run_id
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
    _finish(client, run_id, "FINISHED")


def _rollback_registrations(client: MlflowClient, run_id: str) -> None:
    """Undo ``register_if_better`` calls made for a run that then failed: the alias goes back
    to the previous champion (or is removed) and the versions are deleted; the run gets the
    tag ``mgscreen.rolled_back`` listing them."""
    undone = []
    for found in client.search_model_versions(f"run_id = '{run_id}'"):
        # search results may lack aliases and tags: read the full version
        version = client.get_model_version(found.name, found.version)
        if CHAMPION_ALIAS in (version.aliases or []):
            previous = (version.tags or {}).get(TAG_PREVIOUS_CHAMPION)
            try:
                if not previous:
                    raise LookupError
                client.set_registered_model_alias(version.name, CHAMPION_ALIAS, previous)
            except Exception:  # noqa: BLE001 - no (surviving) previous champion
                client.delete_registered_model_alias(version.name, CHAMPION_ALIAS)
        client.delete_model_version(version.name, version.version)
        undone.append(f"{version.name} v{version.version}")
    if undone:
        client.set_tag(run_id, "mgscreen.rolled_back", ", ".join(undone))


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


def fail_orphaned_runs(target: str, tracking_uri: str | None = None,
                       match: Mapping[str, Any] | None = None) -> list[str]:
    """End FAILED the RUNNING runs of the target's experiment whose process (tags
    ``mgscreen.pid`` / ``mgscreen.host``) is no longer alive on this host, e.g. after a kill -9;
    ``match``: tags a run must also have (e.g. ``{"optuna.study": name}``). Each gets the tags
    ``mgscreen.orphaned`` and ``error`` saying why. Runs of live processes, of other hosts or
    without these tags are left alone. Returns the ids of the runs it ended."""
    _, client = _use(tracking_uri)
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


def run_info(run_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """Status, parameters, last metric values and tags of a run, as plain dicts."""
    _, client = _use(tracking_uri)
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


def log_figure(fig: Any, artifact_file: str) -> None:
    """Save a matplotlib figure as a run artifact (PNG unless the name has an extension)."""
    if not Path(artifact_file).suffix:
        artifact_file = f"{artifact_file}.png"
    mlflow.log_figure(fig, artifact_file)


def _log_bytes(data: bytes, artifact_file: str) -> None:
    target = Path(artifact_file)
    with tempfile.TemporaryDirectory(prefix="mgscreen-artifact-") as tmp:
        path = Path(tmp) / target.name
        path.write_bytes(data)
        parent = target.parent.as_posix()
        mlflow.log_artifact(str(path), artifact_path=None if parent in ("", ".") else parent)


def log_table(frame: pd.DataFrame, artifact_file: str) -> None:
    """Log a DataFrame as a CSV artifact (``artifact_file`` like ``tables/cv.csv``)."""
    if not Path(artifact_file).suffix:
        artifact_file = f"{artifact_file}.csv"
    _log_bytes(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"), artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log a text artifact."""
    mlflow.log_text(text, artifact_file)


def dataset_digest(frame: pd.DataFrame) -> str:
    """sha256 (hex) of the frame's CSV bytes (no index, ``\\n`` line ends)."""
    data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def log_dataset(frame: pd.DataFrame, name: str, digest: str | None = None,
                source: str | None = None, targets: str | None = None) -> str:
    """Log ``frame`` as the run's MLflow dataset input (context ``training``).

    MLflow caps a dataset digest at 36 characters: the input carries the first 36 hex digits
    and the full sha256 as the input tag ``sha256``. Returns the full digest.
    """
    full = digest or dataset_digest(frame)
    with _quiet_loggers("mlflow.data", "mlflow.types"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # source ambiguity, integer-column hints
        dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets=targets,
                                          digest=full[:MAX_DATASET_DIGEST])
    mlflow.log_input(dataset, context="training", tags={"sha256": full})
    return full


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


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


# --------------------------------------------------------------------------- models


def untrusted_types(model: Any) -> list[str]:
    """Types skops would refuse to load for ``model`` without an explicit trust list."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def _output_example(prediction: Any) -> Any:
    """A version of ``prediction`` MLflow can infer a schema from, or None (no output schema)."""
    if isinstance(prediction, (pd.DataFrame, pd.Series)):
        return prediction
    if isinstance(prediction, (list, tuple)):
        try:
            prediction = np.asarray(prediction)
        except ValueError:  # ragged
            return None
    if isinstance(prediction, np.ndarray):
        if prediction.dtype.names:  # structured array (e.g. survival "event"/"time")
            return pd.DataFrame({n: prediction[n] for n in prediction.dtype.names})
        if prediction.dtype.kind in "biufUS" and prediction.ndim in (1, 2):
            return prediction
        return None
    if isinstance(prediction, (int, float, np.number)):
        return np.asarray([prediction])
    return None


def model_signature(model: Any, input_example: pd.DataFrame) -> Any:
    """Signature from the input example and ``model.predict`` on it. Every input column is
    marked optional (the estimators impute NaN); an output MLflow cannot describe (ragged,
    object, tuple) leaves the output schema empty instead of failing."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    output = _output_example(model.predict(input_example))
    with _quiet_loggers("mlflow.models.signature"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # integer-column hints
        try:
            signature = infer_signature(input_example, output)
        except Exception:  # noqa: BLE001 - an odd output must not block saving the model
            signature = infer_signature(input_example)
    inputs = signature.inputs
    if inputs is not None and all(isinstance(c, ColSpec) for c in inputs.inputs):
        inputs = Schema([ColSpec(type=c.type, name=c.name, required=False)
                         for c in inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=signature.outputs, params=signature.params)


def log_model(model: Any, name: str, input_example: pd.DataFrame,
              trusted_types: Sequence[str] = ()) -> str:
    """Log a fitted scikit-learn-style estimator in the active run with skops serialization,
    a signature and the input example; returns the model URI (``models:/m-...``).

    ``trusted_types``: the non-default types the model contains (e.g. a module's
    ``SKOPS_TRUSTED_TYPES``). A type missing from it raises ValueError naming it; nothing is
    logged then.
    """
    import mlflow.sklearn

    trusted = sorted(set(trusted_types))
    missing = [t for t in untrusted_types(model) if t not in trusted]
    if missing:
        raise ValueError(f"model {type(model).__name__} contains types not in trusted_types: "
                         f"{missing}; review them and add them to the trusted list")
    signature = model_signature(model, input_example)
    info = mlflow.sklearn.log_model(
        model, name=name, serialization_format="skops", skops_trusted_types=trusted,
        signature=signature, input_example=input_example,
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True))
    _record_digest(info.model_id, info.flavors["sklearn"]["pickled_model"])
    return info.model_uri


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_digest(model_id: str, file_name: str) -> str:
    """Read the stored model file back from the artifact store and tag the logged model with
    its sha256 (what was actually stored is what ``load_model`` will compare against)."""
    client = MlflowClient(tracking_uri=mlflow.get_tracking_uri())  # where log_model wrote
    location = client.get_logged_model(model_id).artifact_location.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mgscreen-digest-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/{file_name}",
                                                    dst_path=tmp)
        digest = _sha256(Path(local))
    client.set_logged_model_tags(model_id, {TAG_MODEL_SHA256: digest, TAG_MODEL_FILE: file_name})
    return digest


class ModelIntegrityError(ValueError):
    """A stored model file does not match the sha256 recorded when it was logged."""


def _check_digest(client: MlflowClient, model_uri: str, model_id: str | None,
                  path: Path) -> None:
    found = _sha256(path)
    expected = None
    if model_id:
        with contextlib.suppress(MlflowException):
            expected = client.get_logged_model(model_id).tags.get(TAG_MODEL_SHA256)
    if not expected:
        raise ModelIntegrityError(
            f"{model_uri}: no sha256 was recorded for its model file {path.name} (found "
            f"{found}); it was not logged by mgscreen (or by a version that did not record "
            "digests), so it cannot be verified: refusing to load it. Retrain it with "
            "`mgscreen train`.")
    if found != expected:
        raise ModelIntegrityError(
            f"{model_uri}: model file {path.name} is corrupted or was replaced: expected "
            f"sha256 {expected} (recorded when it was logged), found {found}; refusing to load "
            "it. Retrain it with `mgscreen train`, or restore the artifact from a backup.")


def load_model(model_uri: str, tracking_uri: str | None = None,
               trusted_types: Sequence[str] | None = None) -> Any:
    """Load an sklearn-flavor model saved with skops (any other serialization is refused).

    ``trusted_types=None`` trusts the list recorded in the model's own MLmodel file (fine for a
    store you write yourself); pass the list from the code (e.g. the estimator modules'
    ``SKOPS_TRUSTED_TYPES``) to refuse anything else regardless of what the artifact claims.
    The file's sha256 must match the one ``log_model`` recorded (``ModelIntegrityError``).
    """
    import skops.io
    from mlflow.models import Model

    _, client = _use(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="mgscreen-model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        mlmodel = Model.load(str(local / "MLmodel"))
        flavors = mlmodel.flavors
        conf = flavors.get("sklearn")
        if conf is None:
            raise ValueError(f"{model_uri} has no sklearn flavor ({sorted(flavors)})")
        if conf.get("serialization_format") != "skops":
            raise ValueError(f"{model_uri} is serialized as "
                             f"{conf.get('serialization_format', 'pickle')!r}, not skops: "
                             "refusing to load it")
        trusted = list(conf.get("skops_trusted_types") or []) if trusted_types is None \
            else list(trusted_types)
        path = local / conf["pickled_model"]
        _check_digest(client, model_uri, getattr(mlmodel, "model_id", None), path)
        return skops.io.load(path, trusted=trusted)


# --------------------------------------------------------------------------- registry


def _champion_version(client: MlflowClient, name: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as exc:
        # MLflow 3.17 + SQL store: no model → RESOURCE_DOES_NOT_EXIST, model without the
        # alias → INVALID_PARAMETER_VALUE "Registered model alias champion not found."
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)):
            return None
        raise


def _stored_metric(version: Any, metric_name: str,
                   higher_is_better: bool) -> tuple[float | None, str]:
    tags = version.tags or {}
    if tags.get(TAG_METRIC_NAME) != metric_name:
        return None, f"champion v{version.version} was ranked by {tags.get(TAG_METRIC_NAME)!r}"
    if tags.get(TAG_HIGHER_IS_BETTER) != str(higher_is_better).lower():
        return None, f"champion v{version.version} used the opposite metric direction"
    try:
        value = float(tags[metric_name])
    except (KeyError, ValueError):
        return None, f"champion v{version.version} has no stored {metric_name}"
    return (value, "") if math.isfinite(value) else (None, "champion metric is not finite")


def register_if_better(model_uri: str, registered_name: str, metric_name: str, value: float,
                       higher_is_better: bool, tracking_uri: str | None = None) -> bool:
    """Register ``model_uri`` as a new version of ``registered_name`` (tagged with
    ``metric_name`` = ``value``) and give it the alias ``champion`` if there is no champion
    yet, or ``value`` is strictly better than the champion's stored value, or the champion was
    ranked by another metric/direction (not comparable). A non-finite ``value`` never takes
    the alias. Returns whether the new version became champion.

    Called inside ``start_run``: if the run then fails, the registration is rolled back (see
    ``start_run``), so register as the last step of a training run anyway.

    Not atomic: two trainings registering at the same instant may both read the old champion.
    """
    _, client = _use(tracking_uri)
    value = float(value)
    key = _key(metric_name)
    tags = {key: repr(value), TAG_METRIC_NAME: key,
            TAG_HIGHER_IS_BETTER: str(bool(higher_is_better)).lower()}
    champion = _champion_version(client, registered_name)
    if champion is not None:
        tags[TAG_PREVIOUS_CHAMPION] = str(champion.version)
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered"
        version = mlflow.register_model(model_uri, registered_name, tags=tags)
    if not math.isfinite(value):
        take, reason = False, f"{key} is not finite"
    elif champion is None:
        take, reason = True, "first champion"
    else:
        old, why = _stored_metric(champion, key, bool(higher_is_better))
        if old is None:
            take, reason = True, f"not comparable ({why})"
        else:
            take = value > old if higher_is_better else value < old
            reason = (f"{key} {value:.6g} {'beats' if take else 'does not beat'} "
                      f"v{champion.version} ({old:.6g})")
    client.set_model_version_tag(registered_name, version.version, TAG_CHAMPION_REASON, reason)
    if take:
        client.set_registered_model_alias(registered_name, CHAMPION_ALIAS, version.version)
    log.info("%s v%s: %s", registered_name, version.version, reason)
    return take


def champion_uri(registered_name: str) -> str:
    return f"models:/{registered_name}@{CHAMPION_ALIAS}"


def champion_info(registered_name: str, tracking_uri: str | None = None) -> dict[str, Any] | None:
    """The champion version of ``registered_name`` as a dict, or None if there is none."""
    _, client = _use(tracking_uri)
    try:
        version = _champion_version(client, registered_name)
    except MlflowException:
        return None
    if version is None:
        return None
    tags = dict(version.tags or {})
    metric = tags.get(TAG_METRIC_NAME)
    try:
        metric_value = float(tags[metric]) if metric else None
    except (KeyError, ValueError):
        metric_value = None
    return {"name": registered_name, "version": str(version.version),
            "model_uri": champion_uri(registered_name), "source": version.source,
            "run_id": version.run_id, "metric_name": metric, "metric_value": metric_value,
            "higher_is_better": tags.get(TAG_HIGHER_IS_BETTER) == "true", "tags": tags}


def load_champion(registered_name: str, tracking_uri: str | None = None,
                  trusted_types: Sequence[str] | None = None) -> Any:
    """Load ``models:/<name>@champion`` (see ``load_model`` for ``trusted_types``)."""
    return load_model(champion_uri(registered_name), tracking_uri=tracking_uri,
                      trusted_types=trusted_types)

