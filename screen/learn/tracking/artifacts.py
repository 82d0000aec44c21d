"""Artifacts of a run: figures, tables, texts, the data set as an input, and models.

``log_model`` saves a scikit-learn estimator with skops (no pickle) and a signature;
``load_model`` loads it back refusing any type that is not trusted. skops 0.16 trusts neither
``sklearn.tree._tree.Tree`` nor ``numpy.dtype`` by default, so a random forest needs
``["numpy.dtype", "sklearn.tree._tree.Tree"]``; ``untrusted_types`` lists what a given model
needs. ``log_model`` records the sha256 of the stored skops file as the logged-model tag
``mgscreen.sha256`` (and the model's ``target``, if it has one, as ``mgscreen.target``);
``load_model`` checks the digest before unpacking and refuses a file whose digest differs or was
never recorded (``ModelIntegrityError``). Downloads show no progress bar (MLflow's "Downloading
artifacts" bars say nothing useful for a model of a few MB)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from screen.learn.tracking.store import (
    MAX_DATASET_DIGEST,
    TAG_MODEL_FILE,
    TAG_MODEL_SHA256,
    TAG_MODEL_TARGET,
    Store,
    _use,
)


def download_artifacts(**kwargs: Any) -> str:
    """``mlflow.artifacts.download_artifacts`` without its progress bars."""
    import os

    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    name = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    previous = os.environ.get(name)
    os.environ[name] = "false"
    try:
        return mlflow.artifacts.download_artifacts(**kwargs)
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


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
    target = getattr(model, "target", None)
    _record_digest(info.model_id, info.flavors["sklearn"]["pickled_model"],
                   {TAG_MODEL_TARGET: target} if isinstance(target, str) else {})
    return info.model_uri


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_digest(model_id: str, file_name: str, tags: dict[str, str] | None = None) -> str:
    """Read the stored model file back from the artifact store and tag the logged model with
    its sha256 (what was actually stored is what ``load_model`` will compare against) and
    ``tags``."""
    client = MlflowClient(tracking_uri=mlflow.get_tracking_uri())  # where log_model wrote
    location = client.get_logged_model(model_id).artifact_location.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mgscreen-digest-") as tmp:
        local = download_artifacts(artifact_uri=f"{location}/{file_name}", dst_path=tmp)
        digest = _sha256(Path(local))
    client.set_logged_model_tags(model_id, {TAG_MODEL_SHA256: digest, TAG_MODEL_FILE: file_name,
                                            **(tags or {})})
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


def load_model(model_uri: str, store: Store | str | None = None,
               trusted_types: Sequence[str] | None = None) -> Any:
    """Load an sklearn-flavor model saved with skops (any other serialization is refused).

    ``trusted_types=None`` trusts the list recorded in the model's own MLmodel file (fine for a
    store you write yourself); pass the list from the code (e.g. the estimator modules'
    ``SKOPS_TRUSTED_TYPES``) to refuse anything else regardless of what the artifact claims.
    The file's sha256 must match the one ``log_model`` recorded (``ModelIntegrityError``).
    """
    import skops.io
    from mlflow.models import Model

    _, client = _use(store)
    with tempfile.TemporaryDirectory(prefix="mgscreen-model-") as tmp:
        local = Path(download_artifacts(artifact_uri=model_uri, dst_path=tmp))
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


