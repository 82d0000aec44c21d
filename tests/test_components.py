"""Name, alias, SMILES and formula resolution through the component library."""

from __future__ import annotations

import shutil

import pytest

from screen.data.components import (
    ComponentLibrary,
    LibraryError,
    UnknownComponent,
    canonical_composition,
    infer_coating_class,
    normalize_name,
)
from screen.data.paths import dataset_dir


@pytest.mark.parametrize("spelling", ["B(hfip)4", "Mg[B(hfip)4]2", "BHFIP", "[B(hfip)4]-",
                                      "b(HFIP)4", "Mg[B(hfip)₄]₂", "Ca[B(hfip)4]2"])
def test_b_hfip_spellings(library, spelling):
    assert library.resolve("anion", spelling).name == "B(hfip)4"


@pytest.mark.parametrize("spelling", ["TFSI", "tfsi", "TFSI-", "Mg(TFSI)2", "Mg(TFSI)₂",
                                      "TFSI⁻", "bis(trifluoromethanesulfonyl)imide"])
def test_tfsi_spellings(library, spelling):
    assert library.resolve("anion", spelling).name == "TFSI"


def test_normalize_name():
    assert normalize_name(" [B(hfip)₄]⁻ ") == "b(hfip)4"
    assert normalize_name("Mg–Sn alloy") == "mg-snalloy"
    assert normalize_name("(CF3SO2)2N") == "(cf3so2)2n"  # inner brackets are not stripped


def test_smiles_spelling_resolves_to_the_library_entry(library):
    dme = library.get("solvent", "DME")
    for smiles in ("COCCOC", "C(OC)COC", "O(C)CCOC"):
        assert library.resolve("solvent", smiles) is dme


def test_new_anion_from_smiles(library):
    comp = library.resolve("anion", "FC(F)(F)C(=O)[O-]")  # trifluoroacetate
    assert not comp.in_library and comp.charge == -1
    assert comp.key == f"smiles:{comp.smiles}"


def test_neutral_smiles_is_not_an_anion(library):
    with pytest.raises(UnknownComponent, match="net charge"):
        library.resolve("anion", "CCO")


def test_charged_smiles_is_not_a_solvent(library):
    with pytest.raises(UnknownComponent, match="must be neutral"):
        library.resolve("solvent", "[O-]C")


def test_unknown_name_gets_suggestions(library):
    with pytest.raises(UnknownComponent) as err:
        library.resolve("solvent", "diglym")
    assert "G2" in err.value.suggestions


def test_solvent_mixture(library):
    assert [c.name for c in library.resolve_many("solvent", "DME:THF")] == ["DME", "THF"]


def test_coating_formula_and_mixture(library):
    comp = library.resolve("coating", "Mg3Sb2Te")  # not in the library: from its formula
    assert not comp.in_library and comp.category == "alloy"
    assert canonical_composition("Mg3Bi2:Bi") == canonical_composition("Bi : Mg6Bi4")
    mixture = library.resolve("coating", "ZnTe:MgF2")
    assert mixture.category == "composite" and mixture.key == "composition:MgF2:ZnTe"


def test_coating_formula_matching_a_library_entry_resolves_to_it(library):
    entry = next(c for c in library.entries["coating"] if c.composition)
    assert library.resolve("coating", entry.composition).name == entry.name


@pytest.mark.parametrize(("formula", "expected"), [
    ("MgF2", "fluoride"), ("MgCl2", "halide"), ("Mg2Sn", "alloy"), ("Bi", "metal"),
    ("MgO", "oxide"), ("MgSO3", "sulfite"), ("MgS", "sulfide"), ("Mg3N2", "nitride"),
    ("C6H18O24P6", "organic"), ("Mg3Bi2:Bi", "composite"),
])
def test_infer_coating_class(formula, expected):
    assert infer_coating_class(formula) == expected


@pytest.mark.parametrize("text", ["zeolyte", "Xx2", "Mg3Bi2:", "mg", "=cmd|' /C calc'!A0"])
def test_bad_coating_text_is_refused(library, text):
    with pytest.raises(UnknownComponent):
        library.resolve("coating", text)


def test_library_refuses_an_alias_used_twice(tmp_path):
    for path in dataset_dir().glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    solvents = tmp_path / "solvents.csv"
    lines = solvents.read_text(encoding="utf-8").splitlines()
    head, first = lines[0], lines[1]
    clash = first.replace(first.split(",")[0], "NEWSOLV", 1)  # same aliases, new name
    solvents.write_text("\n".join([head, first, clash, *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(LibraryError, match=r"solvents.csv row 2 .*already used"):
        ComponentLibrary.load(tmp_path)


def test_library_refuses_a_bad_coating_class(tmp_path):
    for path in dataset_dir().glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    coatings = tmp_path / "coatings.csv"
    text = coatings.read_text(encoding="utf-8").replace(",alloy,", ",alloyy,", 1)
    coatings.write_text(text, encoding="utf-8")
    with pytest.raises(LibraryError, match="coating_class 'alloyy'"):
        ComponentLibrary.load(tmp_path)
