"""`mgscreen rank`: predictions, exact top-K, engines, bad input, outputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.data.schema import FORMULATION_COLUMNS
from screen.screening.design import DesignConfig, formulation_row
from screen.screening.rank import InvalidCandidates, rank_candidates, write_outputs
from screen.screening.ranking import RankSettings, score_frame, sort_ranked, with_layers

ANIONS = ("TFSI", "B(hfip)4", "CB11H12", "PF6", "BH4", "Cl")
SOLVENTS = ("DME", "G2", "THF", "DME:G2")
COATINGS = ("none", "MgF2", "Mg2Sn:Sn", "Bi:MgCl2")


def candidate_table() -> pd.DataFrame:
    """1,152 candidates in the interfaces system schema."""
    config = DesignConfig()
    rows = []
    for anion, solvent, coating, conc, additive in itertools.product(
            ANIONS, SOLVENTS, COATINGS, (0.25, 0.5, 1.0), ("none", "TEP", "MgCl2", "LiCl")):
        first, _, second = solvent.partition(":")
        rows.append(formulation_row(config, anion=anion, solvent=first,
                                    cosolvent=second or "none", ratio="1:2", additive=additive,
                                    coating=coating, salt_conc_M=conc, additive_conc_M=0.1))
    return pd.DataFrame(rows, columns=list(FORMULATION_COLUMNS))


@pytest.fixture(scope="module")
def models(fast_model_store):
    from screen.learn.predict import load_models

    return load_models(fast_model_store)


@pytest.fixture(scope="module")
def candidates_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cands") / "candidates.csv"
    candidate_table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def local_result(candidates_csv, models):
    settings = RankSettings(top=40, layers=3)
    return rank_candidates(candidates_csv, models, settings, partition_rows=100)


def test_ranked_predictions_equal_predict_and_the_top_k_is_exact(candidates_csv, models,
                                                                  local_result):
    """Partition-wise ranking = sorting the predictions of every candidate at once."""
    from screen.learn.predict import predict_systems

    table = pd.read_csv(candidates_csv, keep_default_na=False, na_values=[""])
    table.insert(0, "candidate_id", np.arange(len(table)))
    every = pd.concat([table, predict_systems(table, models)], axis=1)
    settings = local_result.settings
    expected = sort_ranked(with_layers(score_frame(every, settings), settings), settings)
    ranked = local_result.ranked
    assert local_result.n_candidates == len(table) == 1152
    assert list(ranked["candidate_id"]) == list(expected["candidate_id"].head(40))
    assert list(ranked["rank"]) == list(range(1, 41))
    merged = ranked.merge(every, on="candidate_id", suffixes=("", "_direct"))
    for column in ("overpotential_V_pred", "stable_duration_h_pred", "p_passivating"):
        assert np.allclose(merged[column], merged[f"{column}_direct"], rtol=0, atol=1e-12)
    assert ranked["reasons"].str.contains("η:").all()
    assert ranked["nearest_measured"].str.startswith("row ").all()


def test_one_partition_and_two_threads_give_the_same_result(candidates_csv, models,
                                                             local_result):
    whole = rank_candidates(candidates_csv, models, local_result.settings,
                            partition_rows=10_000, explain=False)
    assert list(whole.ranked["candidate_id"]) == list(local_result.ranked["candidate_id"])
    assert list(whole.ranked["pareto_layer"]) == list(local_result.ranked["pareto_layer"])
    threaded = rank_candidates(candidates_csv, models, local_result.settings,
                               partition_rows=100, threads=2)
    pd.testing.assert_frame_equal(threaded.ranked, local_result.ranked)
    pd.testing.assert_frame_equal(threaded.front, local_result.front)


def test_dask_local_cluster_matches_the_local_engine(candidates_csv, models, local_result):
    """A real dask.distributed LocalCluster with 2 worker processes, row by row."""
    dask = rank_candidates(candidates_csv, models, local_result.settings, engine="dask",
                           workers=2, partition_rows=100)
    pd.testing.assert_frame_equal(dask.ranked, local_result.ranked)
    pd.testing.assert_frame_equal(dask.front, local_result.front)


def test_weights_and_order_change_the_ranking(candidates_csv, models, local_result):
    eta = local_result.settings.with_overrides(
        order="desirability", weights={"overpotential": 1.0, "cycle_life": 0.0,
                                       "passivation": 0.0})
    result = rank_candidates(candidates_csv, models, eta, partition_rows=100, explain=False)
    in_domain = result.ranked[result.ranked["in_domain"]]
    # overpotential alone orders the in-domain candidates, up to the anchors: every η below
    # the best anchor (0.05 V) scores d = 1 and ties
    best, worst = eta.anchor("overpotential")
    eta_values = np.clip(in_domain["overpotential_V_pred"].to_numpy(), best, worst)
    assert (eta_values > best).sum() >= 5  # enough above the anchor for the order to matter
    assert (np.diff(eta_values) >= -1e-12).all()
    assert list(result.ranked["candidate_id"]) != list(local_result.ranked["candidate_id"])


def test_invalid_candidates_stop_the_run_or_are_rejected(tmp_path, models):
    table = candidate_table().head(30).copy()
    table.loc[3, "anion"] = "Unobtainium"
    table.loc[5, "salt_conc_M"] = -0.5
    table.loc[7, "current_density_mA_cm2"] = 0
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(InvalidCandidates) as info:
        rank_candidates(path, models, RankSettings(top=5), partition_rows=1000)
    message = str(info.value)
    assert "row 4" in message and "'anion'" in message and "Unobtainium" in message
    assert "row 6" in message and "salt_conc_M" in message and "-0.5" in message
    assert "row 8" in message and "current_density_mA_cm2" in message
    result = rank_candidates(path, models, RankSettings(top=50), partition_rows=1000,
                             skip_invalid=True, explain=False)
    assert sorted(result.rejects["row"]) == [4, 6, 8]
    assert len(result.ranked) == 27
    assert not result.ranked["candidate_id"].isin([3, 5, 7]).any()
    out = tmp_path / "ranked.csv"
    written = write_outputs(result, out)
    rejects = pd.read_csv(written["rejects"])
    assert set(rejects["candidate_id"]) == {3, 5, 7}
    assert rejects["reason"].str.contains("unknown|out of range|Unobtainium").all()


def _run(*args: str):
    from screen.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_writes_ranked_table_rejects_and_report(tmp_path, candidates_csv, fast_model_store):
    out, report = tmp_path / "ranked.parquet", tmp_path / "report.html"
    result = _run("rank", str(candidates_csv), "--out", str(out), "--top", "15",
                  "--report", str(report), "--tracking-uri", fast_model_store)
    assert result.exit_code == 0, result.output
    ranked = pd.read_parquet(out)
    assert list(ranked["rank"]) == list(range(1, 16))
    assert {"overpotential_V_low", "stable_duration_h_pred", "p_passivating", "pareto_layer",
            "desirability", "reasons", "nearest_measured", "in_domain"} <= set(ranked.columns)
    assert not {"tie_score", "domain_group"} & set(ranked.columns)
    html = report.read_text(encoding="utf-8")
    assert "<table" in html and "data:image/png;base64," in html
    assert "Top 15 candidates" in result.output


def test_cli_errors_leave_no_output(tmp_path, candidates_csv, fast_model_store):
    out = tmp_path / "ranked.csv"
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = _run("rank", str(candidates_csv), "--out", str(out), "--tracking-uri", empty)
    assert result.exit_code == 1 and "mgscreen train --all" in result.output
    bad = tmp_path / "bad.csv"
    table = candidate_table().head(5)
    table.loc[2, "coating"] = "Kryptonite"
    table.to_csv(bad, index=False)
    result = _run("rank", str(bad), "--out", str(out), "--tracking-uri", fast_model_store)
    assert result.exit_code == 1 and "Kryptonite" in result.output and "row 3" in result.output
    result = _run("rank", str(tmp_path / "nope.parquet"), "--out", str(out),
                  "--tracking-uri", fast_model_store)
    assert result.exit_code == 1 and "nope.parquet" in result.output
    result = _run("rank", str(candidates_csv), "--out", str(out), "--weights", "speed=3",
                  "--tracking-uri", fast_model_store)
    assert result.exit_code == 2 and "NAME=NUMBER" in result.output
    result = _run("rank", str(candidates_csv), "--out", str(out), "--bound", "best",
                  "--tracking-uri", fast_model_store)
    assert result.exit_code == 2 and "optimistic" in result.output
    assert not out.exists() and not list(tmp_path.glob(".ranked*"))


def test_reasons_and_nearest_measured_follow_their_definitions(models):
    """An occluded block has no effect on a candidate that already has the reference block;
    a measured system's nearest measured system is itself at distance 0."""
    from featurizers.blocks import explanation_groups
    from screen.data.dataset import load_interfaces
    from screen.screening.explain import ReferenceSet, block_effects, nearest_measured
    from screen.screening.rank import CandidatePredictor

    predictor = CandidatePredictor(models).prepare()
    reference = ReferenceSet.build(predictor.featurizer)
    frame = load_interfaces().head(6)
    X = reference.X.loc[frame.index].copy()
    coating = [c for c in X.columns if c.startswith(explanation_groups()["coating"])]
    X[coating] = reference.medians[coating].to_numpy(np.float32)
    effects = block_effects(X, models, reference)
    assert np.allclose(effects["overpotential"]["coating"], 0.0)
    assert np.allclose(effects["passivation"]["coating"], 0.0)
    assert np.allclose(effects["cycle_life"]["coating"], 1.0)  # a factor on the median life
    nearest = nearest_measured(reference.X.loc[frame.index], reference, k=2)
    for text in nearest:  # itself (or an identical measured system) first
        first, second = text.split(" || ")
        assert first.startswith("row ") and first.endswith(" d=0.0")
    assert nearest.iloc[0].startswith(f"row {frame.index[0]}: ")


