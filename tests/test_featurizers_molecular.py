"""Anion and solvent/additive featurizers: chemistry, xTB, geometry, caching, sklearn API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms

from featurizers import xtb
from featurizers.anion import AnionFeaturizer
from featurizers.base import FeaturizationError
from featurizers.geometry import embed
from featurizers.molecule import compute, molecular_volume
from featurizers.solvent import SolventFeaturizer
from screen.data.components import Component

XTB_COLUMNS = ["homo_eV", "lumo_eV", "gap_eV", "dipole_D", "q_min_e"]


def adhoc(kind: str, smiles: str) -> Component:
    """A component built straight from a SMILES, *not* canonicalized (unlike resolution)."""
    charge = Chem.GetFormalCharge(Chem.MolFromSmiles(smiles))
    return Component(kind, smiles, f"smiles:{smiles}", "unknown", smiles=smiles, charge=charge,
                     in_library=False)


@pytest.fixture(scope="module")
def anions(library) -> pd.DataFrame:
    """Every library anion, featurized once (cache: the session's private directory)."""
    names = library.names("anion")
    fz = AnionFeaturizer(library=library).fit()
    return pd.DataFrame(fz.transform(names), index=names, columns=fz.feature_labels())


@pytest.fixture(scope="module")
def solvents(library) -> pd.DataFrame:
    """Every library solvent/additive (salts, ionic liquids, polymers), featurized once."""
    names = library.names("solvent")
    fz = SolventFeaturizer(library=library).fit()
    return pd.DataFrame(fz.transform(names), index=names, columns=fz.feature_labels())


# ---------------------------------------------------------------- acceptance: whole library
def test_every_library_anion_featurizes(anions, library):
    assert list(anions.index) == library.names("anion")
    assert not anions[XTB_COLUMNS].isna().any().any()
    assert np.isfinite(anions.to_numpy()).all()
    assert anions.loc[["CB11H12", "FCB11H11"], XTB_COLUMNS].notna().all().all()


def test_every_library_solvent_and_additive_featurizes(solvents, library):
    assert list(solvents.index) == library.names("solvent")
    assert not solvents[XTB_COLUMNS].isna().any().any()
    assert np.isfinite(solvents.to_numpy()).all()


# ---------------------------------------------------------------- donor groups
@pytest.mark.parametrize(("name", "ether_o", "dent"), [
    ("THF", 1, 1), ("DME", 2, 2), ("G2", 3, 3), ("G3", 4, 4), ("G4", 5, 5),
    ("DOL", 2, 1),  # acetal O–C–O: a 4-ring chelate, not counted as chelating
    ("PTHF", 4, 1),  # O…O five bonds apart
    ("EC", 0, 0), ("DMC", 0, 0),  # carbonate O are not ether O
])
def test_ether_oxygens_and_denticity(solvents, name, ether_o, dent):
    assert solvents.loc[name, "n_ether_O"] == ether_o
    assert solvents.loc[name, "denticity"] == dent


def test_amines_imidazoles_and_carbonyl_type_groups(solvents):
    s = solvents
    assert s.loc["PDA", "n_amine_N"] == 2 and s.loc["PDA", "denticity"] == 2  # 6-ring chelate
    assert s.loc["M4", "n_amine_N"] == 1 and s.loc["M4", "denticity"] == 4  # tripodal N,O3
    assert s.loc["DMF", "n_amine_N"] == 0 and s.loc["urea", "n_amine_N"] == 0  # amides
    assert s.loc["PrIm", "n_imidazole_N"] == 1 and s.loc["MeIm", "n_imidazole_N"] == 1
    assert s.loc["BmimBF4", "n_imidazole_N"] == 0  # imidazolium: no free lone pair
    assert s.loc["TEP", "n_PO"] == 1 and s.loc["TMP", "n_PO"] == 1 and s.loc["DME", "n_PO"] == 0
    assert s.loc["EC", "n_CO"] == 1 and s.loc["PEDCA", "n_CO"] == 2
    assert s.loc["DMSO", "n_SO"] == 1 and s.loc["LiTFSI", "n_SO"] == 4
    assert s.loc["OctylBr", "n_Br"] == 1 and s.loc["GeCl4", "n_Cl"] == 4


def test_salt_flags(solvents):
    s = solvents
    assert s.loc["MgCl2", ["n_fragments", "is_salt"]].tolist() == [3, 1]
    assert s.loc["PYR14TFSI", ["n_fragments", "is_salt"]].tolist() == [2, 1]
    assert s.loc["N1111-Mg(TFSA)3", "n_fragments"] == 5
    assert s.loc["DME", ["n_fragments", "is_salt"]].tolist() == [1, 0]
    assert s.loc["BF3-DE", ["n_fragments", "is_salt"]].tolist() == [1, 0]  # zwitterion adduct
    assert s.loc["I2", "is_salt"] == 0


def test_coordinating_atoms_of_anions(anions):
    a = anions
    assert a.loc["TFSI", ["n_coord_O", "n_coord_N"]].tolist() == [4, 1]
    assert a.loc["B(hfip)4", "n_O"] == 4 and a.loc["B(hfip)4", "n_coord_O"] == 0  # O on B
    assert a.loc["HMDSAlCl3", "n_coord_N"] == 0 and a.loc["HMDS", "n_coord_N"] == 1  # N on Al
    assert a.loc["B(OTf)4", "n_coord_O"] == 8  # the S=O oxygens


# ---------------------------------------------------------------- fluorination
def test_perfluorinated_anions_carry_more_fluorine(anions):
    fz = AnionFeaturizer(use_cache=False).fit()
    b_oipr4 = "CC(C)O[B-](OC(C)C)(OC(C)C)OC(C)C"  # non-fluorinated analogue of B(hfip)4
    plain = dict(zip(fz.feature_labels(), fz.transform([b_oipr4])[0], strict=True))
    assert anions.loc["B(hfip)4", "n_F"] == 24 and plain["n_F"] == 0
    assert anions.loc["B(hfip)4", "n_heavy"] == plain["n_heavy"] + 24  # H -> F, same skeleton
    # 24 electron-withdrawing F stabilize the occupied orbitals (numbers: -9.7 vs -6 eV)
    assert anions.loc["B(hfip)4", "homo_eV"] < plain["homo_eV"] - 1.0
    assert anions.loc["FCB11H11", "n_F"] == 1 and anions.loc["CB11H12", "n_F"] == 0
    assert anions.loc["FCB11H11", "mw_g_mol"] - anions.loc["CB11H12", "mw_g_mol"] == \
        pytest.approx(18.998 - 1.008, abs=0.01)


# ---------------------------------------------------------------- xTB
def test_two_spellings_give_identical_xtb_results():
    for a, b in [("COCCOC", "C(OC)COC"), ("COC(=O)CO", "OCC(=O)OC")]:
        ra, rb = compute(adhoc("solvent", a)).xtb, compute(adhoc("solvent", b)).xtb
        assert abs(ra.homo_eV - rb.homo_eV) <= 1e-6 and abs(ra.lumo_eV - rb.lumo_eV) <= 1e-6
        assert abs(ra.dipole_D - rb.dipole_D) <= 1e-6
    fz = SolventFeaturizer(use_cache=False).fit()
    np.testing.assert_array_equal(fz.featurize(adhoc("solvent", "COCCOC")),
                                  fz.featurize(adhoc("solvent", "C(OC)COC")))


def test_anion_orbital_sanity(anions):
    assert (anions["homo_eV"] < anions["lumo_eV"]).all()
    assert (anions["q_min_e"] < 0).all()
    # TFSI- resists oxidation far better than BH4- (numbers: -8.1 vs -3.9 eV)
    assert anions.loc["TFSI", "homo_eV"] < anions.loc["BH4", "homo_eV"] - 2.0
    # binding hfip- to boron removes its high-lying alkoxide lone pair (-9.7 vs -4.9 eV)
    assert anions.loc["B(hfip)4", "homo_eV"] < anions.loc["hfip", "homo_eV"] - 2.0


def test_charge_delocalization(anions):
    a = anions
    assert a.loc["Cl", "neg_fraction_on_min_atom"] == pytest.approx(1.0)
    assert a.loc["Cl", "n_eff_negative_atoms"] == pytest.approx(1.0)
    assert a.loc["Cl", "q_min_e"] == pytest.approx(-1.0, abs=1e-6)
    assert a.loc["TPFA", "n_eff_negative_atoms"] > 20  # charge spread over 36 F and 4 O
    assert a.loc["TPFA", "charge_per_heavy_atom_e"] == pytest.approx(1 / 57)
    assert a.loc["S8", "charge_per_heavy_atom_e"] == pytest.approx(2 / 8)
    assert ((a["neg_fraction_on_min_atom"] > 0) & (a["neg_fraction_on_min_atom"] <= 1)).all()


def test_solvent_orbital_sanity(solvents):
    assert (solvents["gap_eV"] > 0).all()
    assert (solvents["homo_eV"] < solvents["lumo_eV"]).all()
    # carbonates are reduced more easily than glymes (LUMO: about -6.6 vs -0.6 eV)
    assert solvents.loc["EC", "lumo_eV"] < solvents.loc["DME", "lumo_eV"] - 2.0


def test_frontier_orbitals_use_aufbau_filling():
    e = np.array([-0.5, -0.3, -0.29, 0.1])
    # closed shell, smearing splits two electrons over a near-degenerate pair
    homo, lumo, n = xtb.frontier_orbitals(e, np.array([2.0, 1.2, 0.8, 0.0]))
    assert (homo, lumo, n) == (-0.3, -0.29, 4)
    homo, lumo, n = xtb.frontier_orbitals(e, np.array([2.0, 1.0, 0.0, 0.0]))  # doublet
    assert (homo, lumo, n) == (-0.3, -0.29, 3)
    with pytest.raises(ValueError, match="not an integer"):
        xtb.frontier_orbitals(e, np.array([2.0, 0.5, 0.0, 0.0]))


def test_ion_dipole_does_not_depend_on_the_origin():
    mol = embed(adhoc("anion", "O=S(=O)([N-]S(=O)(=O)C(F)(F)F)C(F)(F)F"))
    z = [a.GetAtomicNum() for a in mol.GetAtoms()]
    m = [a.GetMass() for a in mol.GetAtoms()]
    xyz = mol.GetConformer().GetPositions()
    ref = xtb.singlepoint(z, xyz, -1, "TFSI", m)
    moved = xtb.singlepoint(z, xyz + np.array([10.0, -7.0, 3.0]), -1, "TFSI", m)
    assert moved.dipole_D == pytest.approx(ref.dipole_D, abs=1e-6)
    assert ref.uhf == 0 and ref.n_electrons % 2 == 0


def test_scf_failure_is_an_error_naming_the_component(monkeypatch):
    from tblite.exceptions import TBLiteRuntimeError
    from tblite.interface import Calculator

    def not_converged(self, *args, **kwargs):
        raise TBLiteRuntimeError("SCF not converged in 250 cycles")

    monkeypatch.setattr(Calculator, "singlepoint", not_converged)
    with pytest.raises(xtb.XTBError, match=r"DME.*SCF not converged"):
        xtb.singlepoint_mol(embed(adhoc("solvent", "COCCOC")), 0, "DME")
    fz = SolventFeaturizer(use_cache=False).fit()
    with pytest.raises(FeaturizationError, match=r"'DME'.*SCF not converged"):
        fz.transform(["DME"])
    fz = SolventFeaturizer(use_cache=False, on_error="nan").fit()
    assert np.isnan(fz.transform(["DME"])).all()
    assert "SCF not converged" in fz.errors_["DME"]


def test_odd_electron_count_is_a_doublet(solvents):
    assert solvents.loc["CrCl3", XTB_COLUMNS].notna().all()
    mol = embed(adhoc("solvent", "[Cl-].[Cl-].[Cl-].[Cr+3]"))
    assert xtb.singlepoint_mol(mol, 0, "CrCl3").uhf == 1


# ---------------------------------------------------------------- geometry
def test_pf6_is_octahedral():
    mol = embed(adhoc("anion", "F[P-](F)(F)(F)(F)F"))
    conf = mol.GetConformer()
    p = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "P")
    f = [a.GetIdx() for a in mol.GetAtomWithIdx(p).GetNeighbors()]
    angles = [rdMolTransforms.GetAngleDeg(conf, i, p, j)
              for k, i in enumerate(f) for j in f[k + 1:]]
    assert all(min(abs(x - 90), abs(x - 180)) < 5 for x in angles)


