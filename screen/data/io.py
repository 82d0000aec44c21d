"""Reading user tables strictly and writing outputs atomically.

:func:`read_table` reads a CSV as text cells exactly as written (no type guessing, no 'NA'
magic), and reports structural problems (encoding, ragged rows, empty file) as
:class:`~screen.data.validation.Problem`. :func:`atomic_write_csv` writes to a temporary file in the
target directory and renames it into place, so an interrupted run never leaves a half-written
file; text cells that a spreadsheet would run as a formula are neutralized.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from screen.data.problems import DataValidationError, Problem

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read_table(path: str | Path) -> pd.DataFrame:
    r"""Read a CSV file into a DataFrame of ``str`` cells (blank = '').

    Raises :class:`DataValidationError` for a missing/unreadable file, non-UTF-8 bytes, a file
    that the CSV parser refuses (e.g. a cell longer than the parser's field limit), an empty
    file, a header without data rows or rows whose number of fields differs from the header.
    Duplicate header names are kept (made unique with a ``#2`` suffix) so that validation can
    report them. Only ``\n``, ``\r\n`` and ``\r`` end a line; other Unicode line separators
    (U+2028, form feed, ...) are ordinary characters inside a cell.
    """
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise DataValidationError([Problem(name, None, None, None,
                                           "is a directory; expected a CSV file")])
    if not path.is_file():
        raise DataValidationError([Problem(name, None, None, None, "file not found")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataValidationError([Problem(name, None, None, None,
                                           f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError([Problem(
            name, None, None, None, f"not valid UTF-8 at byte {exc.start} (line {line}); save "
            "the file as UTF-8 CSV")]) from None
    rows = _parse_csv(text, name)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataValidationError([Problem(name, None, None, None,
                                           "empty file: expected a header line with column "
                                           "names and at least one data row")])
    header = [h.strip() for h in rows[0]]
    problems = []
    body = []
    for i, cells in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in cells):
            continue  # a blank line carries no data
        if len(cells) != len(header):
            problems.append(Problem(name, i, None, None, f"has {len(cells)} fields but the "
                                    f"header has {len(header)}; check for unquoted commas"))
            continue
        body.append(cells)
    if problems:
        raise DataValidationError(problems)
    if not body:
        raise DataValidationError([Problem(name, None, None, None,
                                           "no data rows: the file has a header line but no "
                                           "rows below it; add at least one data row")])
    unique = _unique_names(header)
    frame = pd.DataFrame(body, columns=unique, dtype=object)
    frame.attrs["source_columns"] = header
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _parse_csv(text: str, name: str) -> list[list[str]]:
    """Records of ``text``; a parser error becomes a :class:`Problem` naming the data row."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            rows.append(cells)
    except csv.Error as exc:
        row = len(rows) if rows else None  # the record being read when the parser gave up
        hint = ""
        if "field larger than field limit" in str(exc):
            hint = (f": a cell is longer than {csv.field_size_limit()} characters; check for a "
                    "quote (\") that is opened but never closed, or shorten the cell")
        raise DataValidationError([Problem(name, row, None, None,
                                           f"CSV cannot be parsed ({exc}){hint}")]) from None
    return rows


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}#{seen[h]}")
    return out


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy with text cells that start like a spreadsheet formula prefixed by a quote.

    Numbers (including negative ones) are left alone.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind in "biufc":
            continue
        out[col] = out[col].map(_neutralize_cell)
    return out


def _neutralize_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``path``
    is untouched. The file gets the permissions of a normally created one (umask applied).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, new_file_mode())  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def new_file_mode() -> int:
    """Permissions of a newly created file under the current umask (0644 for umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    r"""Write ``frame`` as UTF-8 CSV atomically, formula-like text neutralized.

    Lines end with ``\r\n`` (RFC 4180): Python's CSV writer quotes a cell only for the
    characters of its line terminator, so with ``\n`` alone a stray ``\r`` in a text cell
    would be written bare and split the row for every reader.
    """
    with atomic_path(path) as tmp:
        neutralize_formulas(frame).to_csv(tmp, index=False, lineterminator="\r\n")
    return Path(path)
