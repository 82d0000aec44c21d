"""Integrity of the embedded data set and component library."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from screen import load_interfaces, summarize
from screen.data.components import canonical_smiles, is_none
from screen.data.paths import dataset_dir
from screen.data.schema import COLUMN_NAMES, MEASURED_COLUMNS, NUMERIC_COLUMNS
from screen.data.structures import molecule, phases, xyz_charge

SEEDS = {"000_45ffde97a404c2da.txt", "001_370a9b4135c6cb29.txt", "002_5361bbbdf0ce0efe.txt",
         "003_36cc84d303f20c35.txt", "004_6afb8586d0656ae0.txt"}
SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@pytest.fixture(scope="module")
def frame(library) -> pd.DataFrame:
    return load_interfaces(library=library)


def test_loads_cleanly_with_exact_columns(frame, interfaces_rows):
    assert interfaces_rows[0] == list(COLUMN_NAMES)
    assert len(frame) >= 150
    assert set(frame["metal"]) == {"Mg", "Ca"}


def test_every_row_has_provenance_from_a_seed(frame):
    assert frame["source"].notna().all() and frame["location"].notna().all()
    seed = frame["source"].isin(SEEDS)
    # Literature rows (beyond the seeds) cite the stored page they were read on and/or a DOI.
    literature = frame[~seed]
    assert (literature["url"].notna() | literature["doi"].notna()).all()
    assert frame.loc[seed, "url"].isna().all()
    if SEED_DIR.is_dir():
        for source in set(frame.loc[seed, "source"]):
            assert (SEED_DIR / source).is_file(), source


def test_every_row_measures_something(frame):
    assert frame[list(MEASURED_COLUMNS)].notna().any(axis=1).all()


def test_blank_is_never_written_as_zero(frame):
    numbers = frame[list(NUMERIC_COLUMNS)].drop(columns="temperature_C")
    assert not (numbers == 0).any().any()


def test_censoring_only_with_cycle_life(frame):
    life = frame["cycle_life_h"].notna() | frame["cycle_life_cycles"].notna()
    assert (frame["cycle_life_censored"].notna() == life).all()
    assert frame.loc[life, "cycle_life_censored"].sum() > 0  # "over N h" records exist


def test_no_duplicate_rows(interfaces_rows):
    counts = Counter(tuple(r.values()) for r in interfaces_rows[1])
    assert max(counts.values()) == 1


def test_every_component_resolves_to_a_library_entry(frame, library):
    for kind, column in (("anion", "anion"), ("solvent", "solvent"), ("solvent", "additive"),
                         ("coating", "coating")):
        for value in frame[column].dropna().unique():
            if is_none(value):
                continue
            for part in (value.split(":") if kind == "solvent" else [value]):
                assert library.resolve(kind, part).in_library, (column, value)


def test_library_smiles_parse_with_the_declared_charge(library):
    for kind in ("anion", "solvent"):
        for comp in library.entries[kind]:
            if comp.smiles:
                parsed = canonical_smiles(comp.smiles)
                assert parsed is not None, comp.name
                assert parsed[1] == comp.charge, comp.name


def test_library_structures_build(library):
    for kind in ("anion", "solvent"):
        for comp in library.entries[kind]:
            mol = molecule(comp)
            assert mol.GetNumAtoms() > 0, comp.name
    for comp in library.entries["coating"]:
        if comp.name != "none":
            assert phases(comp), comp.name


def test_carborane_cage_is_an_intact_icosahedron(library):
    comp = library.get("anion", "CB11H12")
    assert comp.structure_file and not comp.smiles
    assert xyz_charge(dataset_dir() / comp.structure_file) == comp.charge == -1
    mol = molecule(comp)
    symbols = Counter(a.GetSymbol() for a in mol.GetAtoms())
    assert symbols == {"B": 11, "C": 1, "H": 12}
    for atom in mol.GetAtoms():
        neighbours = Counter(n.GetSymbol() for n in atom.GetNeighbors())
        if atom.GetSymbol() in ("B", "C"):  # five cage neighbours and one exo H
            assert neighbours["H"] == 1 and neighbours["B"] + neighbours["C"] == 5
        else:
            assert sum(neighbours.values()) == 1


def test_fluorinated_carborane_has_one_fluorine_more_than_hydrogen_lost(library):
    parent = Counter(a.GetSymbol() for a in molecule(library.get("anion", "CB11H12")).GetAtoms())
    fluoro = Counter(a.GetSymbol() for a in molecule(library.get("anion", "FCB11H11")).GetAtoms())
    assert fluoro["F"] == parent["F"] + 1 and fluoro["H"] == parent["H"] - 1


def test_summary_counts(frame, library):
    summary = summarize(frame, library)
    assert summary.n_rows == len(frame)
    assert summary.by_metal["rows"].sum() == len(frame)
    assert "(blank)" not in set(summary.by_anion_family["anion family"])
    assert 0 < summary.censored_fraction < 1
    cycles = summary.targets.set_index("target").loc["overpotential_V", "rows"]
    assert cycles == frame["overpotential_V"].notna().sum()
