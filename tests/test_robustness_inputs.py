"""Random and adversarial tables for `mgscreen data validate`, `featurize` and `predict`.

Every input must end in success or a clear error: exit status 1 (problems in the data) or 2
(usage), a message naming the file (and row/line, column, value where one applies), never an
uncaught exception. Files the tool writes (``--report``, ``predict --out``, ``featurize --out``)
appear only complete, never as a leftover temporary file, and CSV cells that a spreadsheet would
run as a formula are neutralized while numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from featurizers.check import featurization_check
from screen.cli import app
from screen.data.dataset import check_file, load_table
from screen.data.io import atomic_write_csv, neutralize_formulas, read_table
from screen.data.paths import INTERFACES_FILE, dataset_file
from screen.data.problems import DataValidationError, errors_of
from screen.data.schema import COLUMN_BY_NAME, COLUMN_NAMES, SYSTEM_REQUIRED
from screen.data.validation import to_typed_frame, validate

runner = CliRunner()
#: hypothesis settings shared by the property tests: no example database in the repository,
#: no deadline (the machine is shared), tmp files are made inside each example.
FAST = dict(deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture])
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROBLEM_LINE = re.compile(r"row (\d+) \(line (\d+)\)")
#: How a component that validates but cannot be featurized (e.g. the SMILES '*') is reported.
COMPONENT_FAILURE = re.compile(r"\.csv: (anion|solvent|coating) '.*': ")

# ----------------------------------------------------------------------------- input pools
with dataset_file(INTERFACES_FILE).open(newline="", encoding="utf-8") as _fh:
    DATASET_ROWS = list(csv.DictReader(_fh))
SYSTEM_COLUMNS = ["metal", "salt", "anion", "salt_conc_M", "solvent", "solvent_ratio",
                  "additive", "additive_conc_M", "coating", "coating_thickness_um", "cell_type",
                  "current_density_mA_cm2", "areal_capacity_mAh_cm2", "temperature_C"]

INJECTIONS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)", '=HYPERLINK("http://x","y")',
              "\t=1+1", "\r=1+1", "=1+1", "-", "+", "@"]
WEIRD_TEXT = ["", " ", "\x00", "TF\x00SI", "\ufeffDME", "\u202eISFT\u202c", "\u200fTFSI",
              "D\u0301ME", "TFSI\u0308", "🔋", "Mg🧪", "שלום", "مرحبا", "\u200b", "a\u2028b",
              "a\x85b", "a\x0cb", "a\x1eb", "a\r\nb", "a\nb", '"', '""', '"TFSI', "'", ",",
              "a,b", ";", "\\", "None", "NULL", "null", "#N/A", "N/A", "NA", "-", "?", "∅",
              "x" * 3000, "C" * 150, "[Fe]", "*", "C(", "[Mg+2]", "Mg-O", "none:MgO", "::",
              "TFSI:", "DME::THF", "\U0010ffff", "\ud7ff", "\t", " TFSI "]
NUMBERS = ["0", "-0", "+0", "0.0", "-0.0", "1e308", "1e309", "-1e309", "1e-400", "4.9e-324",
           "nan", "NaN", "-nan", "+NAN", "nan(1)", "inf", "-inf", "Infinity", "-Infinity",
           "INF", "∞", "1_0", "٠.٥", "０.５", "1,5", "0x10", "1e", "e5", ".", "1.5.2", "5.",
           ".5", "+.5", "1E3", " 0.5 ", "0.5\x00", "20", "20.0000000001", "200", "1e2",
           "-100", "300", "300.5", "1e-300", "9" * 400, "-0.5", "0.5", "0.1"]
RATIOS = ["1:1", "1:2", "0:1", "1:0", "1e309:1", "9" * 400 + ":1", "١:٢", "1:", ":1", "1::1",
          "-1:1", "1.5:1", "1;1", "1/1", "1:1:1"]
ADVERSARIAL = INJECTIONS + WEIRD_TEXT + NUMBERS + RATIOS


def _column_pool(column: str) -> list[str]:
    return sorted({r[column] for r in DATASET_ROWS if r.get(column, "").strip()})


# ----------------------------------------------------------------------------- strategies
# text of any code point except surrogates (they cannot be written as UTF-8)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
adversarial_cell = st.one_of(st.sampled_from(ADVERSARIAL), any_text,
                             st.floats(allow_nan=True, allow_infinity=True).map(repr),
                             st.integers(-10**30, 10**30).map(str))


def cell_for(column: str | None) -> st.SearchStrategy[str]:
    """Cells for ``column``: mostly values from the data set, else adversarial ones."""
    pool = _column_pool(column) if column in COLUMN_BY_NAME else []
    if not pool:
        return adversarial_cell
    return st.one_of(st.sampled_from(pool), adversarial_cell)


header_name = st.one_of(st.sampled_from(COLUMN_NAMES), st.sampled_from(
    ["extra_note", "extra_=cmd", "", " metal", "Metal", "=cmd|' /C calc'!A0", "anion ",
     "current_density", "met\x00al", "\ufeffmetal", "extra_🔋", "#"]), any_text)


@st.composite
def tables(draw) -> tuple[list[str], list[list[str]]]:
    """(header, rows) with random columns (duplicates possible) and sometimes ragged rows."""
    header = draw(st.lists(header_name, max_size=7))
    if draw(st.booleans()):
        header = [*SYSTEM_REQUIRED, *header]
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        width = len(header)
        if draw(st.integers(0, 7)) == 0:  # ragged
            width = draw(st.integers(0, len(header) + 2))
        rows.append([draw(cell_for(header[i] if i < len(header) else None))
                     for i in range(width)])
    return header, rows


@st.composite
def csv_bytes(draw) -> bytes:
    """A table written as a CSV file in many ways: quoted or not, \\n, \\r\\n or \\r line ends,
    with or without BOM, sometimes not UTF-8."""
    header, rows = draw(tables())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=newline).writerows([header, *rows])
        text = buffer.getvalue()
    else:  # written by hand: commas, quotes and line breaks inside cells are not escaped
        text = newline.join(",".join(r) for r in [header, *rows])
        text += draw(st.sampled_from(["", newline, newline * 3]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["latin-1", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@st.composite
def system_tables(draw) -> tuple[list[str], list[list[str]]]:
    """System tables built from data-set rows (so most validate), with a few cells replaced by
    adversarial values; for featurize and predict."""
    optional = draw(st.lists(st.sampled_from(SYSTEM_COLUMNS[4:] + ["salt", "extra_note"]),
                             unique=True, max_size=5))
    header = list(dict.fromkeys([*SYSTEM_REQUIRED, "salt_conc_M", *optional]))
    base = draw(st.lists(st.sampled_from(DATASET_ROWS), min_size=1, max_size=4))
    rows = [[r.get(c, "") for c in header] for r in base]
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(rows) - 1))
        j = draw(st.integers(0, len(header) - 1))
        rows[i][j] = draw(adversarial_cell)
    return header, rows


# ----------------------------------------------------------------------------- helpers
@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per hypothesis example."""
    with tempfile.TemporaryDirectory(prefix="mgscreen-robust-") as name:
        yield Path(name)


