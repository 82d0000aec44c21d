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


#: Key columns that are labels, not part of what a candidate describes (the anion, metal and
#: concentration define the salt): blanked before keys of measured rows and candidates meet.
LABEL_KEY_COLUMNS = ("salt",)


def canonical_systems(frame: pd.DataFrame, library) -> pd.DataFrame:
    """The :data:`~screen.data.schema.SYSTEM_KEY_COLUMNS` of ``frame`` written one way: every
    component as the library names it (aliases, salt spellings and SMILES of library molecules
    become the library name; formulas their canonical composition), a mixture's parts in name
    order with its ratio reordered and scaled to sum 1, and :data:`LABEL_KEY_COLUMNS` blank.
    Text the library cannot resolve is kept as written. Work is per unique cell, so a large
    candidate table costs little more than its distinct components."""
    from screen.data.components import UnknownComponent, is_none
    from screen.data.schema import COLUMN_BY_NAME

    out = pd.DataFrame(index=frame.index)
    for column in SYSTEM_KEY_COLUMNS:
        out[column] = frame.get(column, pd.NA)
    for column in LABEL_KEY_COLUMNS:
        out[column] = pd.NA

    def name(kind: str, text: str) -> str:
        if is_none(text):
            return "none"
        try:
            return library.resolve(kind, text).name
        except UnknownComponent:
            return text.strip()

    def blank(value) -> bool:
        return value is None or value is pd.NA or (isinstance(value, float) and value != value)

    for column in SYSTEM_KEY_COLUMNS:
        spec = COLUMN_BY_NAME[column]
        if spec.kind != "component" or column not in frame:
            continue
        ratio_column = f"{column}_ratio" if f"{column}_ratio" in SYSTEM_KEY_COLUMNS else None
        ratios = frame[ratio_column] if ratio_column and ratio_column in frame \
            else pd.Series(pd.NA, index=frame.index)
        pairs = pd.Series(list(zip(frame[column].astype(object), ratios.astype(object),
                                   strict=True)), index=frame.index)
        mapped: dict = {}
        for cell, ratio in pd.unique(pairs):
            if blank(cell) or not str(cell).strip():
                mapped[(cell, ratio)] = (cell, ratio)
                continue
            parts = [name(spec.component, p) for p in str(cell).split(":")] if spec.multi \
                else [name(spec.component, str(cell))]
            weights = _ratio_parts(ratio, len(parts))
            order = sorted(range(len(parts)), key=lambda i: parts[i])
            joined_ratio = (":".join(f"{weights[i] / sum(weights):.4g}" for i in order)
                            if weights is not None and len(parts) > 1 else ratio)
            mapped[(cell, ratio)] = (":".join(parts[i] for i in order), joined_ratio)
        values = pairs.map(mapped)
        out[column] = values.map(lambda v: v[0])
        if ratio_column:
            out[ratio_column] = values.map(lambda v: v[1])
    return out


def _ratio_parts(ratio, n: int) -> list[float] | None:
    """The numbers of a ratio text (``'1:2'``) if it has ``n`` positive parts, else None."""
    if ratio is None or ratio is pd.NA or not str(ratio).strip():
        return None
    try:
        parts = [float(p) for p in str(ratio).split(":")]
    except ValueError:
        return None
    return parts if len(parts) == n and all(p > 0 for p in parts) else None


def canonical_system_key(frame: pd.DataFrame, library) -> pd.Series:
    """:func:`system_key` of :func:`canonical_systems`: the same text for a measured row and a
    candidate of the same system, however their components are spelled."""
    return system_key(canonical_systems(frame, library))
