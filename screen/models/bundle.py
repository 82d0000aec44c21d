"""What is saved for one target: the fitted estimator, its applicability domain and the
feature names it expects.

``predict(X)`` gives the main prediction (overpotential in V; median cycle life in the config's
unit; probability of passivation). ``predict_table(X)`` gives every output column:

- overpotential: ``overpotential_V_pred``, ``overpotential_V_low``, ``overpotential_V_high``
  (conformal interval at the trained confidence);
- cycle life: ``cycle_life_<unit>_pred`` (median life), ``cycle_life_<unit>_pred_is_lower_bound``
  (the survival curve never drops below 0.5 within the training follow-up),
  ``cycle_life_<unit>_low`` / ``_high`` (lower / upper quartile life), and
  ``p_life_gt_<horizon>`` (probability the cell lasts longer than the horizon);
- passivation: ``p_passivating``;

plus ``domain_distance`` and ``in_domain`` (:mod:`screen.domain`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from screen.domain import DomainScorer


class ScreeningModel(BaseEstimator):
    """One target's deployable model (see the module docstring)."""

    def __init__(self, target: str = "overpotential", estimator=None,
                 domain: DomainScorer | None = None, unit: str = "h",
                 horizon: float = 500.0):
        self.target = target
        self.estimator = estimator
        self.domain = domain
        self.unit = unit
        self.horizon = horizon

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
        """Main prediction per row (see the module docstring)."""
        X = self._frame(X)
        if self.target == "passivation":
            return self.estimator_.predict_proba(X)[:, 1]
        if self.target == "cycle_life":
            return np.asarray(self.estimator_.predict_median(X), dtype=float)
        return np.asarray(self.estimator_.predict(X), dtype=float)

    def predict_table(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every output column of this target, one row per input row."""
        X = self._frame(X)
        out = pd.DataFrame(index=X.index)
        if self.target == "overpotential":
            pred, low, high = self.estimator_.predict_interval(X)
            out["overpotential_V_pred"], out["overpotential_V_low"] = pred, low
            out["overpotential_V_high"] = high
        elif self.target == "cycle_life":
            column = f"cycle_life_{self.unit}_pred"
            life = self.estimator_.life_table(X, self.horizon)
            out[column] = life["median"]
            out[f"{column}_is_lower_bound"] = life["median_is_lower_bound"]
            out[f"cycle_life_{self.unit}_low"] = life["q25"]
            out[f"cycle_life_{self.unit}_high"] = life["q75"]
            out[f"p_life_gt_{self.horizon:g}"] = life["p_gt_horizon"]
        else:
            out["p_passivating"] = self.estimator_.predict_proba(X)[:, 1]
        distance, inside = self.domain_.assess(X)
        out["domain_distance"], out["in_domain"] = distance, inside
        return out
