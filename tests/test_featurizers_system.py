"""System featurizer: the join, mixtures, none vs unknown, flags; and `mgscreen featurize`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurizers.base import FeaturizationError
from featurizers.system import SystemFeaturizer, parse_ratio
from screen import load_interfaces
from screen.cli import app


@pytest.fixture(scope="module")
def featurizer(library):
    return SystemFeaturizer(library=library).fit()


@pytest.fixture(scope="module")
def data(library):
    return load_interfaces(library=library)


@pytest.fixture(scope="module")
def data_matrix(featurizer, data):
    return featurizer.transform(data)


def block(featurizer, matrix, prefix):
    names = featurizer.get_feature_names_out()
    cols = [i for i, n in enumerate(names) if n.startswith(prefix)]
    return matrix[:, cols]


def col(featurizer, matrix, name):
    return matrix[:, list(featurizer.get_feature_names_out()).index(name)]


def systems(**columns):
    base = {"metal": "Mg", "anion": "TFSI", "solvent": "DME", "solvent_ratio": "",
            "additive": "none", "coating": "none", "cell_type": "symmetric",
            "current_density_mA_cm2": 1.0}
    base.update(columns)
    n = max(len(v) if isinstance(v, list) else 1 for v in base.values())
    return pd.DataFrame({k: v if isinstance(v, list) else [v] * n for k, v in base.items()})


def test_data_set_featurizes_without_nan_in_xtb_columns(featurizer, data_matrix, data):
    names = featurizer.get_feature_names_out()
    assert data_matrix.dtype == np.float32 and data_matrix.shape == (len(data), len(names))
    assert len(set(names)) == len(names)
    xtb = [i for i, n in enumerate(names)
           if n.split("__")[0] in ("anion", "solvent") and ("homo" in n or "lumo" in n)]
    assert len(xtb) >= 4
    assert np.isfinite(data_matrix[:, xtb]).all()


def test_join_equals_row_by_row(featurizer, data, data_matrix):
    sample = data.iloc[::9]
    rows = np.vstack([featurizer.transform(sample.iloc[[i]]) for i in range(len(sample))])
    np.testing.assert_array_equal(rows, data_matrix[::9])


def test_aliases_give_the_same_row(featurizer):
    m = featurizer.transform(systems(anion=["B(hfip)4", "Mg[B(hfip)4]2"],
                                     solvent=["DME", "COCCOC"]))
    np.testing.assert_array_equal(m[0], m[1])


def test_solvent_mixture_is_ratio_weighted(featurizer):
    m = featurizer.transform(systems(solvent=["DME", "THF", "DME:THF", "DME:THF"],
                                     solvent_ratio=["", "", "1:1", "1:3"]))
    s = block(featurizer, m, "solvent__").astype(np.float64)
    np.testing.assert_allclose(s[2], 0.5 * s[0] + 0.5 * s[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s[3], 0.25 * s[0] + 0.75 * s[1], rtol=1e-5, atol=1e-5)
    assert list(col(featurizer, m, "system__n_solvents")) == [1, 1, 2, 2]


def test_parse_ratio():
    np.testing.assert_allclose(parse_ratio("1:3", 2), [0.25, 0.75])
    np.testing.assert_allclose(parse_ratio("", 3), [1 / 3] * 3)
    with pytest.raises(FeaturizationError):
        parse_ratio("1:1", 3)


def test_none_additive_is_zero_but_unknown_is_nan(featurizer):
    m = featurizer.transform(systems(additive=["none", "MgCl2", pd.NA]))
    add = block(featurizer, m, "additive__")
    present = col(featurizer, m, "system__additive_present")
    assert (add[0] == 0).all() and present[0] == 0
    assert np.isfinite(add[1]).all() and present[1] == 1 and not (add[1] == 0).all()
    assert np.isnan(add[2]).all() and np.isnan(present[2])


def test_chloride_flag(featurizer):
    m = featurizer.transform(systems(anion=["TFSI", "TFSI", "Ph2AlCl2", "TFSI"],
                                     additive=["none", "MgCl2", "none", pd.NA]))
    flag = col(featurizer, m, "system__chloride_present")
    assert list(flag[:3]) == [0, 1, 1] and np.isnan(flag[3])


def test_metal_descriptors(featurizer):
    m = featurizer.transform(systems(metal=["Mg", "Ca"]))
    radius = col(featurizer, m, "system__metal_ionic_radius_A")
    density = col(featurizer, m, "system__metal_charge_density")
    assert radius[1] > radius[0] and density[0] > density[1]
    assert list(col(featurizer, m, "system__metal_is_Ca")) == [0, 1]


def test_conditions(featurizer):
    m = featurizer.transform(systems(current_density_mA_cm2=[0.1, 10.0],
                                     cell_type=["symmetric", pd.NA],
                                     coating=["none", "Mg-Sn alloy"],
                                     coating_thickness_um=[np.nan, 3.5]))
    np.testing.assert_allclose(col(featurizer, m, "system__log10_current_density"), [-1, 1])
    cells = block(featurizer, m, "system__cell_")
    assert cells[0].sum() == 1 and cells[1].sum() == 0
    assert list(col(featurizer, m, "system__coating_thickness_um")) == [0.0, 3.5]


def test_missing_column_and_unknown_component(featurizer):
    with pytest.raises(ValueError, match="missing required column.*coating"):
        featurizer.transform(systems().drop(columns="coating"))
    with pytest.raises(FeaturizationError, match="'NotAnAnion'"):
        featurizer.transform(systems(anion="NotAnAnion"))
    lenient = SystemFeaturizer(on_error="nan").fit()
    m = lenient.transform(systems(anion=["TFSI", "NotAnAnion"]))
    assert np.isnan(block(lenient, m, "anion__")[1]).all()
    assert np.isfinite(block(lenient, m, "anion__")[0]).all()
    assert "NotAnAnion" in lenient.errors_


def test_cli_featurize_writes_parquet(tmp_path, interfaces_path):
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(app, ["featurize", str(interfaces_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert table["row"].tolist()[:3] == [1, 2, 3]
    assert any(c.startswith("coating__") for c in table.columns)


def test_cli_featurize_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    systems(anion=["TFSI", "C1=CC=C[N-]1", "XYZ(("]).to_csv(bad, index=False)
    out = tmp_path / "f.parquet"
    strict = CliRunner().invoke(app, ["featurize", str(bad), "--out", str(out)])
    assert strict.exit_code == 1 and "XYZ((" in strict.output and not out.exists()
    lenient = CliRunner().invoke(app, ["featurize", str(bad), "--out", str(out),
                                       "--on-error", "nan"])
    assert lenient.exit_code == 0, lenient.output
    assert "could not be featurized" in lenient.output and "XYZ((" in lenient.output
    table = pd.read_parquet(out)
    anion = table[[c for c in table.columns if c.startswith("anion__")]]
    assert anion.iloc[2].isna().all() and anion.iloc[1].notna().all()
