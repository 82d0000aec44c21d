"""Predict every target for new systems with saved models (the model registry's ``champion``
by default, or any subset of targets given as URIs).

Each target's registry entry says which prediction columns it writes and which conditions the
prediction frame fixes for it (overpotentials are asked for kind ``polarization``, the
symmetric-cell overpotential). ``domain_distance`` is the largest of the per-target distances and
``in_domain`` is true only
when the system is inside every target's applicability domain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.learn.registry import target_names, targets
from screen.learn.tracking.store import Store

FEATURE_DTYPE = np.float32


def resolved_model_uris(model_uris: dict[str, str] | None = None,
                        only: tuple[str, ...] | None = None,
                        model_set: str | None = None) -> dict[str, str]:
    """target -> the model URI used: the given one, else the registry champion's (of the
    default models, or of a lab's ``model_set`` trained with ``train --name``) for the
    targets in ``only`` (default every registered target)."""
    from screen.learn import tracking

    return {t: (model_uris or {}).get(t)
            or tracking.champion_uri(tracking.registered_model_name(t, model_set))
            for t in (only or target_names())}


def load_models(store: Store | str | None = None,
                model_uris: dict[str, str] | None = None,
                only: tuple[str, ...] | None = None, model_set: str | None = None) -> dict:
    """Fitted :class:`~screen.learn.models.bundle.ScreeningModel` per target: the given URIs,
    else the model-registry champions (of ``model_set``, see :func:`resolved_model_uris`),
    for the targets in ``only`` (default: every registered target). A target with no
    champion and no URI raises ``LookupError``."""
    from screen.learn import tracking
    from screen.learn.models.bundle import trusted_types

    models = {}
    train = "`mgscreen train --all" + (f" --name {model_set}`" if model_set else "`")
    for target, uri in resolved_model_uris(model_uris, only, model_set).items():
        try:
            models[target] = tracking.load_model(uri, store, trusted_types(target))
        except Exception as exc:  # MLflow raises several types for a missing model/alias
            raise LookupError(f"no {target} model at {uri}: {exc}. Train one first with "
                              f"{train}, or pass --model-uri {target}=URI") from None
    return models


def prediction_conditions() -> dict[str, float]:
    """Feature columns every target's prediction fixes (column → value), in target order."""
    out: dict[str, float] = {}
    for target in targets().values():
        out.update(target.prediction_conditions)
    return out


def feature_frame(frame: pd.DataFrame, featurizer) -> pd.DataFrame:
    """Features of a typed system table as one float32 block (column-major, as pandas stores
    it), with the targets' :func:`prediction_conditions` appended.

    One contiguous block means every model reads the same memory without the per-call
    DataFrame-to-array copies that dominate prediction time on large tables.
    """
    matrix = featurizer.transform(frame)
    names = list(featurizer.get_feature_names_out())
    fixed = prediction_conditions()
    block = np.empty((len(frame), len(names) + len(fixed)), dtype=FEATURE_DTYPE, order="F")
    block[:, :len(names)] = matrix
    for i, value in enumerate(fixed.values()):
        block[:, len(names) + i] = value
    return pd.DataFrame(block, index=frame.index, columns=[*names, *fixed], copy=False)


def predict_features(X: pd.DataFrame, models: dict) -> pd.DataFrame:
    """Prediction columns of every target in ``models`` for a feature frame (same index);
    see the module docstring for ``domain_distance`` / ``in_domain``."""
    import sklearn

    out = pd.DataFrame(index=X.index)
    distances, inside = [], []
    with sklearn.config_context(assume_finite=True):  # features are checked when built
        for target in [t for t in target_names() if t in models]:
            table = models[target].predict_table(X)
            distances.append(table.pop("domain_distance").to_numpy(float))
            inside.append(table.pop("in_domain").to_numpy(bool))
            out = out.join(table)
    if distances:
        out["domain_distance"] = np.max(distances, axis=0)
        out["in_domain"] = np.all(inside, axis=0)
    return out


def predict_systems(frame: pd.DataFrame, models: dict,
                    library: ComponentLibrary | None = None, featurizer=None) -> pd.DataFrame:
    """Prediction columns for every row of a typed system table (same index).

    ``featurizer``: a fitted :class:`~featurizers.system.SystemFeaturizer` to reuse across
    calls (one is built from ``library`` otherwise).
    """
    from featurizers.system import SystemFeaturizer

    if featurizer is None:
        featurizer = SystemFeaturizer(library=library).fit()
    return predict_features(feature_frame(frame, featurizer), models)
