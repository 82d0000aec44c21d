"""The model registry: a version takes the alias ``champion`` only if it beats the current one.

``register_if_better`` registers a version and moves the alias ``champion`` to it only if it
beats the current champion on a metric stored as a model-version tag; a failed run's
registrations are rolled back (``_rollback_registrations``, called by ``start_run``)."""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Sequence
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from screen.learn.tracking.artifacts import load_model
from screen.learn.tracking.store import (
    CHAMPION_ALIAS,
    TAG_CHAMPION_REASON,
    TAG_HIGHER_IS_BETTER,
    TAG_METRIC_NAME,
    TAG_PREVIOUS_CHAMPION,
    Store,
    _key,
    _use,
)

log = logging.getLogger(__name__)



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
                       higher_is_better: bool, store: Store | str | None = None) -> bool:
    """Register ``model_uri`` as a new version of ``registered_name`` (tagged with
    ``metric_name`` = ``value``) and give it the alias ``champion`` if there is no champion
    yet, or ``value`` is strictly better than the champion's stored value, or the champion was
    ranked by another metric/direction (not comparable). A non-finite ``value`` never takes
    the alias. Returns whether the new version became champion.

    Called inside ``start_run``: if the run then fails, the registration is rolled back (see
    ``start_run``), so register as the last step of a training run anyway.

    Not atomic: two trainings registering at the same instant may both read the old champion.
    """
    _, client = _use(store)
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


def champion_info(registered_name: str, store: Store | str | None = None) -> dict[str, Any] | None:
    """The champion version of ``registered_name`` as a dict, or None if there is none."""
    _, client = _use(store)
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


def load_champion(registered_name: str, store: Store | str | None = None,
                  trusted_types: Sequence[str] | None = None) -> Any:
    """Load ``models:/<name>@champion`` (see ``load_model`` for ``trusted_types``)."""
    return load_model(champion_uri(registered_name), store=store,
                      trusted_types=trusted_types)



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


