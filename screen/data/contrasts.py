"""Literature contrasts (``datasets/contrasts.csv``): loading and checking.

A *contrast* is a comparison that one publication states: system A (``better_*``) is better
than system B (``worse_*``) on one target, measured or discussed under one test condition
(``cell_type``, ``current_density_mA_cm2``, ``areal_capacity_mAh_cm2``, ``temperature_C``;
blank = not stated). Each side names a full system key (the ``system`` columns of
:mod:`screen.data.schema`) prefixed with ``better_`` or ``worse_``, and both systems must be
rows of ``interfaces.csv`` with the contrast's ``source`` — so every contrast is backed by
data, and a benchmark can leave that publication's rows out (see ``benchmarks/contrasts.py``).
A blank system cell matches a blank cell of the row; text is compared case-insensitively and
numbers by value (the system key of :mod:`screen.data.systems`).

:func:`check_contrasts` lists every problem (file, row, column, value, what is accepted);
:func:`load_contrasts` raises :class:`~screen.data.problems.DataValidationError` with all of
them, or returns the typed table; :func:`side_systems` gives one side as a system table.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd

from screen.data.io import read_table
from screen.data.paths import CONTRASTS_FILE, dataset_file
from screen.data.problems import DataValidationError, Problem
from screen.data.rules import number_problem
from screen.data.schema import COLUMN_BY_NAME, SYSTEM_KEY_COLUMNS, SYSTEM_REQUIRED
from screen.data.systems import system_key

#: What a contrast compares (the ``target`` column). Overpotential: lower is better;
#: passivation: non-passivating is better; Coulombic efficiency and cycle life: higher is
#: better. (How a model orders two systems comes from its target's ranking objective.)
CONTRAST_TARGETS = ("overpotential", "coulombic_efficiency", "cycle_life", "passivation")
#: What differs between the two systems (the ``kind`` column). ``chloride_addition``: the worse
#: system is a chloride-free ether electrolyte and the better one the same plus a chloride
#: (MgCl2, AlCl3, an alkoxy-/amido-Mg chloride, an organic or ammonium chloride ...);
#: ``other``: more than one component differs, or the metal.
CONTRAST_KINDS = ("chloride_addition", "coating_vs_bare", "additive", "anion", "solvent",
                  "concentration", "other")
SIDES = ("better", "worse")
#: The test condition of a contrast, in the interfaces-table vocabulary.
CONDITION_COLUMNS = ("cell_type", "current_density_mA_cm2", "areal_capacity_mAh_cm2",
                     "temperature_C")
PROVENANCE_COLUMNS = ("source", "year", "doi", "url", "location", "reason")
CONTRAST_COLUMNS: tuple[str, ...] = (
    "contrast_id", "target", "kind",
    *(f"{side}_{c}" for side in SIDES for c in SYSTEM_KEY_COLUMNS),
    *CONDITION_COLUMNS, *PROVENANCE_COLUMNS,
)
REQUIRED = ("contrast_id", "target", "kind", "source", "location", "reason",
            *(f"{side}_{c}" for side in SIDES for c in SYSTEM_REQUIRED))
MAX_REASON_WORDS = 25
_NUMBER_COLUMNS = ("year", *(c for c in CONDITION_COLUMNS
                             if COLUMN_BY_NAME[c].kind == "number"))


def side_column(side: str, column: str) -> str:
    """``better_anion`` for (``better``, ``anion``)."""
    return f"{side}_{column}"


def side_systems(contrasts: pd.DataFrame, side: str) -> pd.DataFrame:
    """One side (``better`` or ``worse``) of every contrast as a table of the system columns
    (unprefixed names, same index)."""
    return pd.DataFrame({c: contrasts[side_column(side, c)] for c in SYSTEM_KEY_COLUMNS},
                        index=contrasts.index)


def check_contrasts(table: pd.DataFrame, interfaces: pd.DataFrame,
                    file: str = CONTRASTS_FILE) -> list[Problem]:
    """Every problem of a contrasts table (string cells, blank = '') against ``interfaces``
    (the data set whose rows must back each side; typed or string cells)."""
    header = list(table.attrs.get("source_columns", table.columns))
    problems = [Problem(file, None, c, None, "missing required column")
                for c in CONTRAST_COLUMNS if c not in header]
    problems += [Problem(file, None, c, None, "unknown column; accepted: "
                         + ", ".join(CONTRAST_COLUMNS))
                 for c in header if c not in CONTRAST_COLUMNS]
    if problems:
        return problems
    keys = system_key(interfaces)
    by_source = {source: set(k) for source, k in
                 keys.groupby(interfaces["source"].astype(str).to_numpy())}
    seen_ids: dict[str, int] = {}
    for i, (_, row) in enumerate(table.iterrows(), start=1):
        cells = {c: str(row[c]).strip() for c in CONTRAST_COLUMNS}
        problems += _row_problems(cells, i, file, seen_ids, by_source)
    return problems


def _row_problems(cells: dict[str, str], row: int, file: str, seen_ids: dict[str, int],
                  by_source: dict[str, set[str]]) -> list[Problem]:
    out: list[Problem] = []

    def bad(column: str, message: str, value: str | None = None) -> None:
        out.append(Problem(file, row, column, cells.get(column, "") if value is None
                           else value, message))

    for column in REQUIRED:
        if not cells[column]:
            bad(column, "required value is blank")
    ident = cells["contrast_id"]
    if ident and ident in seen_ids:
        bad("contrast_id", f"duplicate id (also row {seen_ids[ident]}); ids are unique")
    seen_ids.setdefault(ident, row)
    for column, allowed in (("target", CONTRAST_TARGETS), ("kind", CONTRAST_KINDS),
                            ("cell_type", COLUMN_BY_NAME["cell_type"].allowed)):
        if cells[column] and cells[column] not in allowed:
            bad(column, f"not an accepted value; accepted: {', '.join(allowed)}")
    for column in _NUMBER_COLUMNS:
        if cells[column] and (message := number_problem(COLUMN_BY_NAME[column],
                                                         cells[column])) is not None:
            bad(column, message)
    words = len(cells["reason"].split())
    if words > MAX_REASON_WORDS:
        bad("reason", f"{words} words; at most {MAX_REASON_WORDS} (a paraphrase)")
    source = cells["source"]
    if source and source not in by_source:
        bad("source", "no row of interfaces.csv has this source; a contrast needs both "
            "systems as rows of its own publication")
        return out
    side_keys = {}
    for side in SIDES:
        system = pd.DataFrame([{c: cells[side_column(side, c)] or None
                                for c in SYSTEM_KEY_COLUMNS}])
        side_keys[side] = key = str(system_key(system).iloc[0])
        if source and key not in by_source[source]:
            close = difflib.get_close_matches(key, sorted(by_source[source]), n=1, cutoff=0.0)
            hint = f"; the closest system of that source is {close[0]!r}" if close else ""
            bad(f"{side}_*", f"the {side} system is not a row of interfaces.csv with source "
                f"{source!r} (system key: metal | salt | anion | salt_conc_M | solvent | "
                f"solvent_ratio | additive | additive_conc_M | coating | coating_thickness_um; "
                f"blank matches blank){hint}", value=key)
    if side_keys["better"] == side_keys["worse"]:
        bad("worse_*", "the worse system is the better system; a contrast compares two "
            "different systems", value=side_keys["worse"])
    return out


def typed_contrasts(table: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a checked table: numbers (system and condition) → float64 (NaN blank),
    text → pandas ``string`` (<NA> blank); columns in :data:`CONTRAST_COLUMNS` order."""
    out = {}
    for column in CONTRAST_COLUMNS:
        raw = table[column].astype(str).str.strip()
        base = column.split("_", 1)[1] if column.startswith(tuple(f"{s}_" for s in SIDES)) \
            else column
        spec = COLUMN_BY_NAME.get(base)
        if (spec is not None and spec.kind == "number") or column == "year":
            out[column] = raw.map(lambda t: float(t) if t else float("nan")).astype("float64")
        else:
            out[column] = raw.replace("", pd.NA).astype("string")
    return pd.DataFrame(out, index=table.index)


def load_contrasts(path: str | Path | None = None,
                   interfaces: pd.DataFrame | None = None) -> pd.DataFrame:
    """The contrasts table (default: the embedded ``contrasts.csv``), checked against
    ``interfaces`` (default: the embedded data set) and typed. Raises
    :class:`DataValidationError` listing every problem."""
    path = Path(path) if path is not None else dataset_file(CONTRASTS_FILE)
    if interfaces is None:
        from screen.data.dataset import load_interfaces

        interfaces = load_interfaces()
    table = read_table(path)
    problems = check_contrasts(table, interfaces, file=str(path))
    if problems:
        raise DataValidationError(problems)
    return typed_contrasts(table)
