"""No silent loss, no late failure (issue 13): the output contract, the one candidate check,
the model store's errors and the warnings users need.

Every CLI case asserts the exit status, the file/row/column/value (or path, store) the message
names, and that no input or output file was changed (``files_of`` before and after).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.data.outputs import Output, OutputError, OutputPlan, commit, file_kind

HEADER = ("metal,salt,anion,salt_conc_M,solvent,solvent_ratio,additive,additive_conc_M,coating,"
          "coating_thickness_um,cell_type,current_density_mA_cm2,areal_capacity_mAh_cm2,"
          "temperature_C")
GOOD = ["Mg,,TFSI,0.5,DME,,none,,none,,symmetric,0.5,0.5,25",
        "Mg,,B(hfip)4,0.3,G2,,none,,none,,symmetric,0.5,0.5,25",
        "Mg,,TFSI,0.5,DME:G2,1:1,none,,MgF2,0.05,symmetric,0.5,0.5,25",
        "Ca,,BH4,1.5,THF,,none,,none,,symmetric,1,0.5,25"]
TABLES = (".csv", ".parquet", ".pq")


def run(*args) -> object:
    from screen.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}: {result.output}") \
            from result.exception
    assert "Traceback" not in result.output, result.output
    return result


def text_of(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def files_of(directory: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below ``directory`` (hidden ones included)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory no file can be created in (root ignores permission bits: use /sys)."""
    if os.geteuid() == 0:
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no read-only directory available as root")
        return Path("/sys/kernel")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# ============================================================================ output contract
