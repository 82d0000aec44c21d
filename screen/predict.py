"""Predict the three targets for new systems with saved models (the registry's ``champion``
by default).

Overpotentials are predicted for kind ``polarization`` (the symmetric-cell overpotential).
``domain_distance`` is the largest of the per-target distances and ``in_domain`` is true only
when the system is inside every target's applicability domain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from screen.components import ComponentLibrary
from screen.config import TARGETS
from screen.modeling_data import with_kind

PREDICTION_KIND = "polarization"


def load_models(tracking_uri: str | None = None,
                model_uris: dict[str, str] | None = None) -> dict:
    """Fitted :class:`~screen.models.bundle.ScreeningModel` per target: the given URIs, else the
    registry champions. A target with no champion and no URI raises ``LookupError``."""
    from screen import tracking
    from screen.train import trusted_types

    models = {}
    for target in TARGETS:
        champion = tracking.champion_uri(tracking.registered_model_name(target))
        uri = (model_uris or {}).get(target) or champion
        try:
            models[target] = tracking.load_model(uri, tracking_uri, trusted_types(target))
        except Exception as exc:  # MLflow raises several types for a missing model/alias
            raise LookupError(f"no {target} model at {uri}: {exc}. Train one first with "
                              f"`mgscreen train --all`, or pass --model-uri "
                              f"{target}=URI") from None
    return models


def predict_systems(frame: pd.DataFrame, models: dict,
                    library: ComponentLibrary | None = None) -> pd.DataFrame:
    """Prediction columns for every row of a typed system table (same index)."""
    from featurizers.system import SystemFeaturizer

    featurizer = SystemFeaturizer(library=library).fit()
    matrix = featurizer.transform(frame)
    X_all = pd.DataFrame(matrix.astype(np.float64), index=frame.index,
                         columns=list(featurizer.get_feature_names_out()))
    X_all = with_kind(X_all, PREDICTION_KIND)
    out = pd.DataFrame(index=frame.index)
    distances, inside = [], []
    for target in TARGETS:
        if target not in models:
            continue
        table = models[target].predict_table(X_all)
        distances.append(table.pop("domain_distance").to_numpy(float))
        inside.append(table.pop("in_domain").to_numpy(bool))
        out = out.join(table)
    if distances:
        out["domain_distance"] = np.max(distances, axis=0)
        out["in_domain"] = np.all(inside, axis=0)
    return out
