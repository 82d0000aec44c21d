"""A lab's own measurements: `data validate --mode lab`, `train/tune --data`, `--name` /
`--models`."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.cli import app
from screen.data.dataset import load_training_table
from screen.data.problems import DataValidationError
from screen.learn import tracking
from screen.learn.config import default_config_path

runner = CliRunner()
#: A perfluorobutanesulfonate (nonaflate) anion: not in the component library, written only as
#: a SMILES in the fixture below.
NEW_ANION = "O=S(=O)([O-])C(F)(F)C(F)(F)C(F)(F)C(F)(F)F"
#: Synthetic fixture value (V), far above what the data set's sulfonates show, so a model that
#: learned from the fixture rows must move its prediction for this system towards it.
MEASURED_V = 1.2
COLUMNS = ["metal", "anion", "salt_conc_M", "solvent", "additive", "coating", "cell_type",
           "current_density_mA_cm2", "areal_capacity_mAh_cm2", "overpotential_V",
           "overpotential_kind", "passivation", "passivation_evidence", "source", "location"]
SYSTEM = {"metal": "Mg", "anion": NEW_ANION, "salt_conc_M": "0.5", "solvent": "DME",
          "additive": "none", "coating": "none", "cell_type": "symmetric",
          "areal_capacity_mAh_cm2": "0.5"}
TRAIN_FAST = ["--set", 'cv.schemes=["source"]', "--set", 'cv.primary="source"',
              "--set", "cv.n_splits=3",
              "--set", "uncertainty.cv=3"]
TARGET = "overpotential"  # the lab file measures it; the other targets keep default models


def write_rows(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def lab_file(tmp_path_factory) -> Path:
    """Six cells of one new system (anion given only by SMILES) at several current densities;
    blank source (it becomes the file name) and blank location, as a lab writes them."""
    rows = [{**SYSTEM, "current_density_mA_cm2": str(j), "overpotential_V": str(MEASURED_V),
             "overpotential_kind": "polarization", "passivation": "non_passivating",
             "passivation_evidence": "smooth plating and stripping over 50 cycles"}
            for j in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)]
    return write_rows(tmp_path_factory.mktemp("lab") / "mylab_cells.csv", rows)


def problem_lines(output: str, path: Path) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(str(path))]


def test_lab_mode_allows_blank_provenance_and_nothing_else(lab_file, tmp_path):
    assert runner.invoke(app, ["data", "validate", str(lab_file), "--mode", "lab"]
                         ).exit_code == 0
    dataset = runner.invoke(app, ["data", "validate", str(lab_file)])
    assert dataset.exit_code == 1
    assert {line.split("column ")[1].split(",")[0]
            for line in problem_lines(dataset.output, lab_file)} == {"'source'", "'location'"}
    no_value = write_rows(tmp_path / "no_value.csv", [{**SYSTEM, "source": "x"}])
    result = runner.invoke(app, ["data", "validate", str(no_value), "--mode", "lab"])
    assert result.exit_code == 1 and "row has no measured value" in result.output


def test_training_table_merges_files_with_their_digest_and_file_name_as_source(lab_file):
    table = load_training_table([lab_file])
    embedded, lab = table.inputs
    assert embedded.embedded and not lab.embedded
    assert len(table.frame) == embedded.n_rows + lab.n_rows and lab.n_rows == 6
    assert list(table.frame.index) == list(range(1, len(table.frame) + 1))
    assert lab.sha256 == hashlib.sha256(lab_file.read_bytes()).hexdigest()
    assert set(table.frame["source"].iloc[-6:]) == {lab_file.name}
    assert set(load_training_table([lab_file], embedded=False).frame["source"]) == {
        lab_file.name}


def test_bad_user_file_reports_what_data_validate_reports_and_trains_nothing(lab_file,
                                                                             tmp_path):
    rows = list(csv.DictReader(lab_file.open(encoding="utf-8")))
    for row in rows:
        row.update(source="my lab", location="notebook 3")
    rows[1]["current_density_mA_cm2"] = "fast"
    rows[2]["anion"] = "TFSII"
    rows[4]["overpotential_kind"] = "polarisation"
    bad = write_rows(tmp_path / "bad_cells.csv", rows)
    db = tmp_path / "mlflow.db"
    validated = runner.invoke(app, ["data", "validate", str(bad)])
    validated_lab = runner.invoke(app, ["data", "validate", str(bad), "--mode", "lab"])
    trained = runner.invoke(app, ["train", "--config", str(default_config_path("overpotential")),
                                  "--data", str(bad), "--tracking-uri", f"sqlite:///{db}"])
    journal = tmp_path / "journal.log"
    tuned = runner.invoke(app, ["tune", "--config", str(default_config_path("overpotential")),
                                "--trials", "1", "--data", str(bad), "--storage", str(journal),
                                "--tracking-uri", f"sqlite:///{db}"])
    assert validated.exit_code == validated_lab.exit_code == trained.exit_code == 1
    assert tuned.exit_code == 1 and problem_lines(tuned.output, bad) == problem_lines(
        validated.output, bad)
    assert not journal.exists()
    expected = problem_lines(validated.output, bad)
    assert len(expected) == 3
    assert any("row 2 (line 3), column 'current_density_mA_cm2', value 'fast'" in line
               for line in expected)
    assert problem_lines(trained.output, bad) == expected
    assert problem_lines(validated_lab.output, bad) == expected
    assert "3 problem(s)" in trained.output
    assert not db.exists()  # no run, no model: the tracking store was never opened
    with pytest.raises(DataValidationError):
        load_training_table([lab_file, bad])


def test_model_set_names_are_checked():
    assert tracking.registered_model_name("overpotential", "mylab") == "mylab-overpotential"
    assert tracking.registered_model_name("overpotential") == "mgscreen-overpotential"
    for bad in ("mgscreen", "MGSCREEN", "-x", "my lab", "x" * 65, ""):
        with pytest.raises(ValueError):
            tracking.check_model_set(bad)
    result = runner.invoke(app, ["predict", "x.csv", "--out", "y.csv", "--models", "mgscreen"])
    assert result.exit_code == 2


def champions(uri: str) -> dict[str, tuple[str, str]]:
    from screen.learn.registry import target_names

    out = {}
    for target in target_names():
        info = tracking.champion_info(tracking.registered_model_name(target), uri)
        out[target] = (info["version"], info["run_id"])
    return out


@pytest.fixture(scope="module")
def lab_trained(fast_model_store, lab_file):
    """The default champions, then `train --config <TARGET> --data lab_file --name mylab` in
    the same store (small models)."""
    before = champions(fast_model_store)
    result = runner.invoke(app, ["train", "--config", str(default_config_path(TARGET)),
                                 "--data", str(lab_file), "--name", "mylab",
                                 "--tracking-uri", fast_model_store, *TRAIN_FAST])
    assert result.exit_code == 0, result.output
    return before, result


def test_named_models_never_move_the_default_champions(fast_model_store, lab_trained):
    before, result = lab_trained
    assert champions(fast_model_store) == before
    lab = tracking.champion_info(f"mylab-{TARGET}", fast_model_store)
    assert lab is not None and lab["run_id"] not in {r for _, r in before.values()}
    assert f"champion of mylab-{TARGET}" in " ".join(result.output.split())


def test_the_run_records_every_input_file(fast_model_store, lab_trained, lab_file):
    from mlflow import MlflowClient

    from screen.data.paths import INTERFACES_FILE, dataset_file

    info = tracking.champion_info(f"mylab-{TARGET}", fast_model_store)
    run = MlflowClient(fast_model_store).get_run(info["run_id"])
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    for path, rows in ((lab_file, 6), (dataset_file(INTERFACES_FILE), None)):
        found = inputs[path.name]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert {t.key: t.value for t in found.tags}["sha256"] == digest
        assert found.dataset.digest == digest[:36]
        n_rows = rows or len(pd.read_csv(path))
        assert f'"num_rows": {n_rows}' in found.dataset.profile
    assert run.data.tags[f"data.{lab_file.name}.rows"] == "6"
    assert run.data.tags["model_set"] == "mylab"


def test_predictions_for_the_new_system_move_toward_its_measured_value(
        fast_model_store, lab_trained, tmp_path):
    from screen.learn.registry import target_names

    system = write_rows(tmp_path / "system.csv", [{**SYSTEM, "current_density_mA_cm2": "1.0"}])
    others = [item for t in target_names() if t != TARGET  # the default models, by URI
              for item in ("--model-uri", f"{t}=models:/mgscreen-{t}@champion")]
    outputs = {}
    for label, extra in (("default", []), ("lab", ["--models", "mylab", *others])):
        out = tmp_path / f"{label}.csv"
        result = runner.invoke(app, ["predict", str(system), "--out", str(out),
                                     "--tracking-uri", fast_model_store, *extra])
        assert result.exit_code == 0, result.output
        outputs[label] = float(pd.read_csv(out)["overpotential_V_pred"].iloc[0])
    before, after = (abs(outputs[k] - MEASURED_V) for k in ("default", "lab"))
    assert after < before - 0.1, outputs
