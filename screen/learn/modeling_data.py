"""Per-target training tables: features X, target y, CV groups and the rows they came from.

Which rows a target trains on and what its y is are the target's own business
(:meth:`screen.learn.registry.Target.select`); this module joins that with the feature matrix
and the cross-validation groups: ``anion_family`` (from the component library) and ``source``.
``names`` holds the component names, used by the one-hot-names baseline.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary

NAME_COLUMNS = ("metal", "anion", "solvent", "additive", "coating")


class TooFewRowsError(ValueError):
    """A target has fewer labelled rows than the config's ``data.min_rows``."""


@dataclass
class TargetData:
    """What one target is trained on (all members aligned row by row)."""

    target: str
    X: pd.DataFrame  # float features
    y: np.ndarray  # whatever the target's estimators take (V, structured survival, 0/1 ...)
    groups: dict[str, np.ndarray]  # scheme -> group label per row
    names: pd.DataFrame  # component names (baseline input)
    rows: pd.DataFrame  # the source rows of the interfaces table


def select_blocks(names: np.ndarray, blocks: list[str],
                  include: list[str] | None = None) -> np.ndarray:
    """Boolean mask of feature columns belonging to the given blocks and, if ``include`` is
    given, matching one of its shell-style patterns (``anion_redox__e_*``)."""
    prefixes = tuple(f"{b}__" for b in blocks)
    mask = np.array([str(n).startswith(prefixes) for n in names])
    if include:
        mask &= np.array([any(fnmatch.fnmatchcase(str(n), p) for p in include) for n in names])
    return mask


def feature_frame(matrix: np.ndarray, names: np.ndarray, blocks: list[str],
                  index: pd.Index, include: list[str] | None = None) -> pd.DataFrame:
    """DataFrame of the selected feature blocks (float64)."""
    mask = select_blocks(names, blocks, include)
    return pd.DataFrame(matrix[:, mask].astype(np.float64), columns=list(names[mask]),
                        index=index)


def names_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Component names of ``rows`` as text (the one-hot-names baseline's input; same index)."""
    return rows[list(NAME_COLUMNS)].astype(str)


def target_features(matrix: np.ndarray, names: np.ndarray, rows: pd.DataFrame,
                    config: dict) -> pd.DataFrame:
    """X of ``rows`` for ``config['target']``: the config's feature blocks of ``matrix`` (the
    system features of ``rows``, same order) and the target's own row features."""
    from screen.learn.registry import get_target

    X = feature_frame(matrix, names, config["features"]["blocks"], rows.index,
                      config["features"].get("include"))
    if X.shape[1] == 0:
        raise ValueError(f"features.include {list(config['features'].get('include', []))} "
                         "matches no feature of the selected blocks")
    extra = get_target(config["target"]).extra_features(rows, config)
    if extra is not None:
        X = pd.concat([X, extra.set_axis(rows.index)], axis=1)
    return X


def build_target_data(frame: pd.DataFrame, matrix: np.ndarray, names: np.ndarray,
                      config: dict, library: ComponentLibrary) -> TargetData:
    """Rows, X, y and groups of ``config['target']`` from the typed interfaces table and its
    feature matrix (same row order). Raises :class:`TooFewRowsError`."""
    from screen.learn.registry import get_target

    target = get_target(config["target"])
    keep, y = target.select(frame, config)
    keep = np.asarray(keep, dtype=bool)
    rows = frame.loc[keep]
    n = int(keep.sum())
    if n < config["data"]["min_rows"]:
        raise TooFewRowsError(f"target {target.name!r} has {n} labelled rows; the config needs "
                              f"at least data.min_rows = {config['data']['min_rows']}")
    X = target_features(matrix[keep], names, rows, config)
    family = rows["anion"].map(lambda a: library.resolve("anion", str(a)).category)
    return TargetData(
        target=target.name, X=X, y=y,
        groups={"anion_family": family.to_numpy(str), "source": rows["source"].to_numpy(str)},
        names=names_table(rows),
        rows=rows,
    )
