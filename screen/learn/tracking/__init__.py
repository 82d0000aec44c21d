"""The thin layer between mgscreen and MLflow (the only package that imports MLflow), split by
concern: :mod:`~screen.learn.tracking.store` (which store, reachability),
:mod:`~screen.learn.tracking.runs` (runs, parameters, metrics, tags, orphans),
:mod:`~screen.learn.tracking.artifacts` (figures, tables, data-set inputs, models) and
:mod:`~screen.learn.tracking.registry` (versions and the ``champion`` alias).

Every function takes and returns plain Python values (run ids, URIs, dicts, bools) and a
:class:`Store`; the names are re-exported here (``from screen.learn import tracking``).
"""

from screen.learn.tracking.access import ModelStoreError, check_readable, load_target_model
from screen.learn.tracking.artifacts import (
    ModelIntegrityError,
    dataset_digest,
    load_model,
    log_dataset,
    log_figure,
    log_model,
    log_table,
    log_text,
    model_signature,
    untrusted_types,
)
from screen.learn.tracking.registry import (
    champion_info,
    champion_uri,
    load_champion,
    register_if_better,
)
from screen.learn.tracking.runs import (
    active_run_id,
    fail_orphaned_runs,
    flatten_params,
    fold_aggregates,
    git_commit,
    log_fold_metrics,
    log_metrics,
    log_params_flat,
    run_info,
    set_tags,
    start_run,
)
from screen.learn.tracking.store import (
    CHAMPION_ALIAS,
    EXPERIMENT_PREFIX,
    TAG_CHAMPION_REASON,
    TAG_HIGHER_IS_BETTER,
    TAG_HOST,
    TAG_METRIC_NAME,
    TAG_MODEL_FILE,
    TAG_MODEL_SHA256,
    TAG_MODEL_TARGET,
    TAG_ORPHANED,
    TAG_PID,
    TAG_PREVIOUS_CHAMPION,
    Store,
    TrackingUnreachable,
    artifact_root,
    check_model_set,
    experiment_name,
    is_unreachable,
    registered_model_name,
    resolve_tracking_uri,
    unreachable_reason,
)

__all__ = [
    "CHAMPION_ALIAS", "EXPERIMENT_PREFIX", "TAG_CHAMPION_REASON", "TAG_HIGHER_IS_BETTER",
    "TAG_HOST", "TAG_METRIC_NAME", "TAG_MODEL_FILE", "TAG_MODEL_SHA256", "TAG_MODEL_TARGET",
    "TAG_ORPHANED", "TAG_PID", "TAG_PREVIOUS_CHAMPION", "ModelIntegrityError", "ModelStoreError",
    "Store", "TrackingUnreachable", "active_run_id", "artifact_root", "champion_info",
    "champion_uri", "check_model_set", "check_readable", "dataset_digest", "load_target_model",
    "experiment_name", "fail_orphaned_runs", "flatten_params", "fold_aggregates", "git_commit",
    "is_unreachable", "load_champion", "load_model", "log_dataset", "log_fold_metrics",
    "log_figure", "log_metrics", "log_model", "log_params_flat", "log_table", "log_text",
    "model_signature", "register_if_better", "registered_model_name", "resolve_tracking_uri",
    "run_info", "set_tags", "start_run", "unreachable_reason", "untrusted_types",
]