def test_embedding_is_deterministic_and_keeps_xyz_geometry(library):
    a = embed(adhoc("anion", "FC(F)(F)C(O[B-](OC(C(F)(F)F)C(F)(F)F)(OC(C(F)(F)F)C(F)(F)F)"
                             "OC(C(F)(F)F)C(F)(F)F)C(F)(F)F"))
    b = embed(adhoc("anion", "[B-](OC(C(F)(F)F)C(F)(F)F)(OC(C(F)(F)F)C(F)(F)F)"
                             "(OC(C(F)(F)F)C(F)(F)F)OC(C(F)(F)F)C(F)(F)F"))
    np.testing.assert_array_equal(a.GetConformer().GetPositions(), b.GetConformer().GetPositions())
    carb = embed(library.get("anion", "CB11H12"))
    assert carb.GetProp("geometry") == "xyz" and carb.GetNumAtoms() == 24


@pytest.mark.parametrize("name", ["MgCl2", "AlCl3", "LiBH4", "Mg(BH4)2", "MgO", "Li2S8",
                                  "LiTFSI", "BmimBF4", "PYR14TFSI", "N1122-Mg(TFSA)3", "PTB"])
def test_ion_clusters_are_compact_and_do_not_overlap(library, name):
    mol = embed(library.get("solvent", name))
    frags = Chem.GetMolFrags(mol)
    assert len(frags) > 1
    xyz = mol.GetConformer().GetPositions()
    pt = Chem.GetPeriodicTable()
    rcov = np.array([pt.GetRcovalent(a.GetAtomicNum()) for a in mol.GetAtoms()])
    for k, frag in enumerate(frags):
        others = [i for j, f in enumerate(frags) if j != k for i in f]
        d = np.linalg.norm(xyz[list(frag)][:, None] - xyz[others][None], axis=-1)
        assert d.min() > 0.75 * (rcov[list(frag)][:, None] + rcov[others][None]).min()
        assert d.min() < 4.0  # every ion touches the cluster: no ions far apart in vacuum


