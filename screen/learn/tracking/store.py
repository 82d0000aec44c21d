"""The tracking store: which MLflow store mgscreen talks to, resolved once into a :class:`Store`.

``resolve_tracking_uri``: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` >
``sqlite:///<absolute cwd>/mlflow.db``. For a SQLite store the artifacts of the experiments
mgscreen creates live beside the database, in ``<db dir>/mlartifacts/<experiment>`` (MLflow's own
default would be ``./mlruns`` relative to whatever the current directory is). Other stores
(PostgreSQL, a tracking server) keep their own artifact configuration. A PostgreSQL URL without
a driver gets the installed one (:mod:`screen.learn.dburl`). For a tracking server, an unset
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``..._BACKOFF_FACTOR`` default to 3 / 1 (MLflow's 7 / 2 wait
~4 min before reporting a server that is down). ``is_unreachable`` tells such errors apart;
``TrackingUnreachable`` reports them.

The command line makes one :class:`Store` from its ``--tracking-uri`` and passes it down to
training, tuning and prediction; every function of :mod:`screen.learn.tracking` takes it (or,
for convenience from Python, a URI string or None, turned into a store by :meth:`Store.of`).
MLflow's fluent API (runs, logging) reads a process-wide tracking URI: a store sets it once,
when it is first used, not per call.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from screen.learn.dburl import with_driver

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
#: The target a run trained (run tag) and a logged model predicts (logged-model tag).
TAG_MODEL_TARGET = "mgscreen.target"
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
#: A lab's model-set name (``train --name``): registered models ``<name>-<target>``.
_MODEL_SET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", re.ASCII)
MAX_MODEL_SET = 64




class Store:
    """One MLflow tracking store (a SQLite file, a PostgreSQL database or a tracking server),
    resolved once from a URI (see the module docstring). ``client`` is its ``MlflowClient``."""

    _active: Store | None = None  # the store of the run being logged (set by start_run)
    _lock = threading.Lock()

    def __init__(self, uri: str | None = None):
        self.uri = with_driver(resolve_tracking_uri(uri))
        self._client: MlflowClient | None = None
        self._ready = False

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    @classmethod
    def of(cls, store: Store | str | None) -> Store:
        """``store`` itself, or a store for a URI; None is the store of the active run (inside
        ``start_run``), else the default store."""
        if isinstance(store, Store):
            return store
        if store is None and cls._active is not None and mlflow.active_run() is not None:
            return cls._active
        return cls(store)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite store (None for other stores)."""
        return _sqlite_path(self.uri)

    @property
    def client(self) -> MlflowClient:
        """The store's client (MLflow pointed at this store first)."""
        self.activate()
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def activate(self) -> Store:
        """Make this the store of MLflow's fluent API (once; a SQLite file's folder is made,
        a server gets the short retry defaults)."""
        with self._lock:
            if not self._ready:
                path = self.sqlite_path
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                if self.uri.startswith(("http://", "https://")):
                    for name, value in HTTP_DEFAULTS.items():
                        os.environ.setdefault(name, value)
                self._ready = True
            if mlflow.get_tracking_uri() != self.uri:
                mlflow.set_tracking_uri(self.uri)
        return self


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


def _use(store: Store | str | None) -> tuple[str, MlflowClient]:
    """(URI, client) of a store (see :meth:`Store.of`)."""
    chosen = Store.of(store)
    return chosen.uri, chosen.client


def experiment_name(target: str) -> str:
    """The experiment of a target, e.g. ``mgscreen-overpotential``."""
    return f"{EXPERIMENT_PREFIX}{target}"


def registered_model_name(target: str, model_set: str | None = None) -> str:
    """The registered-model name of a target, e.g. ``mgscreen-overpotential``; with a lab's
    ``model_set`` name (``train --name mylab``), ``mylab-overpotential``."""
    if model_set is None:
        return f"{EXPERIMENT_PREFIX}{target}"
    return f"{check_model_set(model_set)}-{target}"


def check_model_set(name: str) -> str:
    """``name`` if it can name a lab's model set, else ValueError saying what is accepted:
    letters, digits, ``_ . -``, starting with a letter or digit, at most
    :data:`MAX_MODEL_SET` characters, and never the default set's name (``mgscreen``)."""
    if not _MODEL_SET.fullmatch(name or "") or len(name) > MAX_MODEL_SET:
        raise ValueError(f"model-set name {name!r}: use letters, digits, '_', '.' or '-', "
                         f"starting with a letter or digit, at most {MAX_MODEL_SET} characters "
                         "(e.g. mylab)")
    if f"{name.lower()}-" == EXPERIMENT_PREFIX.lower():
        raise ValueError(f"model-set name {name!r} is the default models' name; choose "
                         "another (e.g. mylab)")
    return name


#: Experiment tags every mgscreen experiment gets: MLflow 3 opens an experiment on the view its
#: kind names (without it, on an empty GenAI "Traces" page).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def _get_or_create_experiment(client: MlflowClient, uri: str, name: str,
                              tags: dict[str, str] | None = None) -> str:
    """The id of the experiment ``name`` (created if needed) carrying ``tags`` (plus
    :data:`EXPERIMENT_KIND`); tags that differ are updated."""
    wanted = {**EXPERIMENT_KIND, **(tags or {})}
    exp = client.get_experiment_by_name(name)
    if exp is None:
        root = artifact_root(uri)
        location = None if root is None else (root / name).as_uri()
        try:
            return client.create_experiment(name, artifact_location=location, tags=wanted)
        except MlflowException:  # created concurrently by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage != "active":
        raise RuntimeError(
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted in {uri}; restore "
            f"it in the MLflow UI or purge it with `mlflow gc --backend-store-uri {uri} "
            f"--experiment-ids {exp.experiment_id}`")
    for key, value in wanted.items():
        if (exp.tags or {}).get(key) != value:
            client.set_experiment_tag(exp.experiment_id, key, value)
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


