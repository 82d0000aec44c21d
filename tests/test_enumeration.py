"""`mgscreen enumerate`: candidate spaces, their Parquet libraries and the partition reader."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.data.components import ComponentLibrary, is_none
from screen.data.paths import dataset_dir
from screen.data.schema import FORMULATION_COLUMNS
from screen.learn.config import ConfigError
from screen.screening.candidates import (
    CandidateFileError,
    Partition,
    count_candidates,
    iter_candidates,
    plan_partitions,
    read_partition,
)
from screen.screening.enumeration import (
    AXIS_NAMES,
    EnumerationConfig,
    EnumerationError,
    build_candidate_space,
    load_enumeration_config,
    write_candidates,
)

SMALL_TOML = """
[space]
metals = ["Mg", "Ca"]
anions = ["TFSI", "Mg(TFSI)2", "Cl", "B(hfip)4"]     # an alias of TFSI counts once
solvents = ["DME", "monoglyme", "THF", "G2"]
additives = ["none", "MgCl2", "TEP"]
coatings = ["none", "MgF2", "Mg-Bi alloy"]
salt_conc_M = [0.5, 1.0]
additive_conc_M = [0.05, 0.2]
coating_thickness_um = 1.0

[mixtures]
enabled = true
cosolvents = ["THF", "DME", "DOL"]
ratios = ["1:1", "2:2", "2:1", "1:2", "4:2"]

