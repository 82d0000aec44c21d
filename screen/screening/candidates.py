"""Reading candidate libraries in partitions (what ``mgscreen rank`` iterates over).

A candidate library is a Parquet file, a directory of Parquet parts (``part-00000.parquet``,
..., as written by :func:`screen.screening.enumeration.write_candidates`), or a CSV file in the
interfaces.csv system schema. :func:`plan_partitions` cuts it into row ranges that never cross
a file, using the Parquet footer only (a CSV is scanned once to count its rows) and following
row-group boundaries so a partition reads whole row groups; :func:`read_partition` reads one
range. Every partition carries a ``candidate_id``: the one stored in the file, or the global
row number (0-based, across the files in name order) when the file has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from screen.data.schema import FORMULATION_COLUMNS, SYSTEM_REQUIRED

Format = Literal["parquet", "csv"]
ID_COLUMN = "candidate_id"
#: Columns every candidate file must have (the rest of the system schema is optional).
REQUIRED_COLUMNS = SYSTEM_REQUIRED
#: String columns of the system schema (read as text from a CSV, blank = '').
TEXT_COLUMNS = ("metal", "anion", "solvent", "solvent_ratio", "additive", "coating",
                "cell_type")
DEFAULT_PARTITION_ROWS = 100_000
_ACCEPTED = ("a Parquet file, a directory of .parquet parts (as written by `mgscreen "
             "enumerate`), or a .csv file in the interfaces.csv system schema")


class CandidateFileError(ValueError):
    """A candidate library path is missing, of an unknown format, or lacks columns."""


@dataclass(frozen=True)
class Partition:
    """Rows ``row_start <= r < row_stop`` of one file; ``offset`` is the global row number
    of the file's first row (used for ``candidate_id`` when the file has none)."""

    file: str
    row_start: int
    row_stop: int
    offset: int = 0

    @property
    def rows(self) -> int:
        """Number of rows in the partition."""
        return self.row_stop - self.row_start


def candidate_files(path: str | Path) -> list[tuple[Path, Format]]:
    """The files of a library with their format, in read order; raises
    :class:`CandidateFileError` for a missing path, an unknown format or missing columns."""
    path = Path(path)
    if path.is_dir():
        parts = sorted(p for p in path.glob("*.parquet")
                       if p.is_file() and not p.name.startswith((".", "_")))
        if not parts:
            raise CandidateFileError(f"{path}: directory holds no .parquet files; expected "
                                     f"{_ACCEPTED}")
        files: list[tuple[Path, Format]] = [(p, "parquet") for p in parts]
    elif path.is_file():
        files = [(path, _sniff(path))]
    else:
        raise CandidateFileError(f"{path}: not found; expected {_ACCEPTED}")
    for file, fmt in files:
        _check_columns(file, _columns(file, fmt))
    return files


def _sniff(path: Path) -> Format:
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return "parquet"
    if path.suffix.lower() in (".parquet", ".pq"):
        raise CandidateFileError(f"{path}: not a Parquet file (no PAR1 header); expected "
                                 f"{_ACCEPTED}")
    if path.suffix.lower() == ".csv":
        return "csv"
    raise CandidateFileError(f"{path}: neither Parquet nor .csv; expected {_ACCEPTED}")


