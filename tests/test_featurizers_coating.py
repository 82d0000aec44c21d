"""Coating featurizer: chemistry of known compositions, mixtures, bare metal, cache, errors, API."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Element
from sklearn.base import clone
from sklearn.compose import ColumnTransformer

from featurizers.base import FeaturizationError
from featurizers.coating import (
    MAGPIE_PROPERTIES,
    MAGPIE_STATS,
    N_COMPOSITION,
    CoatingFeaturizer,
    composition_features,
)
from screen.data.components import COATING_CLASSES, Component, infer_coating_class


@pytest.fixture(scope="module")
def fitted(library) -> CoatingFeaturizer:
    return CoatingFeaturizer(library=library).fit()


def features(featurizer: CoatingFeaturizer, value: str) -> dict[str, float]:
    """Label → value for one written coating."""
    row = featurizer.transform([value])[0]
    return dict(zip(featurizer.feature_labels(), row, strict=True))


def ad_hoc(formula: str) -> Component:
    """A single-phase coating that bypasses the library (aliases such as 'Mg2Sn' map to the
    library's as-made mixture, so the pure phase needs building by hand)."""
    return Component("coating", formula, f"composition:{formula}", infer_coating_class(formula),
                     composition=formula, in_library=False)


def labelled(featurizer: CoatingFeaturizer, vec: np.ndarray) -> dict[str, float]:
    return dict(zip(featurizer.feature_labels(), vec, strict=True))


# ---------------------------------------------------------------- chemistry of known phases
def test_mgf2_fractions_and_element_statistics(fitted):
    f = features(fitted, "MgF2")
    assert f["frac_fluoride"] == pytest.approx(2 / 3)
    assert f["frac_halide"] == pytest.approx(2 / 3)
    assert f["frac_Mg"] == pytest.approx(1 / 3)
    assert f["frac_metal"] == pytest.approx(1 / 3)
    assert f["frac_chalcogen"] == f["frac_organic"] == f["frac_Ca"] == 0
    # Magpie atomic-number statistics from the periodic table, not from matminer
    z_mg, z_f = Element("Mg").Z, Element("F").Z
    assert f["magpie_mean_Number"] == pytest.approx((z_mg + 2 * z_f) / 3)
    assert f["magpie_minimum_Number"] == z_f
    assert f["magpie_maximum_Number"] == z_mg
    assert f["magpie_range_Number"] == z_mg - z_f
    assert f["magpie_mode_Number"] == z_f  # F is the most abundant element
    assert f["magpie_avg_dev_Number"] == pytest.approx(4 / 9 * (z_mg - z_f))
    assert f["magpie_maximum_Electronegativity"] > f["magpie_minimum_Electronegativity"]
    assert f["stoich_0norm"] == 2
    assert f["stoich_2norm"] == pytest.approx(math.sqrt(5) / 3)
    assert f["stoich_3norm"] == pytest.approx((1 / 27 + 8 / 27) ** (1 / 3))
    assert (f["has_coating"], f["n_phases"], f["class_fluoride"], f["class_none"]) == (1, 1, 1, 0)


def test_mg2sn_phase_is_all_metal(fitted):
    f = labelled(fitted, fitted.featurize(ad_hoc("Mg2Sn")))
    assert f["frac_Mg"] == pytest.approx(2 / 3)
    assert f["frac_metal"] == pytest.approx(1.0)  # Sn is a (post-transition) metal
    assert f["frac_metalloid"] == f["frac_halide"] == f["frac_chalcogen"] == 0
    assert f["class_alloy"] == 1


def test_alias_mg2sn_is_the_as_made_mixture(fitted):
    """'Mg2Sn' is an alias of the library layer Mg2Sn:Sn, so its Mg fraction is (2/3 + 0)/2."""
    assert features(fitted, "Mg2Sn")["frac_Mg"] == pytest.approx(1 / 3)


def test_mgcl2_halide_not_fluoride(fitted):
    f = features(fitted, "MgCl2")
    assert f["frac_halide"] == pytest.approx(2 / 3)
    assert f["frac_fluoride"] == 0
    assert f["class_halide"] == 1


@pytest.mark.parametrize(("formula", "expected"), [
    ("MgSO3", {"frac_chalcogen": 4 / 5, "frac_Mg": 1 / 5, "frac_metal": 1 / 5}),
    ("C3H3N", {"frac_organic": 6 / 7, "frac_nitrogen": 1 / 7, "frac_metal": 0}),
    ("Mg2Ge", {"frac_metalloid": 1 / 3, "frac_metal": 2 / 3}),
    ("CaF2", {"frac_Ca": 1 / 3, "frac_Mg": 0, "frac_fluoride": 2 / 3}),
    ("MgI2", {"frac_halide": 2 / 3, "frac_fluoride": 0}),
])
def test_fractions_of_single_phases(fitted, formula, expected):
    f = labelled(fitted, fitted.featurize(ad_hoc(formula)))
    for label, value in expected.items():
        assert f[label] == pytest.approx(value), label


def test_magpie_subset_matches_full_matminer_preset():
    """The selected columns are exactly matminer's magpie-preset values (labels aligned)."""
    from matminer.featurizers.composition import ElementProperty

    full = ElementProperty.from_preset("magpie", impute_nan=False)
    assert tuple(full.stats) == MAGPIE_STATS
    by_label = dict(zip(full.feature_labels(), full.featurize(Composition("Mg3Bi2")),
                        strict=True))
    ours = composition_features(Composition("Mg3Bi2"))
    expected = [by_label[f"MagpieData {stat} {prop}"]
                for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]
    np.testing.assert_allclose(ours[:len(expected)], expected)


# ---------------------------------------------------------------- mixtures
def test_mixture_is_the_equal_weight_mean_of_its_phases(fitted):
    mixture = fitted.transform(["Mg3Bi2:Bi"])[0]
    phases = np.array([fitted.featurize(ad_hoc("Mg3Bi2")), fitted.featurize(ad_hoc("Bi"))])
    np.testing.assert_allclose(mixture[:N_COMPOSITION], phases.mean(axis=0)[:N_COMPOSITION])
    f = labelled(fitted, mixture)
    assert f["frac_Mg"] == pytest.approx((3 / 5 + 0) / 2)
    assert f["magpie_minimum_Number"] == pytest.approx((Element("Mg").Z + Element("Bi").Z) / 2)
    assert (f["n_phases"], f["has_coating"]) == (2, 1)
    assert f["class_alloy"] == 1  # the library entry Mg-Bi alloy


def test_mixture_order_and_formula_scaling_do_not_matter(fitted):
    rows = fitted.transform(["Mg3Bi2:Bi", "Bi:Mg3Bi2", "Bi : Mg6Bi4"])
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(rows[0], rows[2])


def test_ad_hoc_mixture_is_composite(fitted):
    f = features(fitted, "MgF2:Mg2Sn")
    assert f["class_composite"] == 1
    assert f["frac_Mg"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert f["frac_fluoride"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- bare metal
@pytest.mark.parametrize("spelling", ["none", "NONE", "bare Mg", "uncoated"])
def test_none_is_a_finite_first_class_value(fitted, spelling):
    row = fitted.transform([spelling])[0]
    assert np.all(np.isfinite(row))
    f = labelled(fitted, row)
    assert f["class_none"] == 1 and f["has_coating"] == 0 and f["n_phases"] == 0
    others = [v for k, v in f.items() if k != "class_none"]
    assert not any(others)


def test_none_differs_from_every_coating(fitted, library):
    rows = fitted.transform(library.names("coating"))
    bare = rows[library.names("coating").index("none")]
    coated = [r for n, r in zip(library.names("coating"), rows, strict=True) if n != "none"]
    assert all(not np.array_equal(bare, r) for r in coated)


# ---------------------------------------------------------------- whole library
def test_every_library_coating_featurizes(fitted, library):
    names = library.names("coating")
    X = fitted.transform(names)
    assert X.shape == (len(names), len(fitted.feature_labels()))
    assert X.dtype == np.float64
    assert not np.isnan(X).any()
    labels = fitted.feature_labels()
    classes = X[:, [labels.index(f"class_{c}") for c in COATING_CLASSES]]
    np.testing.assert_array_equal(classes.sum(axis=1), 1)
    for name, row in zip(names, X, strict=True):
        comp = library.get("coating", name)
        assert row[labels.index(f"class_{comp.category}")] == 1
        assert row[labels.index("has_coating")] == (comp.composition is not None)
        assert row[labels.index("n_phases")] == (
            len(comp.composition.split(":")) if comp.composition else 0)
    # fractions are fractions
    fr = X[:, [i for i, lab in enumerate(labels) if lab.startswith("frac_")]]
    assert fr.min() >= 0 and fr.max() <= 1 + 1e-12
    # no two distinct library coatings collapse onto one vector
    assert len({row.tobytes() for row in X}) == len(names)


# ---------------------------------------------------------------- spellings and cache
@pytest.mark.parametrize("spellings", [
    ("Mg-Bi alloy", "Mg–Bi", "MgBi", "Mg3Bi2:Bi", "Bi:Mg3Bi2"),
    ("MgF2", "MgF2 layer", "F2Mg", "mgf2-rich sei"),
    ("Bi/MgCl2", "BiCl3-treated Mg", "MgCl2:Mg3Bi2:Mg:Bi"),
])
def test_spellings_give_identical_vectors(fitted, spellings):
    rows = fitted.transform(list(spellings))
    for row in rows[1:]:
        np.testing.assert_array_equal(row, rows[0])


def test_cached_equals_cold(library, tmp_path, monkeypatch):
    names = library.names("coating") + ["MgF2:Mg2Sn", "CaF2"]
    cold = CoatingFeaturizer(library=library, use_cache=False).fit().transform(names)
    cache_dir = str(tmp_path / "cache")
    first = CoatingFeaturizer(library=library, cache_dir=cache_dir).fit().transform(names)

    def refuse(self, component):
        raise AssertionError(f"{component.name} recomputed instead of read from the cache")

    monkeypatch.setattr(CoatingFeaturizer, "featurize", refuse)
    second = CoatingFeaturizer(library=library, cache_dir=cache_dir).fit().transform(names)
    np.testing.assert_array_equal(first, cold)
    np.testing.assert_array_equal(second, cold)


def test_repeated_rows_share_one_vector(fitted):
    X = fitted.transform(np.array([["MgF2"], ["none"], ["MgF2"], ["Mg-Sn alloy"]], dtype=object))
    np.testing.assert_array_equal(X[0], X[2])
    assert not np.array_equal(X[0], X[1])


# ---------------------------------------------------------------- errors
def test_unparsable_formula_nan_mode(library):
    fz = CoatingFeaturizer(library=library, on_error="nan").fit()
    X = fz.transform(["MgF2", "Mg3Bi2;;Qq", "none"])
    assert np.isnan(X[1]).all()
    assert not np.isnan(X[[0, 2]]).any()
    assert "Mg3Bi2;;Qq" in fz.errors_


def test_unparsable_formula_raise_mode(library):
    fz = CoatingFeaturizer(library=library).fit()
    with pytest.raises(FeaturizationError, match=r"Mg3Bi2;;Qq"):
        fz.transform(["MgF2", "Mg3Bi2;;Qq"])


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity:UserWarning")
def test_element_without_magpie_data_is_refused_not_imputed(library):
    """He has no Magpie electronegativity: an error naming coating, element and property."""
    with pytest.raises(FeaturizationError, match=r"He.*Electronegativity"):
        CoatingFeaturizer(library=library).fit().transform(["HeF2"])
    fz = CoatingFeaturizer(library=library, on_error="nan").fit()
    X = fz.transform(["HeF2", "MgF2"])
    assert np.isnan(X[0]).all() and not np.isnan(X[1]).any()
    (reason,) = fz.errors_.values()
    assert "He" in reason and "not imputed" in reason


def test_inconsistent_components_are_refused(fitted):
    with pytest.raises(FeaturizationError, match="only class 'none'"):
        fitted.featurize(Component("coating", "odd", "odd", "alloy"))
    with pytest.raises(FeaturizationError, match="only class 'none'"):
        fitted.featurize(Component("coating", "odd", "odd", "none", composition="MgO"))
    with pytest.raises(FeaturizationError, match="not one of"):
        fitted.featurize(Component("coating", "odd", "odd", "ceramic", composition="MgO"))


# ---------------------------------------------------------------- metadata
def test_labels_units_citations(fitted):
    labels = fitted.feature_labels()
    assert len(labels) == len(set(labels)) == len(MAGPIE_PROPERTIES) * len(MAGPIE_STATS) + 6 + 9 \
        + 2 + len(COATING_CLASSES)
    units = fitted.feature_units()
    assert set(units) == set(labels)
    assert units["magpie_mean_MeltingT"] == "K"
    assert units["magpie_range_CovalentRadius"] == "pm"
    assert units["frac_Mg"] == "" and units["class_none"] == ""
    names = fitted.get_feature_names_out()
    assert list(names) == [f"coating__{lab}" for lab in labels]
    bib = "\n".join(fitted.citations())
    for needle in ("10.1016/j.commatsci.2018.05.018", "10.1038/npjcompumats.2016.28",
                   "10.1016/j.commatsci.2012.10.028"):
        assert needle in bib


def test_row_order_and_subset_invariance(fitted):
    names = ["MgF2", "none", "Mg3Bi2:Bi", "PAN", "Ca-borate SEI"]
    X = fitted.transform(names)
    order = [3, 0, 4, 2, 1]
    np.testing.assert_array_equal(fitted.transform([names[i] for i in order]), X[order])
    for i, name in enumerate(names):
        np.testing.assert_array_equal(fitted.transform([name])[0], X[i])


def test_clone_pickle_and_refit_give_same_output(library, fitted):
    names = ["MgF2", "none", "Bi/MgCl2"]
    X = fitted.transform(names)
    np.testing.assert_array_equal(clone(fitted).fit().transform(names), X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(names), X)
    np.testing.assert_array_equal(fitted.fit(names).transform(names), X)


def test_transform_does_not_change_state(fitted):
    before = {k: v for k, v in fitted.__dict__.items() if k != "errors_"}
    fitted.transform(["MgF2", "none"])
    assert fitted.__dict__.keys() - {"errors_"} == before.keys()
    assert all(fitted.__dict__[k] is v for k, v in before.items())


def test_in_column_transformer_with_pandas_output(library):
    df = pd.DataFrame({"coating": ["MgF2", "none", "Mg-Sn alloy"], "thickness_um": [1, 0, 2]})
    ct = ColumnTransformer([("coat", CoatingFeaturizer(library=library), ["coating"])],
                           remainder="passthrough").set_output(transform="pandas")
    out = ct.fit_transform(df)
    n = len(CoatingFeaturizer().feature_labels())
    assert out.shape == (3, n + 1)
    assert out.loc[1, "coat__coating__class_none"] == 1
    assert out.loc[0, "coat__coating__frac_fluoride"] == pytest.approx(2 / 3)
    assert list(out["remainder__thickness_um"]) == [1, 0, 2]