def default_sigint() -> None:
    """In the child before exec: a shell that started pytest in the background may have left
    SIGINT ignored, and the child would inherit that; give it the default disposition."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("signal_name,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_mid_rank_leaves_no_output_and_the_rerun_is_identical(
        tmp_path, fast_model_store, models, signal_name, status):
    import signal
    import subprocess
    import sys
    import time

    from screen.screening.enumeration import (
        build_candidate_space,
        load_enumeration_config,
        write_candidates,
    )

    space = build_candidate_space(load_enumeration_config())  # ~200,000 candidates
    candidates = write_candidates(space, tmp_path / "candidates.parquet")
    out = tmp_path / "ranked.csv"
    command = [str(Path(sys.executable).with_name("mgscreen")), "rank", str(candidates),
               "--out", str(out), "--top", "30", "--report", str(tmp_path / "report.html"),
               "--tracking-uri", fast_model_store]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while _cpu_seconds(process.pid) < 8 and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "rank finished before the signal could be sent"
    from test_robustness_signals import interrupt

    code, output, _ = interrupt(process, getattr(signal, signal_name))
    assert code == status, output
    assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "candidates.parquet", "candidates.parquet.json"]  # no output, no temporary file
    if signal_name != "SIGINT":  # the rerun after either signal is the same run: once is enough
        return
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    expected = rank_candidates(candidates, models, RankSettings(top=30), explain=False)
    written = pd.read_csv(out)
    assert list(written["candidate_id"]) == list(expected.ranked["candidate_id"])
    assert np.allclose(written["p_passivating"], expected.ranked["p_passivating"], atol=1e-12)


def test_nearest_measured_cites_seeds_by_paper_and_number():
    from screen import load_interfaces
    from screen.data.sources import seed_sources
    from screen.screening.explain import source_label

    assert source_label("000_45ffde97a404c2da.txt") == "Chai et al., Nanoscale 2024 (seed 000)"
    assert source_label("003_36cc84d303f20c35.txt", "25a") == (
        "Wang, Riedel, Zhao-Karger, Adv. Energy Mater. 2024, ref. 25a (seed 003)")
    assert source_label("999_0123abcd.txt") == "seed 999"  # a seed file the table lacks
    assert source_label("Zhang 2024 ACS Energy Lett.") == "Zhang 2024 ACS Energy Lett."
    assert source_label("my_cells.csv", float("nan")) == "my_cells.csv"
    assert source_label(float("nan")) == "" and source_label(None) == ""
    seeds = {s for s in load_interfaces()["source"].astype(str) if s[:3].isdigit()}
    assert seeds and seeds <= set(seed_sources().index)  # every seed row is citable
