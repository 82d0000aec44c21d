"""Systems: what identifies an electrolyte/anode system, and its one passivation label.

A *system* is one electrolyte on one anode: the ``system`` columns of the schema
(:data:`~screen.data.schema.SYSTEM_KEY_COLUMNS`: metal, salt, anion, salt concentration,
solvent(s) and ratio, additive and concentration, coating and thickness). Rows of one system
differ only in their test condition (current density, rest time, cell ...).

Passivation is a property of the system, not of a test condition, so each system gets one label
(:func:`system_labels`). When its rows disagree:

1. the rows with the most direct evidence decide (``passivation_basis``: ``observed`` before
   ``ce_only`` before ``family``; a blank basis counts as ``family``);
2. among those, the most frequent label;
3. a tie between labels gives ``partial`` (the film exists but is overcome).

Rows labelled ``passivating`` and ``non_passivating`` within one system are a contradiction,
not a disagreement of degree: :func:`label_conflicts` lists them and ``mgscreen data validate``
reports them.
"""

from __future__ import annotations

import pandas as pd

from screen.data.schema import SYSTEM_KEY_COLUMNS

#: Evidence strength, strongest first (see the module docstring).
BASIS_ORDER = ("observed", "ce_only", "family")
KEY_NAME = "system_key"


def _normal(values: pd.Series) -> pd.Series:
    """Cells as compared in a key: text stripped, lower case; numbers as ``%g``; blank ''."""
    def one(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, int | float):
            return f"{float(value):g}"
        text = str(value).strip()
        try:
            return f"{float(text):g}"
        except ValueError:
            return text.lower()

    return values.map(one).astype(str)


def system_key(frame: pd.DataFrame) -> pd.Series:
    """One text per row identifying its system (same index); absent key columns count as
    blank."""
    parts = [_normal(frame[c]) if c in frame else pd.Series("", index=frame.index)
             for c in SYSTEM_KEY_COLUMNS]
    key = parts[0]
    for part in parts[1:]:
        key = key + " | " + part
    return key.rename(KEY_NAME)


def _decide(labels: pd.Series, bases: pd.Series) -> str:
    rank = bases.map({b: i for i, b in enumerate(BASIS_ORDER)}).fillna(len(BASIS_ORDER) - 1)
    strongest = labels[rank == rank.min()]
    counts = strongest.value_counts()
    top = counts[counts == counts.max()]
    return str(top.index[0]) if len(top) == 1 else "partial"


def system_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled system: ``system_key``, ``passivation`` (decided as in the module
    docstring), ``n_rows`` (labelled rows), ``labels`` (the distinct row labels, ``;``-joined),
    ``first_row`` (index of the first labelled row: its system columns describe the system)."""
    labelled = frame[frame["passivation"].notna() & frame["passivation"].astype(str).ne("")]
    if labelled.empty:
        return pd.DataFrame(columns=[KEY_NAME, "passivation", "n_rows", "labels", "first_row"])
    keys = system_key(labelled)
    bases = labelled["passivation_basis"].astype("string").fillna("family") \
        if "passivation_basis" in labelled else pd.Series("family", index=labelled.index)
    records = []
    for key, idx in keys.groupby(keys, sort=False).groups.items():
        labels = labelled.loc[idx, "passivation"].astype(str)
        records.append({KEY_NAME: key, "passivation": _decide(labels, bases.loc[idx]),
                        "n_rows": len(idx), "labels": ";".join(sorted(set(labels))),
                        "first_row": idx[0]})
    return pd.DataFrame.from_records(records)


def label_conflicts(frame: pd.DataFrame) -> pd.DataFrame:
    """The systems whose rows say both ``passivating`` and ``non_passivating``."""
    table = system_labels(frame)
    both = table["labels"].map(lambda t: {"passivating", "non_passivating"} <= set(t.split(";")))
    return table[both.astype(bool)]