@pytest.mark.parametrize(("outputs", "expected"), [
    ([("x.csv", "--out", TABLES)], "x.csv (--out): is the input file x.csv"),
    ([("a.csv", "--out", TABLES), ("a.csv", "--report", (".html",))],
     "a.csv: given for both --out and --report"),
    ([("r.xlsx", "--out", TABLES)],
     "r.xlsx (--out): suffix '.xlsx' is not a format --out writes; accepted: .csv, .parquet, "
     ".pq (CSV or Parquet)"),
    ([("ranked", "--out", TABLES)], "ranked (--out): no suffix; accepted: .csv, .parquet, .pq "
     "(CSV or Parquet), e.g. ranked.csv"),
    ([("r.pdf", "--report", (".html", ".htm"))], "accepted: .html, .htm (HTML)"),
    ([("nodir/r.csv", "--out", TABLES)], "nodir/r.csv (--out): directory nodir does not exist"),
    ([("lib.csv", "--out", TABLES)], "lib.csv (--out): the existing file is a Parquet file and "
     "--out writes CSV; refusing to replace a file of another kind"),
    ([("page.csv", "--out", TABLES[:1])], "page.csv (--out): the existing file is an HTML file"),
    ([("sub", "--out", TABLES)], "sub (--out): is a directory; give a file name"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, monkeypatch, outputs, expected):
    monkeypatch.chdir(tmp_path)
    Path("x.csv").write_text("metal\nMg\n")
    pd.DataFrame({"a": [1]}).to_parquet("lib.csv")
    Path("page.csv").write_text("<!DOCTYPE html><html></html>")
    Path("sub").mkdir()
    before = files_of(tmp_path)
    plan = OutputPlan([Output(Path(p), option, suffixes) for p, option, suffixes in outputs],
                      inputs=[Path("x.csv")])
    with pytest.raises(OutputError) as info:
        plan.check()
    assert expected in str(info.value)
    assert files_of(tmp_path) == before


def test_force_replaces_a_file_of_another_kind_and_same_kind_needs_no_force(tmp_path):
    old = tmp_path / "ranked.csv"
    pd.DataFrame({"a": [1]}).to_parquet(old)
    OutputPlan([Output(old, "--out", TABLES)], force=True).check()
    (tmp_path / "same.csv").write_text("a,b\n1,2\n")
    OutputPlan([Output(tmp_path / "same.csv", "--out", TABLES)]).check()
    assert file_kind(old) == "Parquet" and file_kind(tmp_path / "same.csv") == "text"


def test_an_unwritable_directory_is_named_not_a_temporary_file(tmp_path):
    folder = unwritable_directory(tmp_path)
    with pytest.raises(OutputError) as info:
        OutputPlan([Output(folder / "p.csv", "--out", TABLES)]).check()
    message = str(info.value)
    assert f"{folder / 'p.csv'} (--out): cannot write in directory {folder}" in message
    assert ".tmp" not in message and ".partial" not in message


def test_an_output_inside_an_input_directory_is_refused(tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    with pytest.raises(OutputError, match="is inside the input directory"):
        OutputPlan([Output(library / "ranked.parquet", "--out", TABLES)],
                   inputs=[library]).check()


def test_outputs_are_committed_together_or_not_at_all(tmp_path):
    out, report = tmp_path / "r.csv", tmp_path / "r.html"
    out.write_text("old ranking\n")
    plan = OutputPlan([Output(out, "--out", TABLES),
                       Output(report, "--report", (".html",))]).check()
    with pytest.raises(KeyboardInterrupt), plan.staged() as staged:
        staged["--out"].write_text("new ranking\n")
        raise KeyboardInterrupt  # e.g. Ctrl-C while the report is rendered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]
    assert out.read_text() == "old ranking\n"
    with plan.staged() as staged:
        staged["--out"].write_text("new ranking\n")
        staged["--report"].write_text("<html></html>")
    assert out.read_text() == "new ranking\n" and report.read_text() == "<html></html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.html"]


def test_a_signal_during_the_commit_rolls_every_output_back(tmp_path, monkeypatch):
    """SIGINT arriving between the renames is held back, the renames are undone, then the
    interrupt is delivered: the old outputs stay, no new one appears."""
    first, second = tmp_path / "a.csv", tmp_path / "b.html"
    first.write_text("old a\n")
    staged = {Output(first, "--out", TABLES): tmp_path / ".a.new.csv",
              Output(second, "--report", (".html",)): tmp_path / ".b.new.html"}
    for temp in staged.values():
        temp.write_text("new\n")
    real_replace = os.replace
    calls = []

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_signal)
    # Python's own Ctrl-C handler, whatever this process inherited (a shell's background job
    # starts with SIGINT ignored, and an ignored signal is rightly never re-delivered)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            commit(staged)
    finally:
        signal.signal(signal.SIGINT, inherited)
    monkeypatch.setattr(os, "replace", real_replace)
    assert first.read_text() == "old a\n" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


# ---------------------------------------------------------------------------- the CLI verbs
def test_predict_refuses_to_write_over_its_input(tmp_path, fast_model_store):
    path = write(tmp_path / "x.csv", GOOD)
    before = files_of(tmp_path)
    result = run("predict", path, "--out", path, "--tracking-uri", fast_model_store)
    assert result.exit_code == 1
    assert f"{path} (--out): is the input file {path}" in text_of(result)
    assert files_of(tmp_path) == before


def test_rank_with_one_path_for_two_outputs_writes_nothing(tmp_path, fast_model_store):
    path = write(tmp_path / "c.csv", GOOD)
    out = tmp_path / "a.csv"
    before = files_of(tmp_path)
    result = run("rank", path, "--out", out, "--report", out, "--tracking-uri",
                 fast_model_store)
    assert result.exit_code == 1
    assert f"{out}: given for both --out and --report" in text_of(result)
    assert files_of(tmp_path) == before


def test_enumerate_does_not_replace_a_csv_with_parquet(tmp_path):
    out = tmp_path / "my.csv"
    out.write_text("metal,anion\nMg,TFSI\n")
    before = files_of(tmp_path)
    result = run("enumerate", "--out", out, "--include", "anion=TFSI", "--include",
                 "solvent=DME", "--include", "coating=none", "--include", "additive=none")
    assert result.exit_code == 1
    assert f"{out} (--out): suffix '.csv' is not a format --out writes; accepted: .parquet" \
        in text_of(result)
    assert files_of(tmp_path) == before  # no my.csv.json either


@pytest.mark.parametrize(("verb", "option", "name", "accepted"), [
    ("predict", "--out", "p.xlsx", ".csv, .parquet, .pq"),
    ("rank", "--out", "r.xlsx", ".csv, .parquet, .pq"),
    ("rank", "--out", "ranked", ".csv, .parquet, .pq"),
    ("rank", "--report", "r.pdf", ".html, .htm"),
    ("featurize", "--out", "f.xlsx", ".parquet, .pq, .csv"),
    ("design", "--out", "pareto.xlsx", ".csv"),
    ("design", "--plot", "front.svg", ".png"),
    ("tune", "--out", "best.yaml", ".toml"),
    ("data", "--report", "problems.txt", ".csv"),
])
def test_a_wrong_suffix_fails_at_once_naming_the_accepted_ones(tmp_path, verb, option, name,
                                                                accepted):
    """With a store that does not exist: the output is refused first, before any model is
    looked for (and no store file is created)."""
    from screen.learn.config import default_config_path

    path = write(tmp_path / "c.csv", GOOD)
    store = f"sqlite:///{tmp_path / 'no-store' / 'mlflow.db'}"
    args = {"predict": ["predict", path, "--tracking-uri", store],
            "rank": ["rank", path, "--tracking-uri", store],
            "featurize": ["featurize", path],
            "design": ["design", "--tracking-uri", store],
            "tune": ["tune", "--config", default_config_path("passivation"), "--trials", "1",
                     "--storage", tmp_path / "journal.log", "--tracking-uri", store],
            "data": ["data", "validate", path, "--mode", "systems"]}[verb]
    if option == "--report" and verb == "rank":
        args += ["--out", tmp_path / "r.csv"]
    before = files_of(tmp_path)
    result = run(*args, option, tmp_path / name)
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / name} ({option}):" in text_of(result)
    assert f"accepted: {accepted}" in text_of(result)
    assert files_of(tmp_path) == before and not (tmp_path / "no-store").exists()


