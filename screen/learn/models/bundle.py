"""What is saved for one target: the fitted estimator, its applicability domain, the feature
names it expects and the target's prediction settings.

``predict(X)`` gives the target's main prediction and ``predict_table(X)`` every output column
(both defined by the target's registry entry, :mod:`screen.learn.registry`), plus
``domain_distance`` and ``in_domain`` (:mod:`screen.learn.domain`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from screen.learn.domain import DomainScorer

#: Types of the bundle itself that skops must trust (the estimator's come from its target).
BUNDLE_TRUSTED = ("screen.learn.models.bundle.ScreeningModel", "screen.learn.domain.DomainScorer",
                  "screen.learn.models.common.MedianImputer")


def trusted_types(target: str) -> list[str]:
    """Types skops must trust to load a target's saved model."""
    from screen.learn.registry import get_target

    return sorted(set(BUNDLE_TRUSTED) | set(get_target(target).skops_trusted_types))


class ScreeningModel(BaseEstimator):
    """One target's deployable model (see the module docstring).

    ``settings``: what the target needs at prediction time (e.g. ``{"unit": "h",
    "horizon": 500.0}`` for cycle life), from :meth:`Target.model_settings`.
    """

    def __init__(self, target: str = "overpotential", estimator=None,
                 domain: DomainScorer | None = None, settings: dict | None = None):
        self.target = target
        self.estimator = estimator
        self.domain = domain
        self.settings = settings

    @property
    def spec(self):
        """The target's registry entry."""
        from screen.learn.registry import get_target

        return get_target(self.target)

    def fit(self, X: pd.DataFrame, y):
        """Fit the estimator and the applicability domain on the training features."""
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.domain_ = clone(self.domain if self.domain is not None else DomainScorer()).fit(X)
        return self

    def _frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "estimator_")
        if list(X.columns) == list(self.feature_names_in_):
            return X
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"{len(missing)} feature column(s) missing, e.g. {missing[:3]}")
        return X[list(self.feature_names_in_)]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Main prediction per row (see the target's registry entry)."""
        return self.spec.main_prediction(self.estimator_, self._frame(X), self.settings or {})

    def predict_table(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every output column of this target, one row per input row."""
        X = self._frame(X)
        out = self.spec.predict_table(self.estimator_, X, self.settings or {})
        blocks = self.domain_.assess_blocks(X)
        distance = blocks.max(axis=1).to_numpy(float) if blocks.shape[1] else np.zeros(len(X))
        out = out.join(blocks)
        out["domain_distance"], out["in_domain"] = distance, distance <= 1.0 + 1e-9
        return out
