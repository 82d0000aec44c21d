"""Per-target training tables: features X, target y, CV groups and the rows they came from.

- overpotential: rows with ``overpotential_V`` whose kind is in ``data.kinds``; the kind is an
  explicit one-hot feature ``kind__<kind>`` (never mixed silently). y in V.
- cycle_life: rows with a cycle life in ``data.unit`` (``h`` or ``cycles``, never mixed);
  y is a scikit-survival structured array (event = the cell failed, time).
- passivation: rows with a label; y = 1 passivating, 0 non_passivating, ``partial`` mapped by
  ``data.partial_as``.

Groups for cross-validation: ``anion_family`` (from the component library) and ``source``.
``names`` holds the component names, used by the one-hot-names baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from screen.components import ComponentLibrary
from screen.schema import OVERPOTENTIAL_KINDS

KIND_PREFIX = "kind__"
NAME_COLUMNS = ("metal", "anion", "solvent", "additive", "coating")


class TooFewRowsError(ValueError):
    """A target has fewer labelled rows than the config's ``data.min_rows``."""


@dataclass
class TargetData:
    """What one target is trained on (all members aligned row by row)."""

    target: str
    X: pd.DataFrame  # float features
    y: np.ndarray  # V | structured (event, time) | 0/1
    groups: dict[str, np.ndarray]  # scheme -> group label per row
    names: pd.DataFrame  # component names (baseline input)
    rows: pd.DataFrame  # the source rows of the interfaces table


def select_blocks(names: np.ndarray, blocks: list[str]) -> np.ndarray:
    """Boolean mask of feature columns belonging to the given blocks."""
    prefixes = tuple(f"{b}__" for b in blocks)
    return np.array([str(n).startswith(prefixes) for n in names])


def kind_columns() -> list[str]:
    """Names of the overpotential-kind one-hot columns."""
    return [f"{KIND_PREFIX}{k}" for k in OVERPOTENTIAL_KINDS]


def feature_frame(matrix: np.ndarray, names: np.ndarray, blocks: list[str],
                  index: pd.Index) -> pd.DataFrame:
    """DataFrame of the selected feature blocks (float64)."""
    mask = select_blocks(names, blocks)
    return pd.DataFrame(matrix[:, mask].astype(np.float64), columns=list(names[mask]),
                        index=index)


def with_kind(X: pd.DataFrame, kinds: pd.Series | str) -> pd.DataFrame:
    """Append the ``kind__*`` one-hot columns (a single kind for every row, or a Series)."""
    out = X.copy()
    series = kinds if isinstance(kinds, pd.Series) else pd.Series(kinds, index=X.index)
    for kind in OVERPOTENTIAL_KINDS:
        out[f"{KIND_PREFIX}{kind}"] = series.eq(kind).astype(float).to_numpy()
    return out


def build_target_data(frame: pd.DataFrame, matrix: np.ndarray, names: np.ndarray,
                      config: dict, library: ComponentLibrary) -> TargetData:
    """Rows, X, y and groups of ``config['target']`` from the typed interfaces table and its
    feature matrix (same row order). Raises :class:`TooFewRowsError`."""
    target = config["target"]
    data = config["data"]
    if target == "overpotential":
        keep = frame["overpotential_V"].notna() & frame["overpotential_kind"].isin(data["kinds"])
    elif target == "cycle_life":
        column = {"h": "cycle_life_h", "cycles": "cycle_life_cycles"}.get(data["unit"])
        if column is None:
            raise ValueError(f"data.unit {data['unit']!r}; accepted: h, cycles")
        keep = frame[column].notna() & frame["cycle_life_censored"].notna()
    else:
        keep = frame["passivation"].notna()
        if data["partial_as"] == "drop":
            keep &= frame["passivation"].ne("partial")
        elif data["partial_as"] not in ("passivating", "non_passivating"):
            raise ValueError(f"data.partial_as {data['partial_as']!r}; accepted: passivating, "
                             "non_passivating, drop")
    keep = keep.fillna(False).to_numpy(bool)
    rows = frame.loc[keep]
    n = int(keep.sum())
    if n < data["min_rows"]:
        raise TooFewRowsError(f"target {target!r} has {n} labelled rows; the config needs at "
                              f"least data.min_rows = {data['min_rows']}")
    X = feature_frame(matrix[keep], names, config["features"]["blocks"], rows.index)
    if target == "overpotential":
        X = with_kind(X, rows["overpotential_kind"].astype(str))
        y = rows["overpotential_V"].to_numpy(float)
    elif target == "cycle_life":
        from sksurv.util import Surv

        y = Surv.from_arrays(event=~rows["cycle_life_censored"].to_numpy(bool),
                             time=rows[column].to_numpy(float))
    else:
        positive = {"passivating"} | ({"partial"} if data["partial_as"] == "passivating" else set())
        y = rows["passivation"].isin(positive).to_numpy(int)
    family = rows["anion"].map(lambda a: library.resolve("anion", str(a)).category)
    return TargetData(
        target=target, X=X, y=y,
        groups={"anion_family": family.to_numpy(str), "source": rows["source"].to_numpy(str)},
        names=rows[list(NAME_COLUMNS)].astype(str).reset_index(drop=True).set_index(rows.index),
        rows=rows,
    )
