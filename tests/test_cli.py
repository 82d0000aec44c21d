"""The `mgscreen` command line: exit codes and messages."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from screen.cli import app

runner = CliRunner()


def test_validate_clean_file(interfaces_path):
    result = runner.invoke(app, ["data", "validate", str(interfaces_path)])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_validate_corrupted_file_exits_nonzero_with_location(write_copy, tmp_path):
    def corrupt(header, rows):
        rows[2]["current_density_mA_cm2"] = "-3"
        rows[6]["anion"] = "=cmd|' /C calc'!A0"

    path = write_copy(corrupt)
    report = tmp_path / "problems.csv"
    result = runner.invoke(app, ["data", "validate", str(path), "--report", str(report)])
    assert result.exit_code == 1
    assert "row 3 (line 4), column 'current_density_mA_cm2', value '-3'" in result.output
    assert "2 problem(s)" in result.output
    with report.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["row"], r["column"]) for r in rows] == [("3", "current_density_mA_cm2"),
                                                       ("7", "anion")]
    assert rows[1]["value"].startswith("'=")  # a spreadsheet will not run it


def test_validate_missing_file():
    result = runner.invoke(app, ["data", "validate", "does-not-exist.csv"])
    assert result.exit_code == 1 and "file not found" in result.output


def test_validate_bad_mode(interfaces_path):
    result = runner.invoke(app, ["data", "validate", str(interfaces_path), "--mode", "x"])
    assert result.exit_code == 2


def test_info_prints_summary():
    result = runner.invoke(app, ["data", "info"])
    assert result.exit_code == 0, result.output
    for text in ("Rows per metal", "Rows per anion family", "Rows per coating class",
                 "right-censored"):
        assert text in result.output


def test_info_on_bad_file_exits_nonzero(write_copy):
    def corrupt(header, rows):
        rows[0]["metal"] = "Li"

    result = runner.invoke(app, ["data", "info", str(write_copy(corrupt))])
    assert result.exit_code == 1 and "accepted: Mg, Ca" in result.output


MGSCREEN = Path(sys.executable).with_name("mgscreen")


@pytest.mark.skipif(not MGSCREEN.is_file(), reason="console script not installed")
def test_console_script_quickstart(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([str(MGSCREEN), "quickstart"], capture_output=True, text=True,
                          timeout=600, check=False, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Data set and component library are valid" in done.stdout
    assert "Models trained and logged" in done.stdout
    assert (tmp_path / "mlflow.db").is_file()  # the default store is in the working directory


@pytest.mark.parametrize("verb", [["predict", "x.csv", "--out", "p.csv"], ["design"]])
def test_bad_model_uri_is_a_usage_error(verb):
    result = runner.invoke(app, [*verb, "--model-uri", "lifetime=runs:/abc/model"])
    assert result.exit_code == 2
    assert "Invalid value for --model-uri" in result.output
    assert "'lifetime=runs:/abc/model'" in result.output