def run(*args: object) -> Result:
    """Invoke the CLI in-process; fail on any uncaught exception or traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__} for {args}: "
                             f"{result.exception!r}") from result.exception
    assert "Traceback" not in result.output, result.output
    return result


def assert_clear_failure(result: Result, path: Path) -> None:
    """Exit 1 with the file named (and row/line consistent), or a usage error (2)."""
    assert result.exit_code in (1, 2), result.output
    if result.exit_code == 1:
        assert str(path) in result.output, result.output
        for row, line in PROBLEM_LINE.findall(result.output):
            assert int(line) == int(row) + 1


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def assert_spreadsheet_safe(path: Path) -> list[dict[str, str]]:
    """Every cell of a CSV written by mgscreen either does not start like a formula or is a
    plain number; returns the rows."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for column, cell in row.items():
            if cell and cell.startswith(FORMULA_START):
                assert is_number(cell), f"{path.name}: {column}={cell!r} would run as a formula"
    return rows


def leftovers(directory: Path, keep: set[str]) -> list[str]:
    """Files in ``directory`` other than ``keep`` (e.g. temporary files of an atomic write)."""
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def count_problems(output: str) -> int:
    found = re.search(r"(\d+) problem\(s\)", output)
    assert found, output
    return int(found.group(1))


# ----------------------------------------------------------------------------- read/validate
@settings(max_examples=120, **FAST)
@given(data=st.one_of(csv_bytes(), st.binary(max_size=300)),
       mode=st.sampled_from(["dataset", "systems"]))
