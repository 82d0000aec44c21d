"""What a table of predictions says about its inputs: the components as resolved, which inputs
were unknown (and so filled in by the models), and predictions rounded for reading.

A blank cell means "unknown" (never 0). The models fill unknown numbers in from the training
data (median imputation), so a prediction for a system without, say, a current density is one
for a typical current density: :func:`imputed_inputs` lists them per row, and
:func:`imputed_summary` says so once per file.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary, UnknownComponent, is_none
from screen.data.schema import COLUMN_BY_NAME, FORMULATION_COLUMNS, SYSTEM_REQUIRED

#: An amount whose blank is not unknown when its component is 'none' (nothing to measure).
AMOUNT_OF = {"additive_conc_M": "additive", "coating_thickness_um": "coating"}
#: Inputs that, when blank, are filled in by the models: the formulation and test condition
#: columns except the required components and the solvent ratio (blank = equal parts).
IMPUTED_COLUMNS: tuple[str, ...] = tuple(c for c in FORMULATION_COLUMNS
                                         if c not in SYSTEM_REQUIRED and c != "solvent_ratio")
IMPUTED_COLUMN = "imputed_conditions"
RESOLVED_SUFFIX = "_resolved"
#: Significant digits of the predictions written by ``predict`` (the models are not more
#: precise than that: 0.7068 V, 6000 h, p = 0.8366).
SIGNIFICANT_DIGITS = 4


def _blank(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.ones(len(frame), dtype=bool)
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        return values.isna().to_numpy(bool)
    return values.astype("string").fillna("").str.strip().eq("").to_numpy(bool)


def imputed_inputs(frame: pd.DataFrame) -> pd.Series:
    """Per row, the unknown inputs the models fill in (``;``-joined column names, '' if
    none); same index as ``frame``."""
    flags = {}
    for column in IMPUTED_COLUMNS:
        blank = _blank(frame, column)
        if column in AMOUNT_OF:
            owner = AMOUNT_OF[column]
            absent = (frame[owner].astype("string").fillna("").map(is_none).to_numpy(bool)
                      if owner in frame else np.zeros(len(frame), dtype=bool))
            blank &= ~absent
        flags[column] = blank
    names = np.array(list(flags), dtype=object)
    matrix = np.column_stack(list(flags.values())) if flags else np.zeros((len(frame), 0), bool)
    return pd.Series([";".join(names[row]) for row in matrix], index=frame.index,
                     name=IMPUTED_COLUMN, dtype=object)


def imputed_summary(imputed: pd.Series) -> str | None:
    """One sentence for a file: how many rows had which inputs filled in (None if none)."""
    lists = imputed[imputed.astype(bool)]
    if lists.empty:
        return None
    counts = pd.Series([c for text in lists for c in text.split(";")]).value_counts(sort=False)
    shown = ", ".join(f"{c} ({n} row{'s' if n > 1 else ''})" for c, n in counts.items())
    return (f"{len(lists)} of {len(imputed)} row(s) leave inputs blank (unknown) that the "
            f"models fill in from the training data, so their predictions are for typical "
            f"values of: {shown}. Give the values to predict for your conditions; the column "
            f"{IMPUTED_COLUMN} lists them per row")


def resolved_names(frame: pd.DataFrame, library: ComponentLibrary) -> pd.DataFrame:
    """``<column>_resolved`` for each component column of ``frame``: the library name each
    ':'-part resolves to (canonical SMILES or formula outside the library; 'none' kept)."""
    out = {}
    for column in frame.columns:
        spec = COLUMN_BY_NAME.get(column)
        if spec is None or spec.kind != "component":
            continue
        cache: dict[str, str] = {}

        def resolve(text, spec=spec, cache=cache) -> str:
            text = "" if text is None or text is pd.NA or (
                isinstance(text, float) and math.isnan(text)) else str(text).strip()
            if text not in cache:
                cache[text] = _resolved(text, spec, library)
            return cache[text]

        out[f"{column}{RESOLVED_SUFFIX}"] = frame[column].map(resolve)
    return pd.DataFrame(out, index=frame.index)


def _resolved(text: str, spec, library: ComponentLibrary) -> str:
    if not text or (spec.none_allowed and is_none(text)):
        return text.lower() if text else ""
    parts = text.split(":") if spec.multi else [text]
    try:
        return ":".join(library.resolve(spec.component, p).name for p in parts)
    except UnknownComponent:
        return ""


def round_significant(frame: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """Copy with every float column rounded to ``digits`` significant digits (NaN, inf and
    non-float columns unchanged)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = out[column].map(
                lambda v: float(f"{v:.{digits}g}") if math.isfinite(v) else v)
    return out