def test_predict_writes_parquet_and_featurize_writes_csv_by_suffix(tmp_path, fast_model_store):
    path = write(tmp_path / "x.csv", GOOD)
    result = run("predict", path, "--out", tmp_path / "p.parquet", "--tracking-uri",
                 fast_model_store)
    assert result.exit_code == 0, result.output
    assert file_kind(tmp_path / "p.parquet") == "Parquet"
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == len(GOOD)
    result = run("featurize", path, "--out", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    features = pd.read_csv(tmp_path / "f.csv")
    assert file_kind(tmp_path / "f.csv") == "text" and features["row"].tolist() == [1, 2, 3, 4]


def test_an_unwritable_output_directory_is_reported_before_the_work(tmp_path,
                                                                     fast_model_store):
    folder = unwritable_directory(tmp_path)
    path = write(tmp_path / "x.csv", GOOD)
    before = files_of(tmp_path)
    result = run("predict", path, "--out", folder / "p.csv", "--tracking-uri",
                 fast_model_store)
    assert result.exit_code == 1
    assert f"{folder / 'p.csv'} (--out): cannot write in directory {folder}" in text_of(result)
    assert "predictions for" not in result.output and files_of(tmp_path) == before


def test_rank_refuses_to_replace_a_file_of_another_kind_unless_forced(tmp_path,
                                                                      fast_model_store):
    path = write(tmp_path / "c.csv", GOOD)
    out = tmp_path / "ranked.csv"
    pd.DataFrame({"candidate_id": [7]}).to_parquet(out)  # a Parquet file named .csv
    before = files_of(tmp_path)
    result = run("rank", path, "--out", out, "--tracking-uri", fast_model_store)
    assert result.exit_code == 1
    assert f"{out} (--out): the existing file is a Parquet file and --out writes CSV" \
        in text_of(result) and "--force" in text_of(result)
    assert files_of(tmp_path) == before
    result = run("rank", path, "--out", out, "--tracking-uri", fast_model_store, "--force")
    assert result.exit_code == 0, result.output
    assert file_kind(out) == "text" and len(pd.read_csv(out)) == len(GOOD)


def test_ctrl_c_while_the_report_is_written_leaves_neither_output(tmp_path,
                                                                   fast_model_store):
    """A real process (exit status 130 and the clean-up of the console script): the report
    writer is interrupted after the ranked table was written to its temporary file."""
    path = write(tmp_path / "c.csv", GOOD)
    out, report = tmp_path / "r.csv", tmp_path / "r.html"
    out.write_text("old\n")
    before = files_of(tmp_path)
    script = (
        "import sys\n"
        "import screen.screening.report as report\n"
        "def interrupted(*args, **kwargs):\n"
        "    raise KeyboardInterrupt\n"
        "report.write_report = interrupted\n"
        "from screen.cli import main\n"
        "sys.argv = ['mgscreen'] + sys.argv[1:]\n"
        "main()\n")
    done = subprocess.run([sys.executable, "-c", script, "rank", str(path), "--out", str(out),
                           "--report", str(report), "--tracking-uri", fast_model_store],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted (exit status 130)" in done.stderr
    assert files_of(tmp_path) == before  # the old r.csv kept, no report, no temporary file


# ============================================================================ candidate check
BAD_COMPONENTS = [
    ("solvent", "C[U]C", "contains U (Z > 86); GFN2-xTB"),
    ("anion", "[*-]", "contains a dummy atom '*'"),
    ("solvent", "[CH3]", "1 unpaired electron(s) (a radical)"),
    ("anion", "[O-][O-]", "both carry a negative formal charge"),
    ("solvent", "C[Hg]C", "contains Hg: transition-metal"),
    ("anion", "Cl[Fe-](Cl)(Cl)Cl", "contains Fe: transition-metal"),
    ("anion", "[F-]", "is a single atom (F)"),
    ("anion", "CCO", "an anion must carry a negative formal charge"),
    ("solvent_ratio", "1:0", "every part must be a positive finite number"),
    ("solvent_ratio", "0:0", "every part must be a positive finite number"),
    ("solvent", "DME:DME", "names one component twice"),
    ("coating_thickness_um", "0.5", "given but coating is 'none'"),
]


def _with_bad_row(tmp_path: Path, column: str, value: str) -> Path:
    base = GOOD[2] if column == "solvent_ratio" else GOOD[0]  # the mixture row for a ratio
    cells = base.split(",")
    cells[HEADER.split(",").index(column)] = value
    if column == "solvent":
        cells[HEADER.split(",").index("solvent_ratio")] = ""
    return write(tmp_path / "c.csv", [*GOOD, ",".join(cells)])


@pytest.mark.parametrize(("column", "value", "message"), BAD_COMPONENTS,
                         ids=[f"{c}={v}" for c, v, _ in BAD_COMPONENTS])
def test_what_validate_refuses_rank_rejects_and_the_rest_is_ranked(tmp_path, fast_model_store,
                                                                   column, value, message):
    path = _with_bad_row(tmp_path, column, value)
    where = f"{path}, row 5 (line 6), column '{column}', value '{value}': "
    before = files_of(tmp_path)
    result = run("data", "validate", path, "--mode", "systems")
    assert result.exit_code == 1
    assert where in text_of(result) and message in text_of(result)
    result = run("rank", path, "--out", tmp_path / "r.csv", "--tracking-uri", fast_model_store)
    assert result.exit_code == 1 and where in text_of(result)
    assert files_of(tmp_path) == before
    result = run("rank", path, "--out", tmp_path / "r.csv", "--skip-invalid",
                 "--tracking-uri", fast_model_store)
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(tmp_path / "r.rejects.csv", keep_default_na=False)
    assert rejects["row"].tolist() == [5]
    assert rejects["reason"].iloc[0].startswith(f"{column}={value}: ")
    assert message in rejects["reason"].iloc[0]
    assert sorted(pd.read_csv(tmp_path / "r.csv")["candidate_id"]) == [0, 1, 2, 3]
    assert (tmp_path / "c.csv").read_bytes() == path.read_bytes()


def test_a_component_the_featurizer_refuses_is_caught_by_validate(tmp_path):
    """The static rules let a coating through that matminer has no element data for; the
    featurization check of validate catches it, naming row, column and value."""
    path = write(tmp_path / "c.csv", [GOOD[0], "Mg,,TFSI,0.5,DME,,none,,He,1,symmetric,1,1,25"])
    result = run("data", "validate", path, "--mode", "systems")
    assert result.exit_code == 1
    assert (f"{path}, row 2 (line 3), column 'coating', value 'He': coating 'He' (phase 'He'): "
            "Magpie has no data for element He") in text_of(result)


def test_validate_and_the_candidate_check_find_the_same_problems(tmp_path, library):
    """One set of rules: the row-by-row validation of a CSV and the vectorized check of the
    same file read as a candidate partition agree on every (row, column, message)."""
    from screen.data.candidate_checks import CandidateChecker
    from screen.data.dataset import check_file
    from screen.screening.candidates import Partition, read_partition

    rows = [*GOOD, "Mg,,TFSX,0.5,DME,,none,0.1,none,,symmetric,0.5,0.5,25",
            "Ca,Ca(BH4)2,TFSI,-1,DME:THF,1:0,none,,Mg2Sn,1,symmetric,0,0.5,25",
            "Mg,,[CH3-],0.5,DME:dme,,TEP,,none,2,weird,0.5,0.5,25",
            "Mg,MgCl2,Cl,0.5,G2,,,,MgF2,,,,,"]
    path = write(tmp_path / "c.csv", rows)
    _, problems = check_file(path, library, mode="systems")
    from_validate = sorted((p.row, p.column, p.message, p.severity) for p in problems)
    frame = read_partition(Partition(str(path), 0, len(rows)))
    found = CandidateChecker(library).check(frame, str(path))
    from_checker = sorted(zip(found["row"], found["column"], found["reason"],
                              found["severity"], strict=True))
    assert from_validate == from_checker
    assert {(r, c) for r, c, _, _ in from_validate} >= {
        (5, "anion"), (5, "additive_conc_M"), (6, "salt"), (6, "salt_conc_M"),
        (6, "solvent_ratio"), (6, "coating"), (6, "current_density_mA_cm2"), (7, "solvent"),
        (7, "coating_thickness_um"), (7, "cell_type")}


@pytest.mark.parametrize(("row", "column", "message", "code"), [
    ("Ca,,TFSI,0.5,DME,,none,,Mg2Sn,1,symmetric,0.5,0.5,25", "coating",
     "warning: {path}, row 1 (line 2), column 'coating', value 'Mg2Sn': contains Mg but the "
     "anode metal is Ca", 0),
    ("Mg,Ca(BH4)2,TFSI,0.5,DME,,none,,none,,symmetric,0.5,0.5,25", "salt",
     "{path}, row 1 (line 2), column 'salt', value 'Ca(BH4)2': the salt's anion is BH4 but "
     "column anion says TFSI", 1),
    ("Mg,Ca(TFSI)2,TFSI,0.5,DME,,none,,none,,symmetric,0.5,0.5,25", "salt",
     "warning: {path}, row 1 (line 2), column 'salt', value 'Ca(TFSI)2': a Ca salt with a Mg "
     "anode", 0),
])
def test_chemistry_consistency(tmp_path, row, column, message, code):
    path = write(tmp_path / "c.csv", [row])
    before = files_of(tmp_path)
    result = run("data", "validate", path, "--mode", "systems")
    assert result.exit_code == code, result.output
    assert message.format(path=path) in text_of(result)
    assert files_of(tmp_path) == before


def test_a_coulombic_efficiency_written_as_a_fraction_is_a_warning(write_copy):
    def edit(header, rows):
        rows[:] = [r for r in rows if r["coulombic_efficiency_pct"]][:3]
        rows[1]["coulombic_efficiency_pct"] = "0.995"

    path = write_copy(edit)
    result = run("data", "validate", path)
    assert result.exit_code == 0, result.output
    assert (f"warning: {path}, row 2 (line 3), column 'coulombic_efficiency_pct', value "
            "'0.995': 0.995 % is implausibly low") in text_of(result)
    assert "write 99.5" in text_of(result) and "no errors, 1 warning(s)" in text_of(result)


def test_validate_hints_at_systems_mode_for_a_table_of_systems(tmp_path):
    path = write(tmp_path / "x.csv", GOOD)
    result = run("data", "validate", path)
    assert result.exit_code == 1
    assert f"{path}, column 'source': missing required column" in text_of(result)
    assert f"mgscreen data validate {path} --mode systems" in text_of(result)


def test_featurize_on_error_nan_names_the_column_and_still_writes_every_row(tmp_path):
    """Refused components (by the check, or by the featurizer) become NaN in their rows and
    are listed with their column; a radical the featurizer could compute is refused too."""
    path = write(tmp_path / "x.csv", [*GOOD, "Mg,,[H-],0.5,DME,,none,,none,,symmetric,1,1,25",
                                      "Mg,,TFSX,0.5,DME,,none,,none,,symmetric,1,1,25",
                                      "Mg,,TFSI,0.5,[CH3],,none,,none,,symmetric,1,1,25",
                                      "Mg,,TFSI,0.5,DME,,TFSX,,none,,symmetric,1,1,25"])
    out = tmp_path / "f.parquet"
    result = run("featurize", path, "--out", out, "--on-error", "nan")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.split("\n  column ")[1:]]
    assert "4 component(s) could not be featurized" in text_of(result)
    assert lines[0].startswith("'anion', value '[H-]' (row(s) 5): the anion is a single atom")
    assert lines[1].startswith("'anion', value 'TFSX' (row(s) 6): unknown anion 'TFSX'")
    assert lines[2].startswith("'solvent', value '[CH3]' (row(s) 7): the solvent SMILES has 1 "
                               "unpaired electron(s)")
    # the same bad name as an additive is listed on its own (it once hid the anion's line)
    assert lines[3].startswith("'additive', value 'TFSX' (row(s) 8): unknown solvent 'TFSX'")
    features = pd.read_parquet(out)
    anion = [c for c in features.columns if c.startswith("anion__")]
    solvent = [c for c in features.columns if c.startswith("solvent__")]
    assert features["row"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert features.loc[4:5, anion].isna().all(axis=None)
    assert features.loc[6, solvent].isna().all() and features.loc[6, anion].notna().any()
    assert features.loc[:3, anion + solvent].notna().any(axis=None)


# ============================================================================ the model store
@pytest.fixture
def systems(tmp_path) -> Path:
    return write(tmp_path / "x.csv", GOOD)


@pytest.mark.parametrize("verb", ["predict", "rank", "design"])
def test_a_missing_store_is_named_and_not_created(tmp_path, monkeypatch, systems, verb):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = files_of(tmp_path)
    args = {"predict": ["predict", systems, "--out", "p.csv"],
            "rank": ["rank", systems, "--out", "r.csv"],
            "design": ["design", "--out", "pareto.csv"]}[verb]
    result = run(*args)
    assert result.exit_code == 1
    store = tmp_path.resolve() / "mlflow.db"
    assert (f"from the MLflow store sqlite:///{store}: missing: there is no store file "
            f"{store}") in text_of(result)
    assert "mgscreen train --all" in text_of(result) and "--tracking-uri" in text_of(result)
    assert files_of(tmp_path) == before and not store.exists()


@pytest.mark.parametrize(("content", "expected"), [
    (b"SQLite format 3\x00" + bytes(range(256)) * 16,
     "damaged: {db} cannot be read as a SQLite database"),
    (b"", "damaged: {db} is not an MLflow tracking store"),
    (b"just some text\n", "damaged: {db} cannot be read as a SQLite database"),
], ids=["corrupted", "empty file", "not sqlite"])
def test_a_damaged_store_is_named_and_left_as_it_is(tmp_path, systems, content, expected):
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    before = files_of(tmp_path)
    result = run("predict", systems, "--out", tmp_path / "p.csv", "--tracking-uri",
                 f"sqlite:///{db}")
    assert result.exit_code == 1
    assert f"MLflow store sqlite:///{db}: " + expected.format(db=db) in text_of(result)
    assert "Restore it from a backup" in text_of(result) or "Check the path" in text_of(result)
    assert files_of(tmp_path) == before


def test_an_unreachable_server_is_named(tmp_path, monkeypatch, systems):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    before = files_of(tmp_path)
    result = run("predict", systems, "--out", tmp_path / "p.csv", "--tracking-uri",
                 "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert ("from the MLflow store http://127.0.0.1:9: unreachable: the tracking server did "
            "not answer (connection refused)") in text_of(result)
    assert files_of(tmp_path) == before


def test_an_empty_store_has_no_champion(tmp_path, systems):
    from screen.learn.tracking import Store

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    Store(uri).client.search_experiments()  # a valid MLflow store without models
    before = files_of(tmp_path)
    result = run("predict", systems, "--out", tmp_path / "p.csv", "--tracking-uri", uri)
    assert result.exit_code == 1
    assert f"from the MLflow store {uri}: no champion: no version of mgscreen-" \
        in text_of(result)
    assert "--model-uri" in text_of(result)
    assert files_of(tmp_path) == before


@pytest.mark.parametrize(("uri", "expected"), [
    ("runs:/0123456789abcdef/model", "not found: Run with id=0123456789abcdef not found"),
    ("models:/mgscreen-passivation@champion", "wrong target: "
     "models:/mgscreen-passivation@champion is a passivation model, not an overpotential "
     "model"),
], ids=["wrong run id", "model of another target"])
def test_a_wrong_model_uri_is_explained(tmp_path, fast_model_store, systems, uri, expected):
    before = files_of(tmp_path)
    result = run("predict", systems, "--out", tmp_path / "p.csv", "--tracking-uri",
                 fast_model_store, "--model-uri", f"overpotential={uri}")
    assert result.exit_code == 1
    assert (f"cannot load the overpotential model {uri} from the MLflow store "
            f"{fast_model_store}: {expected}") in text_of(result)
    assert "Untrusted types" not in result.output and files_of(tmp_path) == before


def test_logged_models_carry_their_target(fast_model_store):
    from screen.learn.registry import target_names
    from screen.learn.tracking import Store, champion_uri, registered_model_name
    from screen.learn.tracking.access import model_target

    store = Store(fast_model_store)
    for target in target_names():
        assert model_target(champion_uri(registered_model_name(target)), store) == target


# ============================================================================ predict's table
def test_predict_warns_about_unknown_conditions_and_lists_them_per_row(tmp_path,
                                                                       fast_model_store):
    path = write(tmp_path / "x.csv", ["Mg,TFSI,DME,none,", "Mg,TFSI,DME,none,0.5"],
                 header="metal,anion,solvent,coating,current_density_mA_cm2")
    out = tmp_path / "p.csv"
    result = run("predict", path, "--out", out, "--tracking-uri", fast_model_store)
    assert result.exit_code == 0, result.output
    text = text_of(result)
    assert f"warning: {path}: 2 of 2 row(s) leave inputs blank" in text
    assert "current_density_mA_cm2 (1 row)" in text and "salt_conc_M (2 rows)" in text
    table = pd.read_csv(out, keep_default_na=False)
    first, second = (set(t.split(";")) for t in table["imputed_conditions"])
    assert {"salt_conc_M", "current_density_mA_cm2", "temperature_C"} <= first
    assert "current_density_mA_cm2" not in second and "salt_conc_M" in second
    assert "coating_thickness_um" not in first  # a bare anode has no thickness to impute


def test_predict_keeps_the_input_columns_resolves_names_and_rounds(tmp_path,
                                                                  fast_model_store):
    path = write(tmp_path / "x.csv", ["Mg,TFSI-,0.50,dme,none,red,Mg(TFSI)2",
                                      "Mg,B(HFIP)4,0.3,G2:DME,MgF2,blue,"],
                 header="metal,anion,salt_conc_M,solvent,coating,extra_colour,salt")
    out = tmp_path / "p.csv"
    before = path.read_bytes()
    result = run("predict", path, "--out", out, "--tracking-uri", fast_model_store)
    assert result.exit_code == 0, result.output
    assert "Downloading artifacts" not in result.output
    table = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert list(table.columns[:8]) == ["row", "metal", "anion", "salt_conc_M", "solvent",
                                       "coating", "extra_colour", "salt"]
    assert table["salt_conc_M"].tolist() == ["0.50", "0.3"]  # the cells as written
    assert table["extra_colour"].tolist() == ["red", "blue"]
    assert table["anion_resolved"].tolist() == ["TFSI", "B(hfip)4"]
    assert table["solvent_resolved"].tolist() == ["DME", "G2:DME"]
    from screen.learn.registry import targets

    for target in targets().values():  # every float prediction has at most 4 significant digits
        for column in [c for c in table.columns if c.startswith(target.name.split("_")[0])]:
            for cell in table[column]:
                if cell not in ("", "True", "False"):
                    digits = cell.replace("-", "").replace(".", "").lstrip("0")
                    assert len(digits.split("e")[0].rstrip("0")) <= 4, (column, cell)
    assert path.read_bytes() == before


# ============================================================================ late failures
@pytest.mark.parametrize(("content", "args", "code", "expected"), [
    (None, ["--engine", "spark"], 2, "Invalid value for --engine: 'spark'; accepted: local, dask"),
    ("", [], 1, "empty file: expected a header line"),
    (HEADER + "\n", [], 1, "no candidates: the file has a header line but no rows"),
], ids=["engine", "empty file", "header only"])
def test_rank_fails_before_looking_for_models(tmp_path, content, args, code, expected):
    """The store does not exist: these errors come first (and it is not created)."""
    path = tmp_path / "c.csv"
    if content is None:
        write(path, GOOD)
    else:
        path.write_text(content)
    store = f"sqlite:///{tmp_path / 'no-store' / 'mlflow.db'}"
    before = files_of(tmp_path)
    result = run("rank", path, "--out", tmp_path / "r.csv", "--tracking-uri", store, *args)
    assert result.exit_code == code, result.output
    assert expected in text_of(result)
    if code == 1:
        assert str(path) in text_of(result)
    assert "MLflow store" not in result.output
    assert files_of(tmp_path) == before and not (tmp_path / "no-store").exists()


# ============================================================================ property
GOOD_ANIONS = ["TFSI", "TFSI", "B(hfip)4", "BH4", "PF6", "Cl", "[O-]C(=O)C(F)(F)F"]
BAD_ANIONS = ["[*-]", "[O-][O-]", "Cl[Fe-](Cl)(Cl)Cl", "[H-]", "[F-]", "CCO", "TFSX"]
GOOD_SOLVENTS = ["DME", "DME", "G2", "THF", "CCOC(C)=O", "DME:THF"]
BAD_SOLVENTS = ["C[U]C", "[CH3]", "C[Hg]C", "[H]", "DME:DME", "CC[O-]"]


def _candidate_rows():
    """Rows of candidate tables: mostly plausible cells, with the bad values of issue 13."""
    from hypothesis import strategies as st

    def mostly(good: list[str], bad: list[str]):
        return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good),
                         st.sampled_from(bad))

    cell = {
        "metal": mostly(["Mg", "Mg", "Ca"], ["Zn"]),
        "salt": mostly(["", "", "Mg(TFSI)2"], ["Ca(BH4)2", "MgCl2"]),
        "anion": mostly(GOOD_ANIONS, BAD_ANIONS),
        "salt_conc_M": mostly(["", "0.5", "1"], ["0", "-1"]),
        "solvent": mostly(GOOD_SOLVENTS, BAD_SOLVENTS),
        "solvent_ratio": mostly(["", ""], ["1:1", "1:0", "0:0"]),
        "additive": mostly(["", "none", "TEP", "MgCl2"], ["TEP:TEP"]),
        "additive_conc_M": mostly([""], ["0.1"]),
        "coating": mostly(["none", "none", "MgF2", "Mg2Sn", "Bi:MgCl2", "Li3N"], ["He", ""]),
        "coating_thickness_um": mostly([""], ["1", "0.5"]),
        "cell_type": mostly(["", "symmetric", "asymmetric_Cu"], ["cell"]),
        "current_density_mA_cm2": mostly(["", "0.5", "5"], ["0"]),
        "temperature_C": mostly(["", "25", "60"], ["1e309"]),
    }
    return st.lists(st.fixed_dictionaries(cell), min_size=1, max_size=3)