def test_volume_matches_rdkit():
    for smiles in ("COCCOC", "O=S(=O)([N-]S(=O)(=O)C(F)(F)F)C(F)(F)F"):
        mol = embed(adhoc("anion" if "-" in smiles else "solvent", smiles))
        assert molecular_volume(mol) == AllChem.ComputeMolVolume(mol)


def test_gasteiger_gaps_are_filled_with_xtb_charges_not_zeros(anions):
    pf6 = anions.loc["PF6"]
    assert pf6["charges_from_xtb"] == 1
    assert pf6["charge_spread_e"] == pytest.approx(pf6["q_max_e"] - pf6["q_min_e"])
    assert anions.loc["CB11H12", "charges_from_xtb"] == 1
    assert anions.loc["TFSI", "charges_from_xtb"] == 0
    assert (anions.loc[["Cl", "Br", "I"], "charge_spread_e"] == 0).all()  # one atom: truly 0
    assert (anions.drop(index=["Cl", "Br", "I"])["charge_spread_e"] > 0.1).all()


# ---------------------------------------------------------------- cache and errors
@pytest.mark.parametrize(("cls", "names"), [(AnionFeaturizer, ["TFSI", "CB11H12", "PF6"]),
                                            (SolventFeaturizer, ["MgCl2", "G2", "BmimBF4"])])
