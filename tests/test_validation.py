"""`validate` rejects corrupted copies of the data set, naming row, column and value."""

from __future__ import annotations

import pytest

from screen.data.dataset import check_file, load_table
from screen.data.io import read_table
from screen.data.problems import DataValidationError
from screen.data.validation import validate

ROW = 5  # 1-based data row that the corruptions below touch


def set_cell(column: str, value: str, row: int = ROW):
    def edit(header, rows):
        rows[row - 1][column] = value

    return edit


def problems_of(write_copy, edit, mode="dataset"):
    _, problems = check_file(write_copy(edit), mode=mode)
    return problems


def only(problems, column):
    hits = [p for p in problems if p.column == column]
    assert hits, f"no problem reported for column {column!r}: {problems}"
    return hits


def test_clean_copy_has_no_problems(write_copy):
    assert problems_of(write_copy, None) == []


def test_missing_required_column(write_copy):
    def drop_anion(header, rows):
        header.remove("anion")

    problems = problems_of(write_copy, drop_anion)
    (p,) = only(problems, "anion")
    assert p.row is None and "missing required column" in p.message


def test_unknown_component_suggests_close_names(write_copy):
    problems = problems_of(write_copy, set_cell("anion", "TFSII"))
    (p,) = only(problems, "anion")
    assert p.row == ROW and p.value == "TFSII"
    assert "did you mean" in p.message and "'TFSI'" in p.message


def test_unknown_solvent_in_a_mixture_is_named(write_copy):
    problems = problems_of(write_copy, set_cell("solvent", "DME:tetrahydrofuranne"))
    (p,) = only(problems, "solvent")
    assert "tetrahydrofuranne" in p.message and "'THF'" in p.message


def test_unknown_coating(write_copy):
    problems = problems_of(write_copy, set_cell("coating", "unobtainium layer"))
    (p,) = only(problems, "coating")
    assert "not a name in the coatings.csv library" in p.message


@pytest.mark.parametrize("value", ["-0.5", "0"])
def test_nonpositive_current_density(write_copy, value):
    problems = problems_of(write_copy, set_cell("current_density_mA_cm2", value))
    (p,) = only(problems, "current_density_mA_cm2")
    assert p.row == ROW and p.value == value and "out of range" in p.message
    assert "> 0" in p.message


def test_zero_for_unknown_is_called_out(write_copy):
    (p,) = only(problems_of(write_copy, set_cell("overpotential_V", "0")), "overpotential_V")
    assert "never write 0 for unknown" in p.message


@pytest.mark.parametrize("value", ["abc", "0,12", "nan", "inf", "1e999"])
def test_non_numeric_or_non_finite_value(write_copy, value):
    (p,) = only(problems_of(write_copy, set_cell("conductivity_mS_cm", value)),
                "conductivity_mS_cm")
    assert p.value == value and ("not a number" in p.message or "finite" in p.message)


def test_coulombic_efficiency_above_100(write_copy):
    (p,) = only(problems_of(write_copy, set_cell("coulombic_efficiency_pct", "101")),
                "coulombic_efficiency_pct")
    assert "<= 100 %" in p.message


def test_overpotential_in_millivolts_is_out_of_range(write_copy):
    (p,) = only(problems_of(write_copy, set_cell("overpotential_V", "120")), "overpotential_V")
    assert "<= 5 V" in p.message


def test_bad_category_with_suggestion(write_copy):
    (p,) = only(problems_of(write_copy, set_cell("cell_type", "symetric")), "cell_type")
    assert "did you mean 'symmetric'" in p.message and "asymmetric_Cu" in p.message


def test_bad_boolean(write_copy, interfaces_rows):
    row = next(i for i, r in enumerate(interfaces_rows[1], 1) if r["cycle_life_censored"])
    (p,) = only(problems_of(write_copy, set_cell("cycle_life_censored", "maybe", row)),
                "cycle_life_censored")
    assert p.row == row and "true or false" in p.message


