"""Why a candidate ranks where it does: per-block reasons and the nearest measured systems.

**Rank reasons** are occlusion attributions by feature block. For each top candidate and each
target, one block at a time (``anion``, ``solvent``, ``additive``, ``coating``, ``conditions`` —
the ``system__*`` concentrations, thickness and test condition) is replaced by the median of
the measured data set, and the change of the main prediction is that block's effect:
``effect = prediction(candidate) − prediction(candidate with a typical measured block)``.
Overpotential effects are in V, cycle-life effects a factor on the median life (×), passivation
effects in probability. The reasons list the two largest effects per target.

**Nearest measured systems** are the data-set rows closest to the candidate in standardized
feature space (median-imputed, each feature scaled by its spread over the data set, constant
features dropped), listed with what was measured and where it was reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from featurizers.blocks import explanation_groups
from screen.data.formulation import formulation_text
from screen.data.sources import cite
from screen.learn.predict import feature_frame
from screen.learn.registry import get_target, targets

N_REASONS = 2


@dataclass
class ReferenceSet:
    """The measured data set with its features, their medians and the scaled space used for
    nearest neighbours."""

    frame: pd.DataFrame        # typed interfaces rows (index = data row number)
    X: pd.DataFrame            # features as built for prediction
    medians: pd.Series         # per feature (NaN-safe median over measured rows)
    center: np.ndarray
    scale: np.ndarray
    keep: np.ndarray           # features with spread > 0
    Z: np.ndarray              # scaled features of the measured rows

    @classmethod
    def build(cls, featurizer, frame: pd.DataFrame | None = None) -> ReferenceSet:
        """Featurize the measured rows (default: the embedded data set)."""
        from screen.data.dataset import load_interfaces

        frame = frame if frame is not None else load_interfaces(library=featurizer.library_)
        return cls.from_features(frame, feature_frame(frame, featurizer))

    @classmethod
    def from_features(cls, frame: pd.DataFrame, X: pd.DataFrame) -> ReferenceSet:
        """The reference of measured rows whose prediction features are already built."""
        values = X.to_numpy(np.float64)
        medians = np.nanmedian(np.where(np.isfinite(values), values, np.nan), axis=0)
        medians = np.where(np.isfinite(medians), medians, 0.0)
        filled = np.where(np.isfinite(values), values, medians)
        center, scale = filled.mean(axis=0), filled.std(axis=0)
        keep = scale > 0
        Z = ((filled - center) / np.where(keep, scale, 1.0))[:, keep]
        return cls(frame, X, pd.Series(medians, index=X.columns), center, scale, keep, Z)

    def scaled(self, X: pd.DataFrame) -> np.ndarray:
        """Candidates in the reference's scaled space."""
        values = X[self.X.columns].to_numpy(np.float64)
        filled = np.where(np.isfinite(values), values, self.medians.to_numpy())
        return ((filled - self.center) / np.where(self.keep, self.scale, 1.0))[:, self.keep]


def _main_prediction(model, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(X), dtype=float)


def block_effects(X: pd.DataFrame, models: dict, reference: ReferenceSet
                  ) -> dict[str, pd.DataFrame]:
    """target -> DataFrame (rows of ``X`` × blocks) of occlusion effects (see module doc).

    All occluded copies of a target are predicted in one call.
    """
    columns = list(X.columns)
    block_columns = {group: [i for i, c in enumerate(columns) if c.startswith(prefixes)]
                     for group, prefixes in explanation_groups().items()}
    stacked = [X.to_numpy(np.float32)]
    for idx in block_columns.values():
        copy = stacked[0].copy()
        copy[:, idx] = reference.medians.to_numpy(np.float32)[idx]
        stacked.append(copy)
    big = pd.DataFrame(np.vstack(stacked), columns=columns)
    n = len(X)
    out = {}
    for target, model in models.items():
        pred = _main_prediction(model, big).reshape(len(stacked), n)
        base, occluded = pred[0], pred[1:]
        if get_target(target).effect == "ratio":
            with np.errstate(divide="ignore", invalid="ignore"):
                effect = base[None, :] / occluded
        else:
            effect = base[None, :] - occluded
        out[target] = pd.DataFrame(effect.T, index=X.index, columns=list(block_columns))
    return out


def reasons(effects: dict[str, pd.DataFrame], n: int = N_REASONS) -> pd.Series:
    """One text per row: the ``n`` largest block effects per target."""
    index = next(iter(effects.values())).index if effects else pd.Index([])
    texts = []
    for row in index:
        parts = []
        for target, table in effects.items():
            spec = get_target(target)
            values = table.loc[row]
            size = (np.log(values.abs().clip(lower=1e-12)).abs() if spec.effect == "ratio"
                    else values.abs())
            size = size[np.isfinite(size)]
            top = size.sort_values(ascending=False, kind="mergesort").head(n).index
            shown = [spec.effect_text(b, float(values[b])) for b in top
                     if math.isfinite(float(values[b]))]
            if shown:
                parts.append(f"{spec.short}: {', '.join(shown)}")
        texts.append("; ".join(parts))
    return pd.Series(texts, index=index, dtype=object)


def source_label(source: object, ref: object = None) -> str:
    """A row's source as a reader cites it (:func:`screen.data.sources.cite`)."""
    return cite(source, ref)


def _describe(row: pd.Series, number: int) -> str:
    system = formulation_text(row)
    measured = [text for target in targets().values()
                if (text := target.describe_measured(row)) is not None]
    where = f"{source_label(row.get('source'), row.get('ref'))}, {row.get('location', '')}" \
        .strip(", ")
    what = f" ({'; '.join(measured)})" if measured else ""
    return f"row {number}: {system}{what} [{where}]"


def nearest_measured(X: pd.DataFrame, reference: ReferenceSet, k: int = 3) -> pd.Series:
    """One text per row of ``X``: its ``k`` nearest data-set rows, closest first, with the
    distance in scaled units."""
    from sklearn.metrics import pairwise_distances

    dist = pairwise_distances(reference.scaled(X), reference.Z)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    rows = reference.frame.index.to_numpy()
    texts = []
    for i in range(len(X)):
        parts = [f"{_describe(reference.frame.iloc[j], int(rows[j]))} d={dist[i, j]:.1f}"
                 for j in order[i]]
        texts.append(" || ".join(parts))
    return pd.Series(texts, index=X.index, dtype=object)