def test_validate_any_file_ends_in_success_or_clear_error(data, mode):
    with scratch() as tmp:
        path = tmp / "in.csv"
        path.write_bytes(data)
        report = tmp / "report.csv"
        result = run("data", "validate", path, "--mode", mode, "--report", report)
        raw, problems = check_file(path, mode=mode, component_check=featurization_check())
        if result.exit_code == 0:
            assert errors_of(problems) == []
            assert ("no problems" in result.output) == (problems == [])  # else: warnings
            typed = load_table(path, mode=mode)  # anything that validates can be typed
            assert len(typed) == len(raw) >= 1
            for name, spec in COLUMN_BY_NAME.items():
                if spec.kind == "number":
                    values = typed[name].dropna()
                    assert values.map(math.isfinite).all()
        else:
            assert_clear_failure(result, path)
            assert result.exit_code == 1
            assert count_problems(result.output) == len(errors_of(problems)) >= 1
        written = assert_spreadsheet_safe(report)  # written whether or not there are problems
        assert len(written) == len(problems)
        assert [r["row"] for r in written] == ["" if p.row is None else str(p.row)
                                               for p in problems]
        assert leftovers(tmp, {"in.csv", "report.csv"}) == []


@settings(max_examples=60, **FAST)
@given(header=st.lists(any_text.map(str.strip).filter(
           lambda h: h and not set(h) & {"#", "\r", "\n"} and not h.startswith("\ufeff")),
                       min_size=1, max_size=4, unique=True),
       cells=st.lists(st.lists(any_text, min_size=4, max_size=4), min_size=1, max_size=4),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_read_table_returns_exactly_the_cells_a_csv_writer_wrote(header, cells, newline):
    """Line separators other than \\n, \\r\\n, \\r (U+2028, NEL, form feed, ...) and quoted
    line breaks stay inside their cell; nothing is coerced."""
    if newline != "\r\n":  # csv.writer quotes only the characters of its line terminator
        cells = [[c.replace("\r", "").replace("\n", "") for c in r] for r in cells]
    rows = [r[:len(header)] for r in cells if any(c.strip() for c in r[:len(header)])]
    with scratch() as tmp:
        path = tmp / "t.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator=newline).writerows([header, *rows])
        if not rows:
            with pytest.raises(DataValidationError, match="no data rows"):
                read_table(path)
            return
        table = read_table(path)
    assert list(table.columns) == header
    assert table.to_numpy().tolist() == rows


@settings(max_examples=150, **FAST)
@given(text=st.one_of(st.sampled_from(NUMBERS), any_text,
                      st.floats(allow_nan=True, allow_infinity=True).map(repr)),
       column=st.sampled_from(["salt_conc_M", "temperature_C", "cycle_life_cycles"]))
def test_a_number_cell_is_accepted_only_if_plain_finite_and_in_range(text, column, library):
    table = pd.DataFrame({"metal": ["Mg"], "anion": ["TFSI"], "solvent": ["DME"],
                          "coating": ["none"], column: [text]}, dtype=object)
    table.index = pd.RangeIndex(1, 2)
    problems = [p for p in validate(table, library, file="t.csv", mode="systems")
                if p.column == column]
    spec = COLUMN_BY_NAME[column]
    stripped = text.strip()
    plain = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", stripped, re.ASCII)
    if not stripped:
        assert problems == []  # blank means unknown
        return
    ok = bool(plain) and math.isfinite(float(stripped))
    if ok:
        value = float(stripped)
        ok = (value > spec.low if spec.low_open else value >= spec.low) and value <= spec.high
        ok = ok and (not spec.integer or value == int(value))
    assert (problems == []) == ok, (text, problems)
    if problems:
        (problem,) = problems
        assert problem.row == 1 and problem.value == text
        assert "expected" in problem.message or "accepted" in problem.message or (
            "whole number" in problem.message)
    else:
        typed = to_typed_frame(table)
        assert typed[column].iloc[0] == float(stripped)


SYSTEM_HEADER = "metal,anion,solvent,coating,salt_conc_M,current_density_mA_cm2"
EXPLICIT = [  # (id, bytes, mode, exit code, text in the output)
    ("empty file", b"", "systems", 1, "empty file"),
    ("BOM only", "\ufeff".encode(), "systems", 1, "empty file"),
    ("only blank lines", b"\n\r\n\n", "systems", 1, "empty file"),
    ("header only", f"{SYSTEM_HEADER}\n".encode(), "systems", 1, "no data rows"),
    ("header and blank lines", f"{SYSTEM_HEADER}\n\n,,,,,\n".encode(), "systems", 1,
     "no data rows"),
    ("latin-1 bytes", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1,µ\n".encode("latin-1"),
     "systems", 1, "not valid UTF-8 at byte"),
    ("UTF-16", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n".encode("utf-16"), "systems", 1,
     "not valid UTF-8"),
    ("BOM and CRLF", f"\ufeff{SYSTEM_HEADER}\r\nMg,TFSI,DME,none,0.5,0.1\r\n".encode(),
     "systems", 0, "1 rows, no problems"),
    ("old Mac CR", f"{SYSTEM_HEADER}\rMg,TFSI,DME,none,0.5,0.1\r".encode(), "systems", 0,
     "1 rows, no problems"),
    ("U+2028 in a cell", f"{SYSTEM_HEADER},extra_note\nMg,TFSI,DME,none,0.5,0.1,a\u2028b\n"
     "Mg,TFSI,DME,none,0.5,0.1,c\x0cd\x85e\n".encode(), "systems", 0, "2 rows, no problems"),
    ("NUL in a cell", f"{SYSTEM_HEADER}\nMg,TF\x00SI,DME,none,0.5,0.1\n".encode(), "systems",
     1, "value 'TF\\x00SI': unknown anion"),
    ("NUL in the header", b"met\x00al,anion,solvent,coating\nMg,TFSI,DME,none\n", "systems",
     1, "column 'met\\x00al': unknown column; did you mean 'metal'?"),
    ("ragged row", f"{SYSTEM_HEADER}\nMg,TFSI\n".encode(), "dataset", 1,
     "row 1 (line 2): has 2 fields but the header has 6"),
    ("unclosed quote", f'{SYSTEM_HEADER}\nMg,"TFSI,DME,none,0.5,0.1\n'.encode(), "systems",
     1, "has 2 fields but the header has 6"),
    ("cell over the CSV field limit", f"{SYSTEM_HEADER}\nMg,{'A' * 200_000},DME,none,0.5,0.1\n"
     .encode(), "systems", 1, "a cell is longer than 131072 characters"),
    ("very long component", f"{SYSTEM_HEADER}\nMg,{'A' * 5000},DME,none,0.5,0.1\n".encode(),
     "systems", 1, "5000 characters; a component is at most 1000"),
    ("huge SMILES", f"{SYSTEM_HEADER}\nMg,TFSI,{'C' * 150},none,0.5,0.1\n".encode(), "systems",
     1, "has 150 heavy atoms; a SMILES is accepted up to 100"),
    ("duplicate column", b"metal,anion,anion,solvent,coating\nMg,TFSI,TFSI,DME,none\n",
     "systems", 1, "column 'anion': duplicate column name"),
    ("1e308", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,1e308,0.1\n".encode(), "systems", 1,
     "value '1e308': out of range; accepted: > 0 and <= 20 mol L^-1"),
    ("1e309", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,1e309,0.1\n".encode(), "systems", 1,
     "value '1e309': not a finite number"),
    ("-0", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,-0,0.1\n".encode(), "systems", 1,
     "never write 0 for unknown"),
    ("NaN", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,NaN,0.1\n".encode(), "systems", 1,
     "value 'NaN': not a finite number"),
    ("-Infinity", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,-Infinity\n".encode(), "systems", 1,
     "value '-Infinity': not a finite number"),
    ("Arabic-Indic digits", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,٠.٥,0.1\n".encode(),
     "systems", 1, "not a plain number"),
    ("full-width digits", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,０.５,0.1\n".encode(),
     "systems", 1, "not a plain number"),
    ("digit separator", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0_5,0.1\n".encode(), "systems", 1,
     "value '0_5': not a plain number"),
    ("decimal comma", f'{SYSTEM_HEADER}\nMg,TFSI,DME,none,"0,5",0.1\n'.encode(), "systems", 1,
     "value '0,5': not a number"),
    ("zero ratio part", b"metal,anion,solvent,solvent_ratio,coating\nMg,TFSI,DME:THF,0:1,none\n",
     "systems", 1, "every part must be a positive finite number"),
    ("overflowing ratio", f"metal,anion,solvent,solvent_ratio,coating\nMg,TFSI,DME:THF,"
     f"{'9' * 400}:1,none\n".encode(), "systems", 1, "positive finite number"),
    ("RTL override", f"{SYSTEM_HEADER}\nMg,\u202eISFT,DME,none,0.5,0.1\n".encode(), "systems",
     1, "value '\\u202eISFT': unknown anion"),
    ("combining mark", f"{SYSTEM_HEADER}\nMg,TFSI,D\u0301ME,none,0.5,0.1\n".encode(),
     "systems", 1, "unknown solvent"),
    ("emoji", f"{SYSTEM_HEADER}\nMg,🔋,DME,none,0.5,0.1\n".encode(), "systems", 1,
     "value '🔋': unknown anion"),
    ("formula injection in a component",
     f"{SYSTEM_HEADER}\nMg,=cmd|' /C calc'!A0,+1+1,@SUM(1),0.5,0.1\n".encode(), "systems", 1,
     "unknown anion \"=cmd|' /C calc'!A0\""),
    ("formula injection as a number", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,-2+3,0.1\n".encode(),
     "systems", 1, "value '-2+3': not a number"),
    ("formula injection in free text", b"metal,salt,anion,solvent,coating,extra_note\n"
     b"Mg,=cmd|' /C calc'!A0,TFSI,DME,none,@SUM(1)\n", "systems", 0, "1 rows, no problems"),
    ("number in a category column", b"metal,anion,solvent,coating,cell_type\n"
     b"12,TFSI,DME,none,3.5\n", "systems", 1, "value '12': not an accepted value"),
    ("text in a boolean column", b"metal,anion,solvent,coating,cycle_life_h,cycle_life_censored"
     b"\nMg,TFSI,DME,none,100,yes\n", "systems", 1, "value 'yes': must be true or false"),
    ("fraction in a whole-number column", b"metal,anion,solvent,coating,cycle_life_cycles,"
     b"cycle_life_censored\nMg,TFSI,DME,none,10.5,false\n", "systems", 1,
     "value '10.5': must be a whole number"),
    ("dataset row without provenance", f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n".encode(),
     "dataset", 1, "column 'source': missing required column"),
]


@pytest.mark.parametrize(("data", "mode", "code", "expected"), [c[1:] for c in EXPLICIT],
                         ids=[c[0] for c in EXPLICIT])
def test_explicit_bad_input(tmp_path, data, mode, code, expected):
    path = tmp_path / "cells.csv"
    path.write_bytes(data)
    report = tmp_path / "report.csv"
    result = run("data", "validate", path, "--mode", mode, "--report", report)
    assert result.exit_code == code, result.output
    assert expected in result.output
    if code:
        assert_clear_failure(result, path)
    if report.exists():
        assert_spreadsheet_safe(report)
    assert leftovers(tmp_path, {"cells.csv", "report.csv"}) == []


def test_every_problem_is_in_the_report_when_the_screen_shows_200(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("metal,anion,solvent,coating\n" + "Zn,TFSI,DME,none\n" * 250,
                    encoding="utf-8")
    report = tmp_path / "report.csv"
    result = run("data", "validate", path, "--mode", "systems", "--report", report)
    assert result.exit_code == 1
    assert "250 problem(s)" in result.output and "... and 50 more" in result.output
    rows = assert_spreadsheet_safe(report)
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 251)]
    assert rows[-1]["line"] == "251" and rows[-1]["value"] == "Zn"