def test_overpotential_without_kind(write_copy, interfaces_rows):
    row = next(i for i, r in enumerate(interfaces_rows[1], 1) if r["overpotential_V"])
    problems = problems_of(write_copy, set_cell("overpotential_kind", "", row))
    (p,) = only(problems, "overpotential_kind")
    assert p.row == row and "required when overpotential_V" in p.message


def test_cycle_life_without_censoring_flag(write_copy, interfaces_rows):
    row = next(i for i, r in enumerate(interfaces_rows[1], 1) if r["cycle_life_h"])
    (p,) = only(problems_of(write_copy, set_cell("cycle_life_censored", "", row)),
                "cycle_life_censored")
    assert "required when a cycle life is given" in p.message


def test_solvent_ratio_must_match_solvents(write_copy):
    def edit(header, rows):
        rows[ROW - 1]["solvent"] = "DME"
        rows[ROW - 1]["solvent_ratio"] = "1:1"

    (p,) = only(problems_of(write_copy, edit), "solvent_ratio")
    assert "2 parts but solvent has 1" in p.message


def test_missing_provenance(write_copy):
    (p,) = only(problems_of(write_copy, set_cell("source", "")), "source")
    assert p.row == ROW and "required value is blank" in p.message


def test_provenance_not_needed_for_systems(write_copy):
    def strip_provenance(header, rows):
        for col in ("source", "location", "overpotential_V", "overpotential_kind"):
            header.remove(col)

    assert problems_of(write_copy, strip_provenance, mode="systems") == []


def test_unknown_column_suggests_schema_name(write_copy):
    def rename(header, rows):
        i = header.index("current_density_mA_cm2")
        header[i] = "current_density"
        for r in rows:
            r["current_density"] = r.pop("current_density_mA_cm2")

    (p,) = only(problems_of(write_copy, rename), "current_density")
    assert "did you mean 'current_density_mA_cm2'" in p.message


def test_extra_prefixed_columns_are_accepted(write_copy):
    def add(header, rows):
        header.append("extra_cell_id")
        for i, r in enumerate(rows):
            r["extra_cell_id"] = f"cell-{i}"

    assert problems_of(write_copy, add) == []


def test_duplicate_column(write_copy):
    def dup(header, rows):
        header.append("anion")

    problems = problems_of(write_copy, dup)
    assert any(p.column == "anion" and "duplicate column" in p.message for p in problems)


def test_ragged_row_and_encoding(tmp_path, interfaces_path):
    text = interfaces_path.read_text(encoding="utf-8").splitlines()
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join([text[0], text[1] + ",extra", *text[2:]]), encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        read_table(ragged)
    assert err.value.problems[0].row == 1 and "fields but the header has" in str(err.value)

    latin = tmp_path / "latin1.csv"
    latin.write_bytes(text[0].encode() + b"\n" + "µ".encode("latin-1") + b"\n")
    with pytest.raises(DataValidationError, match="not valid UTF-8"):
        read_table(latin)

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataValidationError, match="empty file"):
        read_table(empty)


def test_every_problem_is_reported_not_just_the_first(write_copy):
    def many(header, rows):
        rows[0]["metal"] = "Li"
        rows[1]["temperature_C"] = "warm"
        rows[2]["passivation"] = "blocked"

    problems = problems_of(write_copy, many)
    assert {(p.row, p.column) for p in problems} >= {(1, "metal"), (2, "temperature_C"),
                                                     (3, "passivation")}


def test_validate_never_changes_the_table(write_copy, library):
    table = read_table(write_copy(set_cell("current_density_mA_cm2", "-1")))
    before = table.copy()
    validate(table, library)
    assert table.equals(before)


def test_load_table_raises_with_all_problems(write_copy):
    path = write_copy(set_cell("metal", "Zn"))
    with pytest.raises(DataValidationError) as err:
        load_table(path)
    assert "row 5 (line 6), column 'metal', value 'Zn'" in str(err.value)
    assert "accepted: Mg, Ca" in str(err.value)
