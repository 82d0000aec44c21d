"""Applicability domain: how far a system is from the measured ones, in feature space.

Features are median-imputed and standardized on the training rows (constant features dropped).
The raw distance of a system is its mean Euclidean distance to the ``k`` nearest training
systems; for a training system its own point is excluded. ``domain_distance`` is that distance
divided by the median training distance (1 ≈ as typical as a measured system), and a system is
``in_domain`` when its raw distance is at most the ``quantile`` of the training distances.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from screen.learn.models.common import MedianImputer


class DomainScorer(BaseEstimator):
    """k-nearest-neighbour applicability domain (see the module docstring)."""

    def __init__(self, k: int = 5, quantile: float = 0.95):
        self.k = k
        self.quantile = quantile

    def fit(self, X, y=None):
        """Learn the imputation, scaling and neighbour index from the training features."""
        X = np.asarray(X, dtype=float)
        if len(X) < 2:
            raise ValueError("the applicability domain needs at least 2 training systems")
        self.imputer_ = MedianImputer().fit(X)
        Z = self.imputer_.transform(X)
        self.mean_ = Z.mean(axis=0)
        scale = Z.std(axis=0)
        self.keep_ = scale > 0
        self.scale_ = np.where(self.keep_, scale, 1.0)
        Zs = self._standardize(Z)
        self.k_ = int(min(self.k, len(X) - 1))
        self.neighbors_ = NearestNeighbors(n_neighbors=self.k_ + 1).fit(Zs)
        dist, _ = self.neighbors_.kneighbors(Zs)
        train = dist[:, 1:].mean(axis=1)  # own point excluded
        self.reference_ = float(np.median(train)) or 1.0
        self.threshold_ = float(np.quantile(train, self.quantile))
        return self

    def _standardize(self, Z: np.ndarray) -> np.ndarray:
        keep = self.keep_
        return (Z[:, keep] - self.mean_[keep]) / self.scale_[keep]

    def raw_distance(self, X) -> np.ndarray:
        """Mean distance to the k nearest training systems (standardized units)."""
        check_is_fitted(self, "neighbors_")
        Zs = self._standardize(self.imputer_.transform(np.asarray(X)))
        dist, _ = self.neighbors_.kneighbors(Zs, n_neighbors=self.k_)
        return dist.mean(axis=1)

    def assess(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(domain_distance relative to a typical training system, in_domain flag)."""
        raw = self.raw_distance(X)
        return raw / self.reference_, raw <= self.threshold_
