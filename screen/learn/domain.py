"""Applicability domain, per part of the formulation: is this anion near a measured anion, this
solvent near a measured solvent, this coating near a measured coating, are these conditions
inside the measured range?

Each *block* is a group of feature columns (the explanation groups of
:func:`featurizers.blocks.explanation_groups`: ``anion``, ``solvent``, ``additive``,
``coating`` and ``conditions``). For a component block, the distance of a system is the
Euclidean distance of its block vector (median-imputed, standardized on the training rows) to
the nearest *distinct* training vector of that block — 0 for a component that was measured.
For the conditions block it is how far the conditions lie outside the measured range, in units
of the training spread (0 inside the range).

**Thresholds** (``calibrate``) come from grouped cross-validation, distance against error: each
training row's distance to the rows of the *other* groups (e.g. other anion families) is paired
with its out-of-fold error; the threshold of a block is the largest out-of-group distance up to
which the running mean error (rows sorted by distance) stays within ``tolerance`` × the error of
the rows whose block was seen in training (distance 0). Without a calibration, a block's
threshold is the largest nearest-neighbour distance among the distinct training vectors (how
far apart the measured ones are). Every training row is in domain by construction (its own
vector is in the set).

Outputs (``assess``): ``domain_distance`` = the largest distance / threshold over the blocks
(≤ 1: in domain), ``in_domain``, and per block ``domain_<block>`` (distance / threshold);
``unexplored`` names the blocks above 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from screen.learn.models.common import MedianImputer

CONDITIONS = "conditions"


def default_blocks() -> dict[str, tuple[str, ...]]:
    """Block → feature-name prefixes (the featurizer's explanation groups)."""
    from featurizers.blocks import explanation_groups

    return explanation_groups()


class DomainScorer(BaseEstimator):
    """Per-block applicability domain (see the module docstring).

    ``blocks``: block → feature-name prefixes (default: :func:`default_blocks`);
    ``tolerance``: error ratio allowed by the calibration.
    """

    def __init__(self, blocks: dict | None = None, tolerance: float = 1.5, k: int = 1,
                 quantile: float = 1.0):
        self.blocks = blocks
        self.tolerance = tolerance
        self.k = k
        self.quantile = quantile

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y=None):
        """Learn each block's scaling, distinct training vectors and default threshold."""
        if len(X) < 2:
            raise ValueError("the applicability domain needs at least 2 training systems")
        blocks = self.blocks if self.blocks is not None else default_blocks()
        columns = [str(c) for c in X.columns]
        self.blocks_: dict[str, list[str]] = {}
        for name, prefixes in blocks.items():
            chosen = [c for c in columns if c.startswith(tuple(prefixes))]
            if chosen:
                self.blocks_[name] = chosen
        self.scalers_: dict[str, tuple] = {}
        self.index_: dict[str, NearestNeighbors] = {}
        self.threshold_: dict[str, float] = {}
        for name, cols in self.blocks_.items():
            Z = self._fit_scale(name, X[cols].to_numpy(float))
            if name == CONDITIONS:
                self.scalers_[name] += (Z.min(axis=0), Z.max(axis=0))
                self.threshold_[name] = 1.0  # one training spread beyond the measured range
                continue
            if Z.shape[1] == 0:  # every column constant in training: nothing to compare
                self.threshold_[name] = 1.0
                continue
            distinct = np.unique(Z, axis=0)
            self.index_[name] = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(distinct)
            if len(distinct) > 1:
                pairs = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(distinct)
                d, _ = pairs.kneighbors(distinct)
                self.threshold_[name] = float(np.quantile(d[:, 1], self.quantile)) or 1.0
            else:
                self.threshold_[name] = 1.0
        self.calibrated_ = False
        return self

    def _fit_scale(self, name: str, values: np.ndarray) -> np.ndarray:
        imputer = MedianImputer().fit(values)
        filled = imputer.transform(values)
        mean, scale = filled.mean(axis=0), filled.std(axis=0)
        keep = scale > 0
        self.scalers_[name] = (imputer, mean, np.where(keep, scale, 1.0), keep)
        return self._scale(name, values)

    def _scale(self, name: str, values: np.ndarray) -> np.ndarray:
        imputer, mean, scale, keep = self.scalers_[name][:4]
        Z = (imputer.transform(np.asarray(values, dtype=float)) - mean) / scale
        return Z[:, keep]

    # ------------------------------------------------------------------ distances
    def block_distances(self, X: pd.DataFrame) -> pd.DataFrame:
        """Raw distance of each row per block (0: a measured component / inside the range)."""
        check_is_fitted(self, "blocks_")
        out = {}
        for name, cols in self.blocks_.items():
            Z = self._scale(name, X[cols].to_numpy(float))
            if name == CONDITIONS:
                low, high = self.scalers_[name][4], self.scalers_[name][5]
                beyond = np.maximum(low - Z, 0.0) + np.maximum(Z - high, 0.0)
                out[name] = beyond.max(axis=1) if beyond.shape[1] else np.zeros(len(Z))
            elif Z.shape[1]:
                out[name] = self.index_[name].kneighbors(Z, n_neighbors=1)[0][:, 0]
            else:
                out[name] = np.zeros(len(Z))
        return pd.DataFrame(out, index=X.index)

    def calibrate(self, X: pd.DataFrame, errors: np.ndarray, groups: np.ndarray
                  ) -> DomainScorer:
        """Set each component block's threshold from grouped CV (see the module docstring):
        ``errors`` are the out-of-fold errors of the training rows ``X`` under the grouping
        ``groups`` (e.g. anion families)."""
        check_is_fitted(self, "blocks_")
        errors = np.asarray(errors, dtype=float)
        groups = np.asarray(groups)
        ok = np.isfinite(errors)
        for name, cols in self.blocks_.items():
            if name == CONDITIONS:
                continue
            Z = self._scale(name, X[cols].to_numpy(float))
            distance = np.zeros(len(Z))
            for group in np.unique(groups):
                inside = groups == group
                others = np.unique(Z[~inside], axis=0)
                if not len(others) or not Z.shape[1]:
                    continue
                nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(others)
                distance[inside] = nn.kneighbors(Z[inside])[0][:, 0]
            seen = ok & (distance <= 1e-9)
            reference = float(np.mean(errors[seen])) if seen.any() else float(
                np.median(errors[ok]))
            order = np.argsort(distance[ok], kind="stable")
            d, e = distance[ok][order], errors[ok][order]
            running = np.cumsum(e) / np.arange(1, len(e) + 1)
            good = running <= self.tolerance * max(reference, 1e-12)
            if good.any():
                last = int(np.flatnonzero(good)[-1])
                self.threshold_[name] = max(self.threshold_[name], float(d[last]))
        self.calibrated_ = True
        return self

    def assess_blocks(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per block distance / threshold (``domain_<block>``; ≤ 1 is explored)."""
        raw = self.block_distances(X)
        return pd.DataFrame({f"domain_{b}": raw[b] / self.threshold_[b] for b in raw},
                            index=X.index)

    def assess(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(domain_distance = the largest block ratio, in_domain = every block ≤ 1)."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("DomainScorer needs a DataFrame with feature names")
        ratios = self.assess_blocks(X)
        distance = ratios.max(axis=1).to_numpy(float) if ratios.shape[1] else np.zeros(len(X))
        return distance, distance <= 1.0 + 1e-9


def unexplored(table: pd.DataFrame) -> pd.Series:
    """Text naming the blocks above their threshold per row (``''`` when all explored)."""
    cols = [c for c in table.columns if c.startswith("domain_") and c != "domain_distance"]
    if not cols:
        return pd.Series("", index=table.index)
    over = table[cols].to_numpy(float) > 1.0 + 1e-9
    names = [c[len("domain_"):] for c in cols]
    return pd.Series([", ".join(n for n, o in zip(names, row, strict=True) if o)
                      for row in over], index=table.index, dtype=object)
