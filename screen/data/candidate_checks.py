"""The one check of system and candidate tables: :class:`CandidateChecker`.

It applies the rules of :mod:`screen.data.rules` (cells: component names and structures,
categories, number ranges, ratios; rows: required values, additive/concentration, solvent named
twice, coating ``none`` with a thickness, ratio parts, salt vs anion and metal, metal vs
coating, a Coulombic efficiency written as a fraction ...) once per *distinct value* of each
column (or distinct combination of a row rule's columns) and broadcasts the result back to the
rows, so a partition of 10^5 enumerated candidates is checked in milliseconds.
``mgscreen data validate`` (through :func:`screen.data.validation.validate`), ``predict``,
``rank`` and ``enumerate`` all check with it, so a row that one accepts the others accept too.

Each problem names the file, the data row (1-based, as in :class:`~screen.data.problems.Problem`),
the column, the value (as written), what is accepted, its severity (``error`` or ``warning``)
and the rule that found it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.problems import Problem
from screen.data.rules import (
    ROW_RULES,
    ComponentCheck,
    Mode,
    RuleContext,
    cell_problems,
    number_problem,
)
from screen.data.schema import COLUMN_BY_NAME, FORMULATION_COLUMNS, SYSTEM_REQUIRED

#: the system-schema columns a candidate is checked on (others are carried along unchecked)
CHECKED_COLUMNS = FORMULATION_COLUMNS
PROBLEM_COLUMNS = ("candidate_id", "file", "row", "column", "value", "reason", "severity",
                   "rule")


class CandidateChecker:
    """Check tables of systems against the rules (per-value results are cached across
    partitions). ``mode='systems'`` for candidates and systems to predict, ``'dataset'`` for a
    curated measurement table; ``component_check`` adds a featurization check of components
    outside the library (see :data:`screen.data.rules.ComponentCheck`)."""

    def __init__(self, library: ComponentLibrary, mode: Mode = "systems",
                 component_check: ComponentCheck | None = None):
        self.library = library
        self.context = RuleContext(library, mode, component_check)
        self._messages: dict[tuple[str, str], list[str]] = {}
        self._findings: dict[tuple[str, tuple[str, ...]], list] = {}

    def missing_columns(self, columns) -> list[str]:
        """Required columns absent from a candidate table."""
        return [c for c in SYSTEM_REQUIRED if c not in columns]

    def check(self, frame: pd.DataFrame, file: str, first_row: int = 1) -> pd.DataFrame:
        """One row per problem (:data:`PROBLEM_COLUMNS`); empty when every row is valid.

        ``first_row``: the 1-based data-row number of ``frame``'s first row in ``file``.
        Columns of the schema are checked, others (``candidate_id``, ``extra_*``) carried.
        """
        texts = _Texts(frame)
        pieces: list[pd.DataFrame | None] = []
        for column in frame.columns:
            if column in COLUMN_BY_NAME:
                pieces.append(self._column_problems(frame[column], column))
        for rule in ROW_RULES:
            if self.context.mode in rule.modes:
                pieces.append(self._rule_problems(rule, texts))
        found = [p for p in pieces if p is not None]
        if not found:
            return pd.DataFrame(columns=list(PROBLEM_COLUMNS))
        out = pd.concat(found, ignore_index=True).sort_values("position", kind="mergesort")
        ids = (frame["candidate_id"].to_numpy() if "candidate_id" in frame.columns
               else np.arange(len(frame)) + first_row - 1)
        out.insert(0, "candidate_id", ids[out["position"].to_numpy()])
        out.insert(1, "file", file)
        out.insert(2, "row", out.pop("position").to_numpy() + first_row)
        return out.reset_index(drop=True)[list(PROBLEM_COLUMNS)]

    def value_problems(self, column: str, values) -> list[tuple[str, str]]:
        """(value, message) for each of ``values`` of one column that a cell check refuses
        (used to check an enumeration's axes before anything is generated)."""
        spec = COLUMN_BY_NAME[column]
        out = []
        for value in values:
            text = str(value).strip()
            if text:
                out += [(text, m) for m in self._cell_messages(column, text, spec)]
        return out

    # ---------------------------------------------------------------- per column
    def _column_problems(self, series: pd.Series, column: str) -> pd.DataFrame | None:
        spec = COLUMN_BY_NAME[column]
        if spec.kind == "number" and pd.api.types.is_numeric_dtype(series.dtype) \
                and not pd.api.types.is_bool_dtype(series.dtype):
            return self._numeric_problems(series.to_numpy(dtype=float, na_value=np.nan), column)
        codes, uniques = factorize(series)
        texts = [str(u) for u in uniques]
        messages = [self._cell_messages(column, t.strip(), spec) for t in texts]
        rows, values, reasons = [], [], []
        for code, found in enumerate(messages):
            if not found:
                continue
            where = np.flatnonzero(codes == code)
            for message in found:  # lists, not np.full: numpy drops a trailing NUL of a str
                rows.append(where)
                values.append(np.array([texts[code]] * len(where), dtype=object))
                reasons.append(np.array([message] * len(where), dtype=object))
        if not rows:
            return None
        rule = "component" if spec.kind == "component" else spec.kind
        return pd.DataFrame({"position": np.concatenate(rows), "column": column,
                             "value": np.concatenate(values), "reason": np.concatenate(reasons),
                             "severity": "error", "rule": rule})

    def _cell_messages(self, column: str, text: str, spec) -> list[str]:
        if not text:
            return []
        key = (column, text)
        if key not in self._messages:
            self._messages[key] = cell_problems(spec, text, self.context)
        return self._messages[key]

    @staticmethod
    def _numeric_problems(values: np.ndarray, column: str) -> pd.DataFrame | None:
        spec = COLUMN_BY_NAME[column]
        finite = np.isfinite(values)
        bad = ~finite & ~np.isnan(values)
        if spec.low is not None:
            bad |= finite & ((values <= spec.low) if spec.low_open else (values < spec.low))
        if spec.high is not None:
            bad |= finite & (values > spec.high)
        if spec.integer:
            bad |= finite & (values != np.round(values))
        rows = np.flatnonzero(bad)
        if not len(rows):
            return None
        texts = [_number_text(v) for v in values[rows]]
        reasons = [number_problem(spec, "inf" if math.isinf(v) else repr(float(v)))
                   for v in values[rows]]
        return pd.DataFrame({"position": rows, "column": column,
                             "value": np.array(texts, dtype=object),
                             "reason": np.array(reasons, dtype=object),
                             "severity": "error", "rule": "number"})

    # ---------------------------------------------------------------- across columns
    def _rule_problems(self, rule, texts: _Texts) -> pd.DataFrame | None:
        codes, combos = texts.combinations(rule.columns, rule.blank_only)
        rows, columns, values, reasons, severities = [], [], [], [], []
        for code, combo in enumerate(combos):
            key = (rule.name, combo)
            if key not in self._findings:
                cells = {c: v.strip() for c, v in zip(rule.columns, combo, strict=True)}
                self._findings[key] = rule.check(cells, self.context)
            if not self._findings[key]:
                continue
            where = np.flatnonzero(codes == code)
            for column, message, severity in self._findings[key]:
                rows.append(where)
                columns += [column] * len(where)
                values.append(texts.raw(column)[where])
                reasons += [message] * len(where)
                severities += [severity] * len(where)
        if not rows:
            return None
        return pd.DataFrame({"position": np.concatenate(rows), "column": columns,
                             "value": np.concatenate(values), "reason": reasons,
                             "severity": severities, "rule": rule.name})


def factorize(series: pd.Series) -> tuple[np.ndarray, list]:
    """(codes, distinct values) of a column, -1 for missing. Text is compared as Python
    strings: pandas' own factorize treats text up to a NUL character as equal ('0.5' and
    '0.5\\x00'), which would let a bad cell hide behind a good one."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(np.int64), list(series.cat.categories)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return codes, list(uniques)
    index: dict = {}
    codes = np.fromiter((-1 if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                         else index.setdefault(v, len(index)) for v in series.to_numpy(object)),
                        dtype=np.int64, count=len(series))
    return codes, list(index)


def _number_text(value: float) -> str:
    return "" if value != value else repr(float(value))


class _Texts:
    """The cells of a frame as text ('' for blank or absent), computed once per column."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._cache: dict = {}

    def codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Per-row codes into the distinct texts of ``column`` (absent: one blank text)."""
        if column not in self._cache:
            if column not in self.frame.columns:
                self._cache[column] = (np.zeros(len(self.frame), dtype=np.int64), [""])
            else:
                series = self.frame[column]
                codes, uniques = factorize(series)
                if pd.api.types.is_numeric_dtype(series.dtype) \
                        and not pd.api.types.is_bool_dtype(series.dtype):
                    texts = [_number_text(float(u)) for u in uniques]
                else:
                    texts = [str(u) for u in uniques]
                codes = np.where(codes < 0, len(texts), codes)
                self._cache[column] = (codes, [*texts, ""])
        return self._cache[column]

    def raw(self, column: str) -> np.ndarray:
        """The text of ``column`` per row, as written."""
        codes, texts = self.codes(column)
        return np.asarray(texts, dtype=object)[codes]

    def blanks(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Per-row codes into ('', 'given'): whether the cell is blank."""
        if ("blank?", column) not in self._cache:
            codes, texts = self.codes(column)
            given = np.array([bool(t.strip()) for t in texts], dtype=np.int64)
            self._cache[("blank?", column)] = (given[codes], ["", "given"])
        return self._cache[("blank?", column)]

    def combinations(self, columns: tuple[str, ...], blank_only: bool = False
                     ) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        """Per-row codes into the distinct combinations of ``columns`` (as texts; with
        ``blank_only``, '' or 'given')."""
        parts = [self.blanks(c) if blank_only else self.codes(c) for c in columns]
        if len(parts) == 1:
            codes, texts = parts[0]
            return codes, [(t,) for t in texts]
        key = np.zeros(len(self.frame), dtype=np.int64)
        for codes, texts in parts:  # pairwise, so the combined key never overflows
            key, _ = pd.factorize(key * len(texts) + codes)
        n = int(key.max()) + 1 if len(key) else 0
        first = np.empty(n, dtype=np.int64)
        first[key[::-1]] = np.arange(len(key) - 1, -1, -1)  # the first row of each combination
        combos = [tuple(texts[codes[row]] for codes, texts in parts) for row in first]
        return key, combos


def to_problems(found: pd.DataFrame) -> list[Problem]:
    """The rows of :meth:`CandidateChecker.check` as :class:`Problem` objects."""
    return [Problem(p.file, int(p.row), p.column, p.value, p.reason, p.severity, p.rule)
            for p in found.itertuples(index=False)]


def problems_as_text(problems: pd.DataFrame, limit: int = 20) -> list[str]:
    """The first ``limit`` problems as one line each (validation's wording)."""
    return [str(p) for p in to_problems(problems.head(limit))]


def to_candidate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 (text from a CSV converted), text columns left as they are."""
    out = frame.copy()
    for column in CHECKED_COLUMNS:
        if column in out.columns and COLUMN_BY_NAME[column].kind == "number" \
                and not pd.api.types.is_numeric_dtype(out[column].dtype):
            text = out[column].astype("string").str.strip().replace("", pd.NA)
            out[column] = pd.to_numeric(text, errors="coerce").astype("float64")
    return out