def _parquet(file: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError variants
        raise CandidateFileError(f"{file}: not a readable Parquet file: {exc}") from None


def _columns(file: Path, fmt: Format) -> list[str]:
    if fmt == "parquet":
        return list(_parquet(file).schema_arrow.names)
    try:
        return list(pd.read_csv(file, nrows=0, encoding="utf-8").columns.str.strip())
    except pd.errors.EmptyDataError:
        raise CandidateFileError(f"{file}: empty file: expected a header line with column "
                                 f"names and at least one candidate row ({_ACCEPTED})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CandidateFileError(f"{file}: not a readable UTF-8 CSV: {exc}") from None


def _check_columns(file: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CandidateFileError(
            f"{file}: missing column(s) {', '.join(missing)}; a candidate file needs "
            f"{', '.join(REQUIRED_COLUMNS)} (the interfaces.csv system schema: "
            f"{', '.join(FORMULATION_COLUMNS)}; optional {ID_COLUMN})")


def _row_groups(file: Path, fmt: Format) -> list[int]:
    """Rows per row group (Parquet footer), or ``[rows]`` for a CSV (one scan)."""
    if fmt == "parquet":
        meta = _parquet(file).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return [sum(len(chunk) for chunk in _csv_reader(file, 1_000_000, usecols=[0]))]


def count_candidates(path: str | Path) -> int:
    """Number of candidates (rows) in a library; Parquet from the footers only."""
    return sum(sum(_row_groups(file, fmt)) for file, fmt in candidate_files(path))


def check_candidates(path: str | Path) -> int:
    """The number of candidates of a library that can be ranked; raises
    :class:`CandidateFileError` (missing, unknown format, missing columns, empty file, a
    header without rows) before any model is loaded."""
    total = count_candidates(path)
    if total == 0:
        raise CandidateFileError(f"{path}: no candidates: the file has a header line but no "
                                 "rows below it; add at least one candidate row")
    return total


def plan_partitions(path: str | Path, rows_per_partition: int = DEFAULT_PARTITION_ROWS
                    ) -> list[Partition]:
    """Deterministic partitions covering every row once, in order, never crossing a file.

    Consecutive row groups are packed while they fit in ``rows_per_partition``; a larger row
    group is split into pieces of ``rows_per_partition`` rows.
    """
    if rows_per_partition < 1:
        raise ValueError(f"rows_per_partition must be >= 1, got {rows_per_partition}")
    out: list[Partition] = []
    offset = 0
    for file, fmt in candidate_files(path):
        sizes = _row_groups(file, fmt)
        out += [Partition(str(file), a, b, offset)
                for a, b in _pack(sizes, rows_per_partition)]
        offset += sum(sizes)
    return out


def _pack(sizes: list[int], target: int) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    start = pos = 0
    for size in sizes:
        if pos > start and pos + size - start > target:
            ranges.append((start, pos))
            start = pos
        if size > target:
            ranges += [(s, min(s + target, pos + size)) for s in range(pos, pos + size, target)]
            start = pos + size
        pos += size
    if pos > start:
        ranges.append((start, pos))
    return ranges


def read_partition(part: Partition, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of one partition (all columns, or ``columns``), ``candidate_id`` first.

    Parquet reads only the row groups overlapping the partition; a CSV is scanned up to the
    partition's end (use :func:`iter_candidates` to stream a whole CSV once).
    """
    file = Path(part.file)
    if _sniff(file) == "parquet":
        frame = _parquet_rows(file, part.row_start, part.row_stop, columns)
    else:
        frame = _csv_rows(file, part.row_start, part.row_stop)
    return _finish(frame, part.offset + part.row_start, columns, file)


def _parquet_rows(file: Path, start: int, stop: int, columns: list[str] | None
                  ) -> pd.DataFrame:
    """Rows ``start:stop`` of a Parquet file, reading only the row groups that hold them."""
    pf = _parquet(file)
    meta = pf.metadata
    bounds = np.cumsum([0, *(meta.row_group(i).num_rows for i in range(meta.num_row_groups))])
    groups = [i for i in range(meta.num_row_groups) if bounds[i] < stop and bounds[i + 1] > start]
    if columns is not None:
        columns = [c for c in dict.fromkeys([ID_COLUMN, *columns]) if c in pf.schema_arrow.names]
    table = pf.read_row_groups(groups, columns=columns)
    first = int(bounds[groups[0]]) if groups else start
    return table.slice(start - first, stop - start).to_pandas()


def _csv_rows(file: Path, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start:stop`` of a CSV, scanned in chunks (memory bounded by the chunk size)."""
    pieces = []
    pos = 0
    for chunk in _csv_reader(file, DEFAULT_PARTITION_ROWS):
        lo, hi = max(start - pos, 0), min(stop - pos, len(chunk))
        if lo < hi:
            pieces.append(chunk.iloc[lo:hi])
        pos += len(chunk)
        if pos >= stop:
            break
    return pd.concat(pieces) if pieces else pd.DataFrame(columns=_columns(file, "csv"))


def _finish(frame: pd.DataFrame, first_id: int, columns: list[str] | None,
            file: Path) -> pd.DataFrame:
    """``candidate_id`` first (the global row number if absent), a 0-based index."""
    frame = frame.reset_index(drop=True)
    if missing := [c for c in columns or [] if c not in frame and c != ID_COLUMN]:
        raise CandidateFileError(f"{file}: no column(s) {', '.join(missing)}; "
                                 f"it has {', '.join(map(str, frame.columns))}")
    if ID_COLUMN not in frame:
        frame.insert(0, ID_COLUMN, np.arange(first_id, first_id + len(frame), dtype=np.int64))
    keep = [ID_COLUMN, *(c for c in (columns if columns is not None else frame.columns)
                         if c != ID_COLUMN)]
    return frame[keep]


def _csv_reader(file: Path, chunksize: int, **kwargs) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV in the system schema: text columns as str (blank = ''), numbers as
    float, nothing else interpreted as missing."""
    try:
        reader = pd.read_csv(file, chunksize=chunksize, encoding="utf-8",
                             keep_default_na=False, na_values=[""],
                             dtype={c: str for c in TEXT_COLUMNS}, **kwargs)
        with reader:
            for chunk in reader:
                chunk.columns = chunk.columns.str.strip()
                text = [c for c in TEXT_COLUMNS if c in chunk]
                chunk[text] = chunk[text].fillna("")
                yield chunk
    except (ValueError, UnicodeDecodeError) as exc:
        raise CandidateFileError(f"{file}: cannot read the CSV: {exc}") from None


def iter_candidates(path: str | Path, rows_per_partition: int = DEFAULT_PARTITION_ROWS
                    ) -> Iterator[pd.DataFrame]:
    """Every partition of :func:`plan_partitions`, in order (a CSV is streamed in one pass
    with the same boundaries)."""
    files = candidate_files(path)
    if files[0][1] == "csv":  # a CSV library is a single file
        if rows_per_partition < 1:
            raise ValueError(f"rows_per_partition must be >= 1, got {rows_per_partition}")
        first = 0
        for chunk in _csv_reader(files[0][0], rows_per_partition):
            yield _finish(chunk, first, None, files[0][0])
            first += len(chunk)
        return
    for part in plan_partitions(path, rows_per_partition):
        yield read_partition(part)