def test_whatever_validates_featurizes_and_predicts(tmp_path_factory, fast_model_store):
    """Random candidate rows (good and bad components, ratios, amounts, metals, salts): every
    table that ``data validate --mode systems`` accepts featurizes and predicts without an
    exception."""
    from hypothesis import HealthCheck, given, settings

    from featurizers.system import SystemFeaturizer
    from screen.data.dataset import load_table
    from screen.learn.predict import load_models, predict_systems

    models = load_models(fast_model_store)
    featurizer = SystemFeaturizer().fit()
    folder = tmp_path_factory.mktemp("random-candidates")
    accepted = []

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(rows=_candidate_rows())
    def check(rows):
        path = folder / "c.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        result = run("data", "validate", path, "--mode", "systems")
        assert result.exit_code in (0, 1), result.output
        if result.exit_code == 1:
            assert f"{path}, row " in result.output
            return
        accepted.append(len(rows))
        frame = load_table(path, mode="systems")
        matrix = featurizer.transform(frame)
        assert matrix.shape == (len(rows), len(featurizer.get_feature_names_out()))
        predictions = predict_systems(frame, models, featurizer=featurizer)
        assert len(predictions) == len(rows) and predictions["in_domain"].notna().all()

    check()
    assert accepted  # the property was exercised on accepted tables, not only refused ones


def test_tune_refuses_to_write_its_best_config_over_its_config(tmp_path):
    from screen.learn.config import default_config_path

    config = tmp_path / "passivation.toml"
    config.write_bytes(default_config_path("passivation").read_bytes())
    before = files_of(tmp_path)
    result = run("tune", "--config", config, "--trials", "1", "--out", config, "--storage",
                 tmp_path / "journal.log", "--tracking-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.exit_code == 1
    assert f"{config} (--out): is the input file {config}" in text_of(result)
    assert files_of(tmp_path) == before
