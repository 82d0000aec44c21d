"""Vectorized checks of candidate tables for ``mgscreen rank``.

The same rules as :func:`screen.data.validation.validate` in ``systems`` mode (component names,
categories, number ranges, required values, ratio/solvent and additive/concentration
consistency), but evaluated once per *distinct value* of each column and broadcast back, so a
partition of 10^5 enumerated candidates is checked in milliseconds. Each problem names the
file, the data row (1-based, as in :class:`~screen.data.validation.Problem`), the column, the value
and what is accepted.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary, is_none
from screen.data.problems import Problem
from screen.data.schema import COLUMN_BY_NAME, FORMULATION_COLUMNS, SYSTEM_REQUIRED
from screen.data.validation import _RATIO, _component_problems, _number_problem

#: the system-schema columns a candidate is checked on (others are carried along unchecked)
CHECKED_COLUMNS = FORMULATION_COLUMNS
PROBLEM_COLUMNS = ("candidate_id", "file", "row", "column", "value", "reason")


class CandidateChecker:
    """Check candidate partitions against the schema and a component library (per-value
    results are cached across partitions)."""

    def __init__(self, library: ComponentLibrary):
        self.library = library
        self._components: dict = {}
        self._messages: dict[tuple[str, str], str | None] = {}

    def missing_columns(self, columns) -> list[str]:
        """Required columns absent from a candidate table."""
        return [c for c in SYSTEM_REQUIRED if c not in columns]

    def check(self, frame: pd.DataFrame, file: str, first_row: int = 1) -> pd.DataFrame:
        """One row per problem (:data:`PROBLEM_COLUMNS`); empty when every candidate is valid.

        ``first_row``: the 1-based data-row number of ``frame``'s first row in ``file``.
        """
        pieces: list[pd.DataFrame] = []
        for column in CHECKED_COLUMNS:
            if column in frame.columns:
                pieces.append(self._column_problems(frame[column], column))
        pieces.append(self._consistency(frame))
        found = [p for p in pieces if len(p)]
        if not found:
            return pd.DataFrame(columns=list(PROBLEM_COLUMNS))
        out = pd.concat(found, ignore_index=True).sort_values("position", kind="mergesort")
        ids = (frame["candidate_id"].to_numpy() if "candidate_id" in frame.columns
               else np.arange(len(frame)) + first_row - 1)
        out.insert(0, "candidate_id", ids[out["position"].to_numpy()])
        out.insert(1, "file", file)
        out.insert(2, "row", out.pop("position").to_numpy() + first_row)
        return out.reset_index(drop=True)[list(PROBLEM_COLUMNS)]

    # ---------------------------------------------------------------- per column
    def _column_problems(self, series: pd.Series, column: str) -> pd.DataFrame:
        spec = COLUMN_BY_NAME[column]
        if spec.kind == "number" and pd.api.types.is_numeric_dtype(series.dtype):
            return self._numeric_problems(series.to_numpy(dtype=float, na_value=np.nan), column)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        texts = [str(u).strip() for u in uniques]
        messages = [self._message(column, t) for t in texts]
        blank_message = "required value is blank" if column in SYSTEM_REQUIRED else None
        messages_arr = np.array([*messages, blank_message], dtype=object)
        codes = np.where(codes < 0, len(messages), codes)
        texts.append("")
        bad = np.array([m is not None for m in messages_arr], dtype=bool)[codes]
        rows = np.flatnonzero(bad)
        return pd.DataFrame({"position": rows, "column": column,
                             "value": np.array(texts, dtype=object)[codes[rows]],
                             "reason": messages_arr[codes[rows]]})

    def _message(self, column: str, text: str) -> str | None:
        key = (column, text)
        if key in self._messages:
            return self._messages[key]
        spec = COLUMN_BY_NAME[column]
        message = None
        if not text:
            message = "required value is blank" if column in SYSTEM_REQUIRED else None
        elif spec.kind == "number":
            message = _number_problem(spec, text)
        elif spec.kind == "category" and text not in spec.allowed:
            message = f"not an accepted value; accepted: {', '.join(spec.allowed)}"
        elif spec.kind == "ratio" and not _RATIO.match(text):
            message = "must be numbers joined with ':' such as 1:1 or 5:1, or blank"
        elif spec.kind == "component":
            found = _component_problems(spec, text, self.library, self._components)
            message = "; ".join(found) or None
        self._messages[key] = message
        return message

    @staticmethod
    def _numeric_problems(values: np.ndarray, column: str) -> pd.DataFrame:
        spec = COLUMN_BY_NAME[column]
        finite = np.isfinite(values)
        bad = ~finite & ~np.isnan(values)
        if spec.low is not None:
            bad |= finite & ((values <= spec.low) if spec.low_open else (values < spec.low))
        if spec.high is not None:
            bad |= finite & (values > spec.high)
        rows = np.flatnonzero(bad)
        texts = [repr(float(v)) for v in values[rows]]
        reasons = [_number_problem(spec, "inf" if math.isinf(v) else repr(float(v)))
                   for v in values[rows]]
        return pd.DataFrame({"position": rows, "column": column,
                             "value": np.array(texts, dtype=object),
                             "reason": np.array(reasons, dtype=object)})

    # ---------------------------------------------------------------- across columns
    @staticmethod
    def _consistency(frame: pd.DataFrame) -> pd.DataFrame:
        out = []
        if "additive_conc_M" in frame.columns and "additive" in frame.columns:
            conc = pd.to_numeric(frame["additive_conc_M"], errors="coerce").to_numpy(float)
            no_additive = _per_value(frame["additive"], lambda t: not t or is_none(t), True)
            rows = np.flatnonzero(np.isfinite(conc) & no_additive)
            out.append(pd.DataFrame({
                "position": rows, "column": "additive_conc_M",
                "value": [repr(float(c)) for c in conc[rows]],
                "reason": "given but additive is blank or 'none'"}))
        if "solvent_ratio" in frame.columns and "solvent" in frame.columns:
            n_ratio = _per_value(frame["solvent_ratio"], lambda t: t.count(":") + 1 if t else 0,
                                 0)
            n_solvent = _per_value(frame["solvent"], lambda t: t.count(":") + 1 if t else 0, 0)
            rows = np.flatnonzero((n_ratio > 0) & (n_solvent > 0) & (n_ratio != n_solvent))
            ratio = frame["solvent_ratio"].to_numpy(object)
            out.append(pd.DataFrame({
                "position": rows, "column": "solvent_ratio",
                "value": [str(ratio[r]).strip() for r in rows],
                "reason": [f"has {n_ratio[r]} parts but solvent has {n_solvent[r]}"
                           for r in rows]}))
        out = [o for o in out if len(o)]
        return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
            columns=["position", "column", "value", "reason"])


def _per_value(series: pd.Series, function, blank) -> np.ndarray:
    """``function(stripped text)`` evaluated once per distinct value and broadcast to the
    rows; ``blank`` for missing values."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = [function(str(u).strip()) for u in uniques] + [blank]
    return np.asarray(values)[np.where(codes < 0, len(uniques), codes)]


def problems_as_text(problems: pd.DataFrame, limit: int = 20) -> list[str]:
    """The first ``limit`` problems as one line each (validation's wording)."""
    lines = []
    for p in problems.head(limit).itertuples(index=False):
        lines.append(str(Problem(p.file, int(p.row), p.column, p.value, p.reason)))
    return lines


def to_candidate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 (text from a CSV converted), text columns left as they are."""
    out = frame.copy()
    for column in CHECKED_COLUMNS:
        if column in out.columns and COLUMN_BY_NAME[column].kind == "number" \
                and not pd.api.types.is_numeric_dtype(out[column].dtype):
            text = out[column].astype("string").str.strip().replace("", pd.NA)
            out[column] = pd.to_numeric(text, errors="coerce").astype("float64")
    return out
