"""Tabulated solvent properties as feature blocks (featurizers/properties.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featurizers.properties import PROPERTIES, SolventPropertyFeaturizer, property_table
from featurizers.system import SystemFeaturizer
from screen.data.paths import dataset_dir


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(dataset_dir() / "properties.csv")


def test_values_are_the_median_of_the_cited_rows(raw):
    featurizer = SolventPropertyFeaturizer(use_cache=False).fit()
    row = pd.Series(featurizer.transform(["THF"])[0], index=featurizer.feature_labels())
    for prop in PROPERTIES:
        cited = raw[(raw["component"] == "THF") & (raw["property"] == prop)]["value"]
        if len(cited):
            assert row[prop] == pytest.approx(cited.median()) and row[f"has_{prop}"] == 1
        else:
            assert np.isnan(row[prop]) and row[f"has_{prop}"] == 0
    assert row["has_donor_number"] == 1 and row["has_dielectric_constant"] == 1


def test_unknown_components_are_nan_with_the_flag_down():
    featurizer = SolventPropertyFeaturizer(use_cache=False).fit()
    row = featurizer.transform(["CCCCCCOCCCCCC"])[0]  # dihexyl ether, given as a SMILES
    n = len(PROPERTIES)
    assert np.isnan(row[:n]).all() and (row[n:] == 0).all()


def test_mixtures_are_ratio_weighted_and_none_is_zero():
    systems = pd.DataFrame({"metal": ["Mg"] * 3, "anion": ["TFSI"] * 3,
                            "solvent": ["DME:THF", "DME", "THF"],
                            "solvent_ratio": ["1:3", "", ""], "additive": ["none"] * 3,
                            "coating": ["none"] * 3})
    featurizer = SystemFeaturizer().fit()
    X = pd.DataFrame(featurizer.transform(systems), columns=featurizer.get_feature_names_out())
    dn = X["solvent_props__donor_number"].to_numpy(float)
    assert dn[0] == pytest.approx(0.25 * dn[1] + 0.75 * dn[2], rel=1e-5)
    assert (X.filter(like="additive_props__").to_numpy() == 0).all()


def test_the_cache_version_follows_the_table(tmp_path, raw):
    table, digest = property_table()
    assert SolventPropertyFeaturizer().version.endswith(digest)
    edited = tmp_path / "properties.csv"
    raw.assign(value=raw["value"] * 2).to_csv(edited, index=False)
    other, other_digest = property_table(str(edited))
    assert other_digest != digest
    assert np.allclose(other.loc["THF", "donor_number"], 2 * table.loc["THF", "donor_number"])