[conditions]
cell_type = ["symmetric", "asymmetric_Cu"]
current_density_mA_cm2 = [0.5, 1.0]
areal_capacity_mAh_cm2 = [1.0]
temperature_C = [25.0]
"""


@pytest.fixture
def small_config(tmp_path) -> Path:
    path = tmp_path / "enumerate.toml"
    path.write_text(SMALL_TOML)
    return path


@pytest.fixture
def small_space(small_config, library):
    return build_candidate_space(load_enumeration_config(small_config), library)


def cli(*args: str):
    from screen.cli import app

    return CliRunner().invoke(app, ["enumerate", *args])


def has_cl(library: ComponentLibrary, kind: str, name: str) -> bool:
    """Cl atoms from the library's own structures (SMILES, or the XYZ file's elements)."""
    from rdkit import Chem

    if is_none(name):
        return False
    comp = library.resolve(kind, name)
    if comp.smiles:
        return any(a.GetSymbol() == "Cl" for a in Chem.MolFromSmiles(comp.smiles).GetAtoms())
    lines = (dataset_dir() / comp.structure_file).read_text().splitlines()[2:]
    return "Cl" in {ln.split()[0] for ln in lines if ln.strip()}


def system_key(row) -> tuple:
    """Canonical identity of a system: solvent parts sorted with their volume fractions."""
    parts = row.solvent.split(":")
    if len(parts) == 1:
        solvent = ((parts[0], Fraction(1)),)
    else:
        a, b = (Fraction(x) for x in row.solvent_ratio.split(":"))
        solvent = tuple(sorted(zip(parts, (a / (a + b), b / (a + b)), strict=True)))
    def amount(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 9)

    return (row.metal, row.anion, row.salt_conc_M, solvent, row.additive,
            amount(row.additive_conc_M), row.coating, amount(row.coating_thickness_um),
            row.cell_type, row.current_density_mA_cm2, row.areal_capacity_mAh_cm2,
            row.temperature_C)


def keys(frame: pd.DataFrame) -> list[tuple]:
    return [system_key(r) for r in frame.itertuples(index=False)]


def read_all(path, rows_per_partition=100_000) -> pd.DataFrame:
    return pd.concat(iter_candidates(path, rows_per_partition), ignore_index=True)


# ---------------------------------------------------------------------------- the space
def test_count_is_product_of_axes_and_rows_written(small_space, tmp_path):
    n = small_space.count()
    assert n == math.prod(small_space.sizes) == math.prod(len(v) for v in
                                                         small_space.axes.values())
    out = write_candidates(small_space, tmp_path / "lib.parquet", chunk_rows=97)
    assert out.is_file() and count_candidates(out) == n
    frame = read_all(out)
    assert len(frame) == n
    assert list(frame.columns) == ["candidate_id", *FORMULATION_COLUMNS]
    assert frame["candidate_id"].dtype == np.int64
    assert (frame["candidate_id"].to_numpy() == np.arange(n)).all()
    meta = json.loads((tmp_path / "lib.parquet.json").read_text())
    assert meta["count"] == n and list(meta["axis_sizes"].values()) == list(small_space.sizes)
    assert meta["digest"] == small_space.digest() and meta["files"][0]["rows"] == n


def test_ids_are_a_stable_mixed_radix_index(small_config, small_space, library):
    again = build_candidate_space(load_enumeration_config(small_config), library)
    assert again.digest() == small_space.digest()
    frame = small_space.frame(0, small_space.count())
    pd.testing.assert_frame_equal(frame, again.frame(0, again.count()))
    # row i is the i-th element of the product of the axes, in axis order
    expected = list(itertools.product(*small_space.axes.values()))
    for i in [0, 1, 17, 1000, len(expected) - 1]:
        row = frame.iloc[i]
        metal, anion, salt, (solvent, ratio), (additive, conc), (coating, um), cell, j, q, t = (
            expected[i])
        assert (row.metal, row.anion, row.salt_conc_M, row.solvent, row.solvent_ratio,
                row.additive, row.coating, row.cell_type, row.current_density_mA_cm2,
                row.areal_capacity_mAh_cm2, row.temperature_C) == (
            metal, anion, salt, solvent, ratio, additive, coating, cell, j, q, t)
        assert (math.isnan(row.additive_conc_M) if conc is None else row.additive_conc_M == conc)
        assert (math.isnan(row.coating_thickness_um) if um is None
                else row.coating_thickness_um == um)
    for column in ("metal", "anion", "solvent", "solvent_ratio", "additive", "coating",
                   "cell_type"):
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column


def test_no_two_candidates_describe_the_same_system(small_space):
    frame = small_space.frame(0, small_space.count())
    k = keys(frame)
    assert len(set(k)) == len(k)
    assert set(frame["anion"]) == {"TFSI", "Cl", "B(hfip)4"}  # alias of TFSI once
    singles = frame[frame["solvent_ratio"] == ""]
    mixtures = frame[frame["solvent_ratio"] != ""]
    assert set(singles["solvent"]) == {"DME", "THF", "G2"}
    parts = mixtures["solvent"].astype(str).str.split(":")
    assert (parts.str[0] != parts.str[1]).all()  # co-solvent == solvent is no mixture
    assert set(mixtures["solvent_ratio"]) == {"1:1", "2:1", "1:2"}  # 2:2 and 4:2 reduced
    # every unordered {solvent, co-solvent} pair once (DME:THF although both lists hold both)
    pairs = {tuple(sorted(p)) for p in parts}
    assert pairs == {("DME", "THF"), ("DME", "DOL"), ("DOL", "THF"), ("G2", "THF"),
                     ("DME", "G2"), ("DOL", "G2")}
    none_additive = frame["additive"] == "none"
    assert frame.loc[none_additive, "additive_conc_M"].isna().all()
    assert frame.loc[~none_additive, "additive_conc_M"].notna().all()
    none_coating = frame["coating"] == "none"
    assert frame.loc[none_coating, "coating_thickness_um"].isna().all()
    assert frame.loc[~none_coating, "coating_thickness_um"].eq(1.0).all()
    axis = dict(zip(AXIS_NAMES, small_space.sizes, strict=True))
    assert axis["additive"] == 1 + 2 * 2 and axis["coating"] == 1 + 2
    assert axis["solvent"] == 3 + 3 * len(pairs)  # singles + 3 reduced ratios per pair


def test_swapping_solvent_order_gives_the_same_systems(tmp_path, library):
    base = EnumerationConfig(anions=("TFSI",), additives=("none",), coatings=("none",),
                             salt_conc_M=(0.5,), solvents=("DME", "THF", "G2"),
                             cosolvents=("THF", "DOL", "DME"), ratios=("1:1", "3:1", "1:2"))
    swapped = base.with_overrides(solvents=("G2", "THF", "DME"), cosolvents=("DME", "DOL", "THF"),
                                  ratios=("1:2", "1:1", "3:1"))
    a, b = (build_candidate_space(c, library) for c in (base, swapped))
    assert a.count() == b.count()
    assert set(keys(a.frame(0, a.count()))) == set(keys(b.frame(0, b.count())))
    # roles swapped: DOL:DME 2:1 (DOL the solvent) is DME:DOL 1:2
    one = build_candidate_space(base.with_overrides(solvents=("DOL",), cosolvents=("DME",),
                                                    ratios=("2:1",)), library)
    two = build_candidate_space(base.with_overrides(solvents=("DME",), cosolvents=("DOL",),
                                                    ratios=("1:2",)), library)
    assert one.solvent[1:] == two.solvent[1:] == (("DME:DOL", "1:2"),)


def test_chloride_free_removes_every_cl_anion_and_additive(library):
    everything = build_candidate_space(EnumerationConfig(additives=()), library)
    free = build_candidate_space(EnumerationConfig(additives=(), chloride_free=True), library)
    cl_anions = {a for a in everything.anion if has_cl(library, "anion", a)}
    cl_additives = {a for a, _ in everything.additive if has_cl(library, "solvent", a)}
    assert {"Cl", "AlCl4", "ClO4"} <= cl_anions and "MgCl2" in cl_additives
    assert set(free.anion) == set(everything.anion) - cl_anions
    assert {a for a, _ in free.additive} == {a for a, _ in everything.additive} - cl_additives
    frame = free.frame(0, min(free.count(), 300_000))
    assert not frame["anion"].isin(cl_anions).any()
    assert not frame["additive"].isin(cl_additives).any()


def test_coating_classes_include_and_exclude(library):
    config = EnumerationConfig(coating_classes=("alloy", "none"), anions=("TFSI",))
    space = build_candidate_space(config, library)
    alloys = {c.name for c in library.entries["coating"] if c.category == "alloy"}
    assert {c for c, _ in space.coating} == alloys | {"none"}
    space = build_candidate_space(EnumerationConfig(
        include={"anion": ("Mg(TFSI)2", "FSI-"), "coating": ("none",)},
        exclude={"solvent": ("tetrahydrofuran",), "additive": ("none",)}), library)
    assert space.anion == ("TFSI", "FSI")
    assert space.coating == (("none", None),)
    assert all("THF" not in s.split(":") for s, _ in space.solvent)
    assert "none" not in {a for a, _ in space.additive}
    with pytest.raises(ConfigError, match=re.escape("'include.anion'")):
        build_candidate_space(EnumerationConfig(anions=("TFSI",), include={"anion": ("FSI",)}),
                              library)
    with pytest.raises(ConfigError, match="did you mean 'TFSI'"):
        build_candidate_space(EnumerationConfig(exclude={"anion": ("TFSX",)}), library)
    with pytest.raises(ConfigError, match="no coating left"):
        build_candidate_space(EnumerationConfig(coating_classes=("zeolite",),
                                                exclude={"coating": ("zeolite",)}), library)


def test_chunked_iteration_equals_one_big_chunk(small_space):
    n = small_space.count()
    whole = next(small_space.iter_chunks(n))
    chunks = list(small_space.iter_chunks(chunk_rows=113))
    assert len(chunks) == math.ceil(n / 113) and all(len(c) <= 113 for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


# ---------------------------------------------------------------------------- files
def test_partitioned_output_reads_back_like_a_single_file(small_space, tmp_path):
    single = write_candidates(small_space, tmp_path / "one.parquet")
    parts = write_candidates(small_space, tmp_path / "parts.parquet", chunk_rows=500,
                             rows_per_file=4000)
    n = small_space.count()
    assert parts.is_dir()
    names = sorted(p.name for p in parts.iterdir())
    assert names == ["_library.json", *[f"part-{i:05d}.parquet"
                                        for i in range(math.ceil(n / 4000))]]
    assert count_candidates(parts) == count_candidates(single) == n
    one, many = read_all(single, 3000), read_all(parts, 640)
    pd.testing.assert_frame_equal(one, many)
    pd.testing.assert_frame_equal(one, small_space.frame(0, n))
    import pyarrow.parquet as pq

    groups = pq.ParquetFile(parts / "part-00000.parquet").metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [500] * 8


def test_plan_partitions_cover_every_row_once(small_space, tmp_path):
    out = write_candidates(small_space, tmp_path / "parts", chunk_rows=500, rows_per_file=4200)
    n = small_space.count()
    for rows in (1, 7, 500, 999, 1000, 4200, 100_000):
        plan = plan_partitions(out, rows)
        assert plan == plan_partitions(out, rows)  # deterministic
        assert all(0 < p.rows <= rows for p in plan)
        covered = np.concatenate([np.arange(p.offset + p.row_start, p.offset + p.row_stop)
                                  for p in plan])
        assert (covered == np.arange(n)).all()
        by_file = {}
        for p in plan:
            by_file.setdefault(p.file, []).append(p)
        for file_parts in by_file.values():  # within a file, contiguous from 0
            assert file_parts[0].row_start == 0
            assert all(a.row_stop == b.row_start for a, b in itertools.pairwise(file_parts))
    import pyarrow.parquet as pq

    aligned = plan_partitions(out, 1000)  # whole row groups of 500, two at a time
    for p in aligned:
        meta = pq.ParquetFile(p.file).metadata
        bounds = np.cumsum([0, *(meta.row_group(i).num_rows
                                 for i in range(meta.num_row_groups))])
        assert p.row_start in bounds and p.row_stop in bounds and p.rows <= 1000
    part = aligned[5]
    frame = read_partition(part)
    assert (frame["candidate_id"] == np.arange(part.offset + part.row_start,
                                               part.offset + part.row_stop)).all()
    pd.testing.assert_frame_equal(
        frame, small_space.frame(part.offset + part.row_start, part.offset + part.row_stop))
    subset = read_partition(part, columns=["anion"])
    assert list(subset.columns) == ["candidate_id", "anion"]


def test_csv_in_the_system_schema_gets_row_number_ids(small_space, tmp_path):
    frame = small_space.frame(0, 250).drop(columns="candidate_id")
    path = tmp_path / "systems.csv"
    frame.to_csv(path, index=False)
    assert count_candidates(path) == 250
    plan = plan_partitions(path, 100)
    assert [(p.row_start, p.row_stop) for p in plan] == [(0, 100), (100, 200), (200, 250)]
    streamed = read_all(path, 100)
    assert (streamed["candidate_id"] == np.arange(250)).all()
    pd.testing.assert_frame_equal(read_partition(plan[1]), streamed.iloc[100:200]
                                  .reset_index(drop=True))
    expected = frame.astype({c: str for c in frame.select_dtypes("category")})
    pd.testing.assert_frame_equal(streamed.drop(columns="candidate_id"), expected,
                                  check_dtype=False)


def test_reader_errors_name_the_file_and_what_is_accepted(tmp_path):
    with pytest.raises(CandidateFileError, match="not found"):
        count_candidates(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CandidateFileError, match=r"notes\.txt: neither Parquet nor \.csv"):
        plan_partitions(tmp_path / "notes.txt")
    (tmp_path / "fake.parquet").write_text("metal,anion\n")
    with pytest.raises(CandidateFileError, match="not a Parquet file"):
        count_candidates(tmp_path / "fake.parquet")
    (tmp_path / "few.csv").write_text("metal,anion,salt_conc_M\nMg,TFSI,0.5\n")
    with pytest.raises(CandidateFileError,
                       match=r"few\.csv: missing column\(s\) solvent, coating; .*needs "
                             r"metal, anion, solvent, coating"):
        list(iter_candidates(tmp_path / "few.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CandidateFileError, match="no .parquet files"):
        plan_partitions(tmp_path / "empty")
    with pytest.raises(ValueError, match="rows_per_partition"):
        plan_partitions(tmp_path / "few.csv", 0)
    assert Partition("f", 3, 10).rows == 7


# ---------------------------------------------------------------------------- scale
LARGE = EnumerationConfig(
    metals=("Mg", "Ca"), anions=("TFSI",), solvents=("DME",), mixtures=False,
    additives=("none",), coatings=("none",),
    salt_conc_M=tuple(round(0.01 * i, 2) for i in range(1, 101)),
    current_density_mA_cm2=tuple(round(0.05 * i, 2) for i in range(1, 101)),
    areal_capacity_mAh_cm2=tuple(float(i) for i in range(1, 51)),
    temperature_C=tuple(float(t) for t in range(-20, 80, 10)))


def test_ten_million_candidates_count_fast_and_stream_lazily(library):
    start = time.perf_counter()
    space = build_candidate_space(LARGE, library)
    assert space.count() == 10**7
    assert time.perf_counter() - start < 0.5
    tracemalloc.start()
    try:
        chunks = list(itertools.islice(space.iter_chunks(100_000), 2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60e6, f"{peak / 1e6:.0f} MB for two chunks of 100k"
    ids = np.concatenate([c["candidate_id"].to_numpy() for c in chunks])
    assert (ids == np.arange(200_000)).all()
    last = space.frame(10**7 - 3, 10**7)
    assert list(last["candidate_id"]) == [10**7 - 3, 10**7 - 2, 10**7 - 1]
    assert (last["metal"] == "Ca").all() and (last["salt_conc_M"] == 1.0).all()
    assert list(last["temperature_C"]) == [50.0, 60.0, 70.0]


# ---------------------------------------------------------------------------- atomicity
class Interrupt:
    """Progress callback that raises KeyboardInterrupt at its ``after``-th call."""

    def __init__(self, after: int):
        self.after, self.calls = after, 0

    def __call__(self, done: int, total: int) -> None:
        self.calls += 1
        if self.calls >= self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("rows_per_file", [10**9, 3000])
def test_interrupted_write_leaves_no_output_and_no_temp_files(small_space, tmp_path,
                                                              rows_per_file):
    folder = tmp_path / "out"
    out = folder / "lib.parquet"
    with pytest.raises(KeyboardInterrupt):
        write_candidates(small_space, out, chunk_rows=1000, rows_per_file=rows_per_file,
                         progress=Interrupt(after=5))
    assert list(folder.iterdir()) == []
    # an existing library survives an interrupted replacement untouched
    write_candidates(small_space, out, chunk_rows=1000, rows_per_file=rows_per_file)
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))
    with pytest.raises(KeyboardInterrupt):
        write_candidates(small_space, out, chunk_rows=1000, rows_per_file=rows_per_file,
                         progress=Interrupt(after=2))
    assert sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*")) == before


def test_replacing_outputs_and_refusing_foreign_directories(small_space, tmp_path):
    folder = tmp_path / "out"
    out = folder / "lib.parquet"
    write_candidates(small_space, out)
    write_candidates(small_space, out, chunk_rows=1000, rows_per_file=3000)  # file -> directory
    assert out.is_dir() and not (folder / "lib.parquet.json").exists()
    write_candidates(small_space, out)  # directory -> file
    assert out.is_file() and (folder / "lib.parquet.json").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["lib.parquet", "lib.parquet.json"]
    assert count_candidates(out) == small_space.count()
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(EnumerationError, match="not a candidate library"):
        write_candidates(small_space, foreign)
    assert (foreign / "precious.txt").read_text() == "keep me"


# ---------------------------------------------------------------------------- config / CLI
def test_default_config_is_a_quickstart_sized_mg_library(library):
    config = load_enumeration_config()
    space = build_candidate_space(config, library)
    assert 50_000 <= space.count() <= 250_000
    assert space.metal == ("Mg",)


@pytest.mark.parametrize(("edit", "message"), [
    (("ratios = [", "ratio = ["), "unknown key 'mixtures.ratio'"),
    (("[conditions]", "[condition]"), "unknown key 'condition'"),
    (('salt_conc_M = [0.5, 1.0]', 'salt_conc_M = "high"'), "'space.salt_conc_M' = 'high'"),
    (('salt_conc_M = [0.5, 1.0]', 'salt_conc_M = [0.5, 30]'), "<= 20 mol L^-1"),
    (('"4:2"', '"4:0"'), "expected 'a:b' with two positive numbers"),
    (('metals = ["Mg", "Ca"]', 'metals = ["Li"]'), "'Li'; accepted: Mg, Ca"),
    (('temperature_C = [25.0]', 'temperature_C = []'), "needs at least one value"),
    (('enabled = true', 'enabled = "yes"'), "'mixtures.enabled' = 'yes': expected true/false"),
])
def test_config_errors_name_the_file_and_key(small_config, edit, message):
    small_config.write_text(SMALL_TOML.replace(*edit))
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_enumeration_config(small_config)
    assert str(small_config) in str(info.value)


def test_cli_writes_the_library(small_config, small_space, tmp_path):
    out = tmp_path / "lib.parquet"
    result = cli("--config", str(small_config), "--out", str(out), "--chunk-rows", "64")
    assert result.exit_code == 0, result.output
    assert f"{small_space.count():,} candidates" in result.output
    assert "solvent" in result.output and str(out) in result.output.replace("\n", "")
    pd.testing.assert_frame_equal(read_all(out), small_space.frame(0, small_space.count()))
    result = cli("--config", str(small_config), "--out", str(out), "--metal", "Ca",
                 "--chloride-free", "--coating-class", "fluoride", "--include", "anion=TFSI",
                 "--exclude", "solvent=THF")
    assert result.exit_code == 0, result.output
    frame = read_all(out)
    assert set(frame["metal"]) == {"Ca"} and set(frame["anion"]) == {"TFSI"}
    assert set(frame["coating"]) == {"MgF2"} and "MgCl2" not in set(frame["additive"])
    assert not frame["solvent"].astype(str).str.contains("THF").any()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--include", "anion=TFSX"], 1, "unknown anion 'TFSX'"),
    (["--max-candidates", "100"], 1, "exceed --max-candidates 100"),
    (["--include", "salt=TFSI"], 2, "KIND=NAME"),
    (["--coating-class", "shiny"], 1, "'shiny'; accepted:"),
])
def test_cli_errors_exit_nonzero_without_output(small_config, tmp_path, args, code, message):
    out = tmp_path / "out" / "lib.parquet"
    result = cli("--config", str(small_config), "--out", str(out), *args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not out.exists() and not (tmp_path / "out").exists()


def test_cli_unknown_config_key(small_config, tmp_path):
    small_config.write_text(SMALL_TOML.replace("[mixtures]", "[mixtures]\nratio_list = []"))
    result = cli("--config", str(small_config), "--out", str(tmp_path / "lib.parquet"))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "unknown key 'mixtures.ratio_list'" in text and "cosolvents" in text
    assert list(tmp_path.iterdir()) == [small_config]