def test_long_cell_values_are_shortened_in_messages_not_in_the_report(tmp_path):
    value = "Q" * 5000
    path = tmp_path / "long.csv"
    path.write_text(f"{SYSTEM_HEADER}\nMg,{value},DME,none,0.5,0.1\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    result = run("data", "validate", path, "--mode", "systems", "--report", report)
    assert result.exit_code == 1
    assert "(5000 characters)" in result.output and value not in result.output
    (row,) = assert_spreadsheet_safe(report)
    assert row["value"] == value and row["column"] == "anion"


def test_report_neutralizes_formulas_and_keeps_numbers(tmp_path):
    path = tmp_path / "inject.csv"
    path.write_text("metal,anion,solvent,coating,current_density_mA_cm2,temperature_C\n"
                    "Mg,=cmd|' /C calc'!A0,+1+1,@SUM(1),-0.5,-2+3\n"
                    "Mg,\t=1+1,DME,none,-1e-3,-500\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    result = run("data", "validate", path, "--mode", "systems", "--report", report)
    assert result.exit_code == 1
    rows = assert_spreadsheet_safe(report)
    values = {(r["row"], r["column"]): r["value"] for r in rows}
    assert values[("1", "anion")] == "'=cmd|' /C calc'!A0"
    assert values[("1", "solvent")] == "'+1+1"
    assert values[("1", "coating")] == "'@SUM(1)"
    assert values[("1", "temperature_C")] == "'-2+3"
    assert values[("2", "anion")] == "'\t=1+1"
    assert values[("1", "current_density_mA_cm2")] == "-0.5"  # a number stays a number
    assert values[("2", "current_density_mA_cm2")] == "-1e-3"
    assert values[("2", "temperature_C")] == "-500"


@settings(max_examples=80, **FAST)
@given(text=st.lists(st.one_of(st.sampled_from(INJECTIONS + NUMBERS), any_text), min_size=1,
                     max_size=5),
       numbers=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1,
                        max_size=5))
def test_atomic_write_csv_neutralizes_text_but_not_numbers(text, numbers):
    n = min(len(text), len(numbers))
    frame = pd.DataFrame({"text": text[:n], "number": numbers[:n]})
    with scratch() as tmp:
        path = atomic_write_csv(frame, tmp / "out.csv")
        assert leftovers(tmp, {"out.csv"}) == []
        with path.open(newline="", encoding="utf-8") as fh:
            back = list(csv.DictReader(fh))
    assert len(back) == n
    for original, row in zip(frame.itertuples(index=False), back, strict=True):
        if original.text.startswith(FORMULA_START) and not is_number(original.text):
            assert row["text"] == "'" + original.text
        else:
            assert row["text"] == original.text
        if math.isnan(original.number):
            assert row["number"] == ""
        else:  # -0.5 stays -0.5, -0.0 stays -0.0, inf stays inf: numbers are never quoted
            assert float(row["number"]) == original.number
            assert math.copysign(1, float(row["number"])) == math.copysign(1, original.number)
    assert neutralize_formulas(frame)["number"].equals(frame["number"])


def test_unwritable_report_is_a_clear_error(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n", encoding="utf-8")
    (tmp_path / "report.csv").mkdir()
    result = run("data", "validate", path, "--mode", "systems", "--report",
                 tmp_path / "report.csv")
    assert result.exit_code == 1
    assert f"{tmp_path / 'report.csv'} (--report): is a directory; give a file name" \
        in result.output
    assert leftovers(tmp_path, {"ok.csv", "report.csv"}) == []


def test_input_that_is_a_directory_or_missing(tmp_path):
    result = run("data", "validate", tmp_path)
    assert result.exit_code == 1 and f"{tmp_path}: is a directory" in result.output
    result = run("data", "validate", tmp_path / "nope.csv")
    assert result.exit_code == 1 and "nope.csv: file not found" in result.output




# ----------------------------------------------------------------------------- featurize
@pytest.fixture(scope="module")
def dataset_features():
    """Featurize the data set once: fills the session's private feature cache (so the
    featurize/predict examples below, built from data-set components, are quick)."""
    from screen.learn.train import featurize_dataset

    return featurize_dataset()


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


@settings(max_examples=25, **FAST)
@given(table=system_tables(), on_error=st.sampled_from(["raise", "nan"]))
def test_featurize_ends_in_a_complete_file_or_a_clear_error(dataset_features, table, on_error):
    header, rows = table
    with scratch() as tmp:
        path = write_rows(tmp / "systems.csv", header, rows)
        _, problems = check_file(path, mode="systems", component_check=featurization_check())
        problems = errors_of(problems)
        out = tmp / "features.parquet"
        result = run("featurize", path, "--out", out, "--on-error", on_error)
        if result.exit_code == 0:
            features = pd.read_parquet(out)
            assert features["row"].tolist() == list(range(1, len(rows) + 1))
            assert features.shape[1] == dataset_features.matrix.shape[1] + 1
            only_components = all(p.rule == "component" for p in problems)
            assert problems == [] or (on_error == "nan" and only_components)
        else:
            assert_clear_failure(result, path)
            assert not out.exists()
            assert problems or COMPONENT_FAILURE.search(result.output), result.output
        assert leftovers(tmp, {"systems.csv", "features.parquet"}) == []


def test_featurize_component_that_xtb_cannot_handle(tmp_path, dataset_features):
    path = tmp_path / "h.csv"
    path.write_text("metal,anion,solvent,coating\nMg,TFSI,[H],none\nMg,TFSI,DME,none\n",
                    encoding="utf-8")
    out = tmp_path / "f.parquet"
    result = run("featurize", path, "--out", out)
    assert result.exit_code == 1 and not out.exists()
    assert (f"{path}, row 1 (line 2), column 'solvent', value '[H]': the solvent is a single "
            "atom (H)") in " ".join(result.output.split())
    result = run("featurize", path, "--out", out, "--on-error", "nan")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 component(s) could not be featurized (NaN written in their rows)" in text
    assert "column 'solvent', value '[H]' (row(s) 1): the solvent is a single atom (H)" in text
    features = pd.read_parquet(out)
    solvent = [c for c in features.columns if c.startswith("solvent__")]
    assert features.loc[0, solvent].isna().all() and features.loc[1, solvent].notna().any()
    assert leftovers(tmp_path, {"h.csv", "f.parquet"}) == []


def test_featurize_output_that_is_a_directory(tmp_path, dataset_features):
    path = tmp_path / "ok.csv"
    path.write_text(f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    result = run("featurize", path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{tmp_path / 'out'} (--out): is a directory; give a file name" in result.output
    assert leftovers(tmp_path, {"ok.csv", "out"}) == []


def test_file_names_with_rich_markup_are_printed_as_written(tmp_path, dataset_features):
    folder = tmp_path / "[bold]x[" / "y]"  # the path contains the text '[/y]'
    folder.mkdir(parents=True)
    path = folder / "[red]in.csv"
    path.write_text(f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n", encoding="utf-8")
    result = run("data", "validate", path, "--mode", "systems")
    assert result.exit_code == 0 and f"{path}: 1 rows, no problems" in result.output
    out = folder / "[/red]f.parquet"  # in the folder '[' (outputs go to existing folders)
    out.parent.mkdir()
    result = run("featurize", path, "--out", out)
    assert result.exit_code == 0 and f"{out}: 1 rows x " in result.output


def test_featurize_bad_option_is_a_usage_error(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(f"{SYSTEM_HEADER}\nMg,TFSI,DME,none,0.5,0.1\n", encoding="utf-8")
    result = run("featurize", path, "--out", tmp_path / "f.parquet", "--on-error", "ignore")
    assert result.exit_code == 2 and "'ignore'; accepted: raise, nan" in result.output


# ----------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def model_store(fast_model_store, dataset_features) -> str:
    """A tracking store whose champions are small, quickly trained models of all targets."""
    return fast_model_store


@settings(max_examples=8, **FAST)
@given(table=system_tables())
def test_predict_ends_in_complete_predictions_or_a_clear_error(model_store, table):
    header, rows = table
    with scratch() as tmp:
        path = write_rows(tmp / "systems.csv", header, rows)
        _, problems = check_file(path, mode="systems", component_check=featurization_check())
        problems = errors_of(problems)
        out = tmp / "pred.csv"
        result = run("predict", path, "--out", out, "--tracking-uri", model_store)
        if problems:
            assert result.exit_code == 1, result.output
        if result.exit_code == 0:
            written = assert_spreadsheet_safe(out)
            assert [r["row"] for r in written] == [str(i) for i in range(1, len(rows) + 1)]
            assert all(0 <= float(r["p_passivating"]) <= 1 for r in written)
        else:
            assert_clear_failure(result, path)
            assert not out.exists()
            assert problems or COMPONENT_FAILURE.search(result.output), result.output
        assert leftovers(tmp, {"systems.csv", "pred.csv"}) == []


def test_predict_output_neutralizes_injected_text(model_store, tmp_path):
    path = tmp_path / "inject.csv"
    path.write_text("metal,salt,anion,salt_conc_M,solvent,coating\n"
                    "Mg,=cmd|' /C calc'!A0,TFSI,0.5,DME,none\n"
                    "Mg,@SUM(1),TFSI,0.25,THF,none\n"
                    "Mg,-2+3,TFSI,0.5,DME,none\n", encoding="utf-8")
    out = tmp_path / "pred.csv"
    result = run("predict", path, "--out", out, "--tracking-uri", model_store)
    assert result.exit_code == 0, result.output
    rows = assert_spreadsheet_safe(out)
    assert [r["salt"] for r in rows] == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3"]
    assert [float(r["salt_conc_M"]) for r in rows] == [0.5, 0.25, 0.5]
    assert all(is_number(r["overpotential_V_pred"]) for r in rows)


@pytest.mark.parametrize(("body", "expected"), [
    ("Mg,TFSX,DME,none", "column 'anion', value 'TFSX': unknown anion 'TFSX'"),
    ("Mg,TFSI,tetrahydrofuranne,none", "unknown solvent 'tetrahydrofuranne'"),
    ("Mg,TFSI,DME,unobtainium", "unknown coating 'unobtainium'"),
    ("Li,TFSI,DME,none", "value 'Li': not an accepted value"),
    ("Mg,TFSI,[H],none", "column 'solvent', value '[H]': the solvent is a single atom (H)"),
    ("Mg,TFSI,[CH3],none", "column 'solvent', value '[CH3]': the solvent SMILES has 1 "
     "unpaired electron(s) (a radical)"),
    ("Mg,[H-],DME,none", "column 'anion', value '[H-]': the anion is a single atom (H)"),
    ("Mg,TFSI,DME,He", "column 'coating', value 'He': coating 'He' (phase 'He'): Magpie has "
     "no data for element He"),
    ("Mg,TFSI,[U],none", "column 'solvent', value '[U]': the solvent SMILES contains U "
     "(Z > 86)"),
    ("", "no data rows"),
], ids=["unknown anion", "unknown solvent", "unknown coating", "unknown metal",
        "single atom solvent", "radical solvent", "single atom anion",
        "no element data for coating", "element beyond Rn", "header only"])
def test_predict_unknown_or_unfeaturizable_component(model_store, tmp_path, body, expected):
    path = tmp_path / "c.csv"
    path.write_text(f"metal,anion,solvent,coating\n{body}\n", encoding="utf-8")
    out = tmp_path / "pred.csv"
    result = run("predict", path, "--out", out, "--tracking-uri", model_store)
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split()) and str(path) in result.output
    assert leftovers(tmp_path, {"c.csv"}) == []


# ----------------------------------------------------------------------------- console script
MGSCREEN = Path(sys.executable).with_name("mgscreen")


@pytest.mark.skipif(not MGSCREEN.is_file(), reason="console script not installed")
def test_console_script_prints_any_cell_on_a_non_utf8_terminal(tmp_path):
    """A cp1252 stdout (Windows, output redirected) cannot encode an emoji or RTL text: the
    problem is still printed (escaped), with exit status 1 and no traceback."""
    path = tmp_path / "emoji.csv"
    path.write_text("metal,anion,solvent,coating\nMg,🔋,\u05e9\u05dc\u05d5\u05dd,none\n",
                    encoding="utf-8")
    env = dict(os.environ, PYTHONIOENCODING="cp1252", COLUMNS="200")
    done = subprocess.run([str(MGSCREEN), "data", "validate", str(path), "--mode", "systems"],
                          capture_output=True, timeout=120, check=False, env=env)
    out = done.stdout.decode("cp1252") + done.stderr.decode("cp1252")
    assert done.returncode == 1, out
    assert "Traceback" not in out and "UnicodeEncodeError" not in out
    assert "row 1 (line 2), column 'anion', value '\\U0001f50b': unknown anion" in out
    assert "2 problem(s)" in out


@pytest.mark.skipif(not MGSCREEN.is_file(), reason="console script not installed")
def test_console_script_on_a_nasty_file(tmp_path):
    path = tmp_path / "nasty.csv"
    path.write_bytes("\ufeffmetal,anion,solvent,coating,salt_conc_M\r\n"
                     "Mg,TF\x00SI,\u202eEMD,=cmd|' /C calc'!A0,1e309\r\n".encode())
    report = tmp_path / "report.csv"
    done = subprocess.run([str(MGSCREEN), "data", "validate", str(path), "--mode", "systems",
                           "--report", str(report)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "4 problem(s)" in done.stdout
    assert "column 'salt_conc_M', value '1e309': not a finite number" in done.stdout
    rows = assert_spreadsheet_safe(report)
    assert {r["column"] for r in rows} == {"anion", "solvent", "coating", "salt_conc_M"}
