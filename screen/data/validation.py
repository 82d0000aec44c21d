"""Check an interfaces table against :mod:`screen.data.schema`; list every problem.

:func:`validate` never changes, drops or coerces a row: it returns a list of
:class:`Problem` (file, row, column, value, what is accepted). :func:`to_typed_frame` converts a
table that validated cleanly into typed columns.
"""

from __future__ import annotations

import difflib
import math

import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.problems import Problem
from screen.data.rules import FALSE, MODES, TRUE, ComponentCheck, Mode
from screen.data.schema import (
    COLUMN_BY_NAME,
    COLUMN_NAMES,
    PROVENANCE_REQUIRED,
    SYSTEM_REQUIRED,
    USER_COLUMN_PREFIX,
)

__all__ = ["MODES", "Mode", "to_typed_frame", "validate"]
_TRUE, _FALSE = TRUE, FALSE  # true/false cells, as the rules read them


def validate(table: pd.DataFrame, library: ComponentLibrary, *, file: str = "<table>",
             mode: Mode = "dataset", component_check: ComponentCheck | None = None
             ) -> list[Problem]:
    """Every problem of ``table`` (all cells as strings, blanks as ''): the header's, then
    the rows' as found by the one check of mgscreen
    (:class:`~screen.data.candidate_checks.CandidateChecker`, rules in
    :mod:`screen.data.rules`), in row order. Warnings are included (``Problem.severity``).

    ``mode='dataset'``: a curated measurement table (provenance and one measured value per row
    required). ``mode='lab'``: a lab's own measurements (``mgscreen train --data``): the dataset
    rules except that ``source`` and ``location`` may be blank (the source defaults to the file
    name when loaded). ``mode='systems'``: systems to featurize or predict (targets not
    needed).
    ``component_check``: also refuse components outside the library that the featurizers
    cannot describe (see :data:`screen.data.rules.ComponentCheck`).
    """
    from screen.data.candidate_checks import CandidateChecker, to_problems

    header = table.attrs.get("source_columns", list(table.columns))
    problems = _check_header(list(header), file, mode)
    if any(p.row is None and "missing" in p.message for p in problems):
        return problems
    checker = CandidateChecker(library, mode=mode, component_check=component_check)
    problems += to_problems(checker.check(table, file, first_row=1))
    if mode in ("dataset", "lab"):
        problems.extend(_label_contradictions(table, file))
    return problems


def _label_contradictions(table: pd.DataFrame, file: str) -> list[Problem]:
    """A system (same system columns) labelled both ``passivating`` and ``non_passivating``:
    passivation is one label per system (see :mod:`screen.data.systems`)."""
    from screen.data.systems import system_key

    if "passivation" not in table:
        return []
    labels = table["passivation"].astype(str).str.strip()
    labelled = labels.isin(("passivating", "non_passivating")).to_numpy()
    if not labelled.any():
        return []
    positions = pd.Series(range(1, len(table) + 1), index=table.index)
    keys = system_key(table)
    out = []
    for _, rows in positions[labelled].groupby(keys[labelled], sort=False):
        found = labels.loc[rows.index]
        if found.nunique() < 2:
            continue
        where = {label: ", ".join(str(r) for r in rows[found.eq(label)])
                 for label in ("passivating", "non_passivating")}
        first = int(rows.iloc[0])
        out.append(Problem(file, first, "passivation", labels.loc[rows.index[0]],
                           f"this system is labelled passivating (rows {where['passivating']}) "
                           f"and non_passivating (rows {where['non_passivating']}); passivation is "
                           "one label per system (the system columns): correct the rows, or "
                           "label them 'partial' if the film is overcome"))
    return out


# ---------------------------------------------------------------------- header
def _check_header(columns: list[str], file: str, mode: Mode) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            out.append(Problem(file, None, col, None, "duplicate column name; each column may "
                               "appear once"))
        seen.add(col)
    required = list(SYSTEM_REQUIRED) + (list(PROVENANCE_REQUIRED) if mode == "dataset" else [])
    for col in required:
        if col not in seen:
            out.append(Problem(file, None, col, None, "missing required column"))
    for col in columns:
        if col in COLUMN_BY_NAME or col.startswith(USER_COLUMN_PREFIX):
            continue
        close = difflib.get_close_matches(col, COLUMN_NAMES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        out.append(Problem(file, None, col, None, f"unknown column; {hint}Accepted columns are "
                           f"the schema's ({', '.join(COLUMN_NAMES)}) or names starting with "
                           f"{USER_COLUMN_PREFIX!r} for your own data"))
    return out


def to_typed_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a validated string table: numbers → float64 (NaN blank; the IEEE double
    nearest to the decimal written, as Python's ``float``), booleans →
    pandas ``boolean``, text → pandas ``string`` (<NA> blank). Schema columns come first in
    schema order; missing schema columns are added as blank."""
    out = {}
    for name in COLUMN_NAMES:
        spec = COLUMN_BY_NAME[name]
        raw = table[name].astype(str).str.strip() if name in table else pd.Series(
            [""] * len(table), index=table.index)
        if spec.kind == "number":  # Python's float: the correctly rounded value of the text
            out[name] = raw.map(lambda t: float(t) if t else math.nan).astype("float64")
        elif spec.kind == "boolean":
            out[name] = raw.str.lower().map({_TRUE: True, _FALSE: False}).astype("boolean")
        else:
            out[name] = raw.replace("", pd.NA).astype("string")
    for name in table.columns:
        if name not in out:
            out[name] = table[name].astype("string")
    return pd.DataFrame(out, index=table.index)
