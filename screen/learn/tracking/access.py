"""Loading models for commands that only read the tracking store (``predict``, ``rank``,
``design``, ``quickstart``'s ranking): clear errors, and nothing created.

:func:`check_readable` looks at the store before MLflow touches it: a SQLite store that does
not exist is reported, not created (MLflow would create an empty ``mlflow.db``), and a file
that is not an MLflow database is reported as damaged instead of being "migrated".
:func:`load_target_model` reads the model's metadata before loading it (the target recorded
when it was logged, or the ``mgscreen.target`` tag of the run that logged it), so a model of
another target is refused by name, and turns every failure into a :class:`ModelStoreError`
that says which store, which model, what is wrong and what to do.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from mlflow.exceptions import MlflowException

from screen.learn.tracking.store import (
    CHAMPION_ALIAS,
    EXPERIMENT_PREFIX,
    TAG_MODEL_TARGET,
    Store,
    is_unreachable,
    unreachable_reason,
)

#: The MLflow tables a tracking store has (checked read-only before MLflow opens it).
MLFLOW_TABLES = ("experiments", "runs", "registered_models")
TRAIN_HINT = "`mgscreen train --all`"
WHERE_FIX = "point --tracking-uri (or MLFLOW_TRACKING_URI) at the store that holds your models"


class ModelStoreError(LookupError):
    """A model could not be loaded: ``store`` (URI), ``problem`` (``missing``, ``damaged``,
    ``unreachable``, ``no champion``, ``not found``, ``wrong target``, ``unreadable``), the
    detail and what to do, in one message."""

    def __init__(self, store: str, problem: str, detail: str, fix: str,
                 target: str | None = None, model_uri: str | None = None):
        self.store, self.problem, self.detail, self.fix = store, problem, detail, fix
        self.target, self.model_uri = target, model_uri
        what = f"{target} model {model_uri}" if target and model_uri else "models"
        super().__init__(f"cannot load the {what} from the MLflow store {store}: {problem}: "
                         f"{detail}. {fix}")


def check_readable(store: Store) -> None:
    """Raise :class:`ModelStoreError` if the store cannot be read as it is; never creates or
    changes anything (a SQLite file is opened read-only)."""
    path = store.sqlite_path
    if path is None:
        return  # a server or database: its errors are reported when it is asked
    where = WHERE_FIX
    if not path.exists():
        raise ModelStoreError(
            store.uri, "missing", f"there is no store file {path}",
            f"Train the models first ({TRAIN_HINT} creates the store there), or {where}")
    if not path.is_file():
        raise ModelStoreError(store.uri, "missing", f"{path} is not a file", where.capitalize())
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ModelStoreError(
            store.uri, "damaged", f"{path} cannot be read as a SQLite database ({exc})",
            f"Restore it from a backup, or move it aside and retrain ({TRAIN_HINT}); or "
            f"{where}") from None
    missing = [t for t in MLFLOW_TABLES if t not in tables]
    if missing:
        raise ModelStoreError(
            store.uri, "damaged", f"{path} is not an MLflow tracking store (no "
            f"{', '.join(missing)} table)", f"Check the path, or {where}")


def load_target_model(target: str, uri: str, store: Store,
                      trusted_types: Sequence[str], champion: bool = False) -> Any:
    """The model of ``target`` at ``uri`` (``champion``: the URI is the target's registry
    champion, not one the user gave); see the module docstring."""
    from screen.learn.tracking.artifacts import ModelIntegrityError, load_model

    try:
        found = model_target(uri, store)
        if found is not None and found != target:
            raise ModelStoreError(
                store.uri, "wrong target", f"{uri} is {_an(found)} model, not {_an(target)} model",
                f"Give {_an(target)} model (--model-uri {target}=URI), or use this one as "
                f"--model-uri {found}={uri}", target, uri)
        model = load_model(uri, store, trusted_types)
    except ModelStoreError:
        raise
    except ModelIntegrityError as exc:
        raise ModelStoreError(store.uri, "damaged model file", str(exc),
                              "The model cannot be trusted", target, uri) from None
    except Exception as exc:  # MLflow, SQLAlchemy, skops and OS errors of every kind
        raise _explain(exc, target, uri, store, champion) from None
    found = getattr(model, "target", None)
    if found != target:
        raise ModelStoreError(
            store.uri, "wrong target", f"{uri} holds {_an(found or type(model).__name__)} "
            f"model, not {_an(target)} model", f"Give {_an(target)} model (--model-uri "
            f"{target}=URI)", target, uri)
    return model


def model_target(uri: str, store: Store) -> str | None:
    """The target a model was trained for, from its metadata (None when the URI does not
    say, e.g. a local path). MLflow errors propagate (missing run, model or alias)."""
    client = store.client
    run_id, model_id = None, None
    if match := re.fullmatch(r"models:/([^/@]+)@([^/]+)", uri):
        version = client.get_model_version_by_alias(match.group(1), match.group(2))
        run_id, model_id = version.run_id, _model_id(version)
    elif match := re.fullmatch(r"models:/(m-[0-9a-f]+)", uri):
        model_id = match.group(1)
    elif match := re.fullmatch(r"models:/([^/@]+)/(\d+)", uri):
        version = client.get_model_version(match.group(1), match.group(2))
        run_id, model_id = version.run_id, _model_id(version)
    elif match := re.fullmatch(r"runs:/([^/]+)/.+", uri):
        run_id = match.group(1)
    if model_id:
        logged = client.get_logged_model(model_id)
        if logged.tags.get(TAG_MODEL_TARGET):
            return logged.tags[TAG_MODEL_TARGET]
        run_id = run_id or logged.source_run_id
    if run_id:
        return client.get_run(run_id).data.tags.get(TAG_MODEL_TARGET)
    return None


def _an(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _model_id(version: Any) -> str | None:
    source = str(getattr(version, "source", "") or "")
    found = re.match(r"models:/(m-[0-9a-f]+)", source)
    return getattr(version, "model_id", None) or (found.group(1) if found else None)


def _explain(exc: BaseException, target: str, uri: str, store: Store,
             champion: bool) -> ModelStoreError:
    """The :class:`ModelStoreError` for a failure of MLflow or of the store behind it."""
    text = _first_line(exc)
    if is_unreachable(exc):
        return ModelStoreError(store.uri, "unreachable", f"the tracking server did not answer "
                               f"({unreachable_reason(exc)})", "Start the server, or check "
                               "--tracking-uri / MLFLOW_TRACKING_URI", target, uri)
    if _damaged(exc):
        return ModelStoreError(store.uri, "damaged", f"the store's database cannot be read "
                               f"({text})", f"Restore it from a backup, or move it aside and "
                               f"retrain ({TRAIN_HINT})", target, uri)
    code = getattr(exc, "error_code", "")
    missing = code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in text)
    if champion and (missing or isinstance(exc, MlflowException) and "alias" in text):
        name = uri[len("models:/"):].split("@", 1)[0]
        model_set = name[:-len(target) - 1] if name.endswith(f"-{target}") else ""
        if model_set and f"{model_set}-" != EXPERIMENT_PREFIX:  # a lab's set (train --name)
            how = (f"`mgscreen train --all --data <your cells.csv> --name {model_set}`, or "
                   f"`mgscreen train --config experiments/{target}.toml --data <your "
                   f"cells.csv> --name {model_set}`")
        else:
            how = f"{TRAIN_HINT}, or `mgscreen train --config experiments/{target}.toml`"
        return ModelStoreError(
            store.uri, "no champion", f"no version of {name} holds the alias "
            f"{CHAMPION_ALIAS!r} ({text})", f"Train it ({how}), or pass --model-uri "
            f"{target}=URI", target, uri)
    if missing:
        return ModelStoreError(store.uri, "not found", text, "Check the run id or model name "
                               "(`mgscreen ui` lists them), or leave out --model-uri to use "
                               "the champion", target, uri)
    return ModelStoreError(store.uri, "unreadable", f"{type(exc).__name__}: {text}",
                           f"Check the store and the model URI, or retrain ({TRAIN_HINT})",
                           target, uri)


def _damaged(exc: BaseException) -> bool:
    from screen.learn.tracking.store import _chain

    words = ("file is not a database", "database disk image is malformed",
             "out-of-date database schema", "no such table")
    return any(isinstance(e, sqlite3.DatabaseError) or any(w in str(e) for w in words)
               for e in _chain(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