def test_cached_values_equal_a_cold_computation(tmp_path, monkeypatch, cls, names):
    fz = cls(cache_dir=str(tmp_path)).fit()
    first = fz.transform(names)

    def boom(component):
        raise AssertionError(f"{component.name} recomputed although cached")

    monkeypatch.setattr(fz, "featurize", boom)
    second = fz.transform(names)  # every row must come from the cache
    cold = cls(use_cache=False).fit().transform(names)
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(cold, first)


def test_on_error_nan_and_raise():
    bad = "C1CC(N"  # unclosed ring and branch: RDKit cannot parse it
    fz = SolventFeaturizer(on_error="nan").fit()
    X = fz.transform(["DME", bad])
    assert np.isfinite(X[0]).all() and np.isnan(X[1]).all()
    assert bad in fz.errors_
    with pytest.raises(FeaturizationError, match=r"C1CC\(N"):
        SolventFeaturizer(on_error="raise").fit().transform(["DME", bad])
    with pytest.raises(FeaturizationError, match="must carry a negative formal charge"):
        AnionFeaturizer().fit().transform(["COCCOC"])


# ---------------------------------------------------------------- metadata and sklearn
@pytest.mark.parametrize("cls", [AnionFeaturizer, SolventFeaturizer])
def test_labels_units_and_citations(cls):
    fz = cls().fit()
    labels = fz.feature_labels()
    assert len(labels) == len(set(labels))
    assert set(fz.feature_units()) == set(labels)
    assert fz.feature_units()["homo_eV"] == "eV" and fz.feature_units()["dipole_D"] == "debye"
    assert list(fz.get_feature_names_out()) == [f"{cls.name}__{x}" for x in labels]
    bib = "\n".join(fz.citations())
    for needle in ("10.1021/acs.jctc.8b01176", "Bannwarth", "tblite", "RDKit"):
        assert needle in bib


@pytest.mark.parametrize("cls", [AnionFeaturizer, SolventFeaturizer])
def test_output_is_float64_for_any_string_container(cls):
    fz = cls().fit()
    name = "TFSI" if cls is AnionFeaturizer else "DME"
    ref = fz.transform([name])
    for X in (np.array([name], dtype=object), np.array([[name]]), pd.Series([name]),
              pd.DataFrame({"c": [name]})):
        out = fz.transform(X)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, ref)
