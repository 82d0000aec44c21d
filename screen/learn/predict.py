"""Predict every target for new systems with saved models (the model registry's ``champion``
by default, or any subset of targets given as URIs).

Each target's registry entry says which prediction columns it writes and which conditions the
prediction frame fixes for it (overpotentials are asked for kind ``polarization``, the
symmetric-cell overpotential).

Applicability domain (:mod:`screen.learn.domain`): ``domain_<block>`` is, per part of the
formulation (anion, solvent, additive, coating, conditions), the largest distance / threshold
over the targets' models; ``unexplored`` names the parts beyond their threshold;
``domain_distance`` is the largest ratio and ``in_domain`` is true only when every part of
the system is inside every target's domain.
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
    else the model-registry champions (of ``model_set``, see :func:`resolved_model_uris`), for
    the targets in ``only`` (default: every registered
    target). Any failure (store missing, damaged or unreachable, no champion, a model of
    another target ...) raises :class:`~screen.learn.tracking.ModelStoreError` (a
    ``LookupError``) naming the store and what to do; a missing store is not created."""
    from screen.learn import tracking
    from screen.learn.models.bundle import trusted_types

    store = Store.of(store)
    tracking.check_readable(store)
    given = model_uris or {}
    return {target: tracking.load_target_model(target, uri, store, trusted_types(target),
                                               champion=target not in given)
            for target, uri in resolved_model_uris(model_uris, only, model_set).items()}


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

    from screen.learn.domain import unexplored

    out = pd.DataFrame(index=X.index)
    domains: list[pd.DataFrame] = []
    with sklearn.config_context(assume_finite=True):  # features are checked when built
        for target in [t for t in target_names() if t in models]:
            table = models[target].predict_table(X)
            block_columns = [c for c in table.columns if c.startswith("domain_")]
            domains.append(table[block_columns])
            out = out.join(table.drop(columns=[*block_columns, "in_domain"]))
    if domains:  # the strictest target decides: a block is new if any model finds it new
        combined = pd.concat(domains, axis=1).T.groupby(level=0).max().T
        blocks = combined.drop(columns="domain_distance")
        out = out.join(blocks)
        out["unexplored"] = unexplored(blocks)
        out["domain_distance"] = combined["domain_distance"].to_numpy(float)
        out["in_domain"] = out["domain_distance"].to_numpy(float) <= 1.0 + 1e-9
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
