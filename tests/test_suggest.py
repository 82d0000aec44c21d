"""`mgscreen suggest`: acquisition, diversity, exclusion of measured systems, outputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screen.cli import app
from screen.data.systems import canonical_system_key
from screen.screening.ranking import D_FLOOR, RankSettings, desirability
from screen.screening.suggest import (
    THIN_CAP,
    FormulationSpace,
    SuggestSettings,
    acquisition_table,
    measured_systems,
    select_diverse,
    suggest_candidates,
    unmeasured,
)

runner = CliRunner()


def objective_frame(settings: RankSettings, point: float, half_width: float,
                    distance: float = 1.0) -> dict:
    """One predicted candidate: every objective at score ``point`` with its bounds
    ``half_width`` score units on either side (for objectives that have separate bounds)."""
    row = {"domain_distance": distance}
    for name in settings.names:
        spec = settings.spec(name)
        best, worst = settings.anchor(name)

        def value(score: float, spec=spec, best=best, worst=worst) -> float:
            if spec.scale == "log":
                return float(worst * (best / worst) ** score)
            return float(worst - score * (worst - best))

        row[spec.column("point")] = value(point)
        if spec.has_interval:
            row[spec.column("optimistic")] = value(point + half_width)
            row[spec.column("pessimistic")] = value(point - half_width)
    return row


@pytest.fixture
def settings() -> SuggestSettings:
    return SuggestSettings(rank=RankSettings())


def test_acquisition_follows_its_definition(settings):
    rank = settings.rank
    frame = pd.DataFrame([objective_frame(rank, 0.6, 0.0),          # exact, at the incumbent
                          objective_frame(rank, 0.6, 0.3, 1.5),     # same mean, uncertain
                          objective_frame(rank, 0.8, 0.0)])         # exact, better
    incumbent = float(desirability(frame.iloc[[0]], replace(rank, bound="point"))[0])
    table = acquisition_table(frame, incumbent, settings)
    exact, unsure, better = (table.iloc[i] for i in range(3))
    assert np.allclose(table["desirability"], desirability(frame, replace(rank, bound="point")))
    assert exact["spread"] == 0 and exact["expected_gain"] == 0
    assert exact["most_uncertain"] == ""
    assert better["expected_gain"] == pytest.approx(better["desirability"] - incumbent)
    uncertain_objectives = [o for o in rank.names if rank.spec(o).interval_level]
    assert uncertain_objectives, "the registry declares no interval level"
    assert unsure["spread"] > 0 and unsure["expected_gain"] > 0
    assert unsure["most_uncertain"] in uncertain_objectives
    assert unsure["learning"] == pytest.approx(unsure["spread"] * 1.5 / THIN_CAP)
    assert np.allclose(table["acquisition"], table["expected_gain"])  # explore 0
    explored = acquisition_table(frame, incumbent, replace(settings, explore=2.0))
    assert np.allclose(explored["acquisition"],
                       table["expected_gain"] + 2.0 * table["learning"])


def test_expected_gain_matches_a_monte_carlo_of_the_split_normal(settings):
    """The 64 Latin-hypercube draws agree with 200,000 random draws of the same model."""
    from scipy.stats import norm

    rank = settings.rank
    frame = pd.DataFrame([objective_frame(rank, 0.55, 0.25)])
    incumbent = 0.6
    gain = acquisition_table(frame, incumbent, settings)["expected_gain"].iloc[0]
    rng = np.random.default_rng(1)
    logs, weights = 0.0, []
    for name in rank.names:
        spec = rank.spec(name)
        z = rng.standard_normal(200_000)
        if spec.interval_level and spec.has_interval:
            sd = 0.25 / norm.ppf((1 + spec.interval_level) / 2)
            score = 0.55 + sd * z
        else:
            score = np.full_like(z, 0.55)
        weights.append(float(rank.weights[name]))
        logs = logs + weights[-1] * np.log(np.clip(score, D_FLOOR, 1.0))
    D = np.exp(logs / sum(weights))
    assert gain == pytest.approx(np.maximum(D - incumbent, 0).mean(), abs=0.004)


def test_the_batch_is_diverse_unless_the_radius_is_zero():
    cluster = np.zeros((8, 3))                       # eight concentrations of one formulation
    others = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 5.0, 0]])
    Z = np.vstack([cluster, others])
    acquisition = np.concatenate([np.linspace(1.0, 0.93, 8), np.full(4, 0.5)])
    assert list(select_diverse(acquisition, acquisition, Z, 4, radius=2.0)) == [0, 8, 9, 10]
    assert list(select_diverse(acquisition, acquisition, Z, 4, radius=0.0)) == [0, 1, 2, 3]
    every = select_diverse(acquisition, acquisition, Z, 20, radius=2.0)
    assert list(every[:5]) == [0, 8, 9, 10, 11] and sorted(every) == list(range(12))


@pytest.fixture(scope="module")
def featurizer(library):
    from featurizers.system import SystemFeaturizer

    return SystemFeaturizer(library=library).fit()


def test_concentrations_share_a_point_of_the_formulation_space(featurizer, library):
    from screen import load_interfaces
    from screen.learn.predict import feature_frame
    from screen.screening.explain import ReferenceSet

    space = FormulationSpace.of(ReferenceSet.build(featurizer, load_interfaces(library=library)))
    base = {"metal": "Mg", "anion": "TFSI", "solvent": "DME", "additive": "none",
            "coating": "none", "cell_type": "symmetric", "current_density_mA_cm2": 1.0}
    rows = pd.DataFrame([{**base, "salt_conc_M": c} for c in (0.1, 0.5, 1.0, 2.0)]
                        + [{**base, "salt_conc_M": 0.5, "coating": "MgF2",
                            "coating_thickness_um": 1.0}])
    Z = space.transform(feature_frame(rows, featurizer))
    assert np.allclose(Z[:4], Z[0])
    assert np.linalg.norm(Z[4] - Z[0]) > 0.5


def test_measured_systems_are_recognised_however_they_are_spelled(library):
    from screen import load_interfaces

    frame = load_interfaces(library=library)
    mixture = frame[frame["solvent"].str.contains(":", na=False) & frame["salt_conc_M"].notna()
                    & frame["solvent_ratio"].notna()].iloc[0]
    systems = measured_systems(frame, RankSettings(), library)
    keys = frozenset(systems["system_key"])
    first, second = str(mixture["solvent"]).split(":")[:2]
    ratio = str(mixture["solvent_ratio"]).split(":")
    respelled = mixture.to_frame().T.assign(
        anion=f"Mg({mixture['anion']})2", solvent=f"{second}:{first}",
        solvent_ratio=f"{float(ratio[1]) * 2:g}:{float(ratio[0]) * 2:g}", salt="whatever")
    assert not unmeasured(respelled, keys, library)[0]
    other = respelled.assign(salt_conc_M=float(mixture["salt_conc_M"]) + 0.123)
    assert unmeasured(other, keys, library)[0]


def test_measured_desirability_uses_typical_values_for_what_was_not_measured(library):
    from screen import load_interfaces

    frame = load_interfaces(library=library)
    rank = RankSettings()
    systems = measured_systems(frame, rank, library)
    columns = [rank.spec(o).column("point") for o in rank.names]
    full = systems[systems[columns].notna().all(axis=1)]
    partial = systems[systems[columns].notna().sum(axis=1) == 1]
    assert len(full) and len(partial)
    assert np.allclose(full["desirability"], desirability(full, replace(rank, bound="point")))
    typical = {c: float(systems[c].dropna().iloc[0]) for c in columns}  # any fixed values
    again = measured_systems(frame, rank, library, typical)
    expected = desirability(again[columns].fillna(typical), replace(rank, bound="point"))
    assert np.allclose(again["desirability"], expected)
    assert systems["system_key"].is_unique and systems["n_rows"].sum() == len(frame)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def candidates_csv(tmp_path_factory, library):
    """The rank tests' candidates plus two systems of the data set (written as measured)."""
    from test_rank import candidate_table

    from screen import load_interfaces
    from screen.data.schema import FORMULATION_COLUMNS

    measured = load_interfaces(library=library)
    known = measured[measured["salt_conc_M"].notna()].head(2)[list(FORMULATION_COLUMNS)]
    table = pd.concat([candidate_table(), known], ignore_index=True)
    path = tmp_path_factory.mktemp("suggest") / "candidates.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def models(fast_model_store):
    from screen.learn.predict import load_models

    return load_models(fast_model_store)


def test_partitions_do_not_change_the_batch(candidates_csv, models, library):
    from screen import load_interfaces

    measured = load_interfaces(library=library)
    settings = SuggestSettings(budget=5, rank=RankSettings())
    whole = suggest_candidates(candidates_csv, models, settings, measured)
    parts = suggest_candidates(candidates_csv, models, settings, measured, partition_rows=150,
                               threads=2)
    assert list(whole.picks["candidate_id"]) == list(parts.picks["candidate_id"])
    assert whole.incumbent == pytest.approx(whole.systems["desirability"].max())


def test_cli_writes_diverse_unmeasured_picks_with_reasons_and_a_report(
        tmp_path, candidates_csv, fast_model_store, library):
    from screen import load_interfaces

    out, report = tmp_path / "next.csv", tmp_path / "next.html"
    result = runner.invoke(app, ["suggest", str(candidates_csv), "--budget", "6", "--out",
                                 str(out), "--report", str(report), "--explore", "0.05",
                                 "--tracking-uri", fast_model_store])
    assert result.exit_code == 0, result.output
    picks = pd.read_csv(out)
    assert list(picks["pick"]) == list(range(1, 7))
    measured = canonical_system_key(load_interfaces(library=library), library)
    assert not canonical_system_key(picks, library).isin(set(measured)).any()
    formulations = picks[["anion", "solvent", "additive", "coating"]].astype(str)
    assert not formulations.duplicated().any()  # never two concentrations of one formulation
    assert picks["why"].str.contains("expected gain").all()
    assert picks["why"].str.contains("most uncertain").all()
    assert picks["nearest_measured"].str.startswith("row ").all()
    assert np.allclose(picks["acquisition"], picks["expected_gain"] + 0.05 * picks["learning"])
    html = report.read_text(encoding="utf-8")
    assert "Suggested experiments (6)" in html and "expected gain" in html
    assert "The next 6 experiments" in result.output


def test_cli_without_the_named_models_says_how_to_train_them(tmp_path, candidates_csv,
                                                              fast_model_store):
    out = tmp_path / "next.csv"
    result = runner.invoke(app, ["suggest", str(candidates_csv), "--out", str(out), "--models",
                                 "nolab", "--tracking-uri", fast_model_store])
    assert result.exit_code == 1 and "--name nolab" in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("case", ["out_is_the_candidates", "report_pdf", "out_is_a_lab_file",
                                  "engine"])
def test_cli_checks_outputs_and_engine_before_any_work(tmp_path, candidates_csv, case):
    """Like rank: a bad output path or engine is refused before the store is opened (the
    store here does not exist) and no file is written or replaced."""
    lab = tmp_path / "lab.csv"
    lab.write_text("kept\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}"
    out = tmp_path / "next.csv"
    args = {"out_is_the_candidates": ["--out", str(candidates_csv)],
            "report_pdf": ["--out", str(out), "--report", str(tmp_path / "next.pdf")],
            "out_is_a_lab_file": ["--out", str(lab), "--data", str(lab)],
            "engine": ["--out", str(out), "--engine", "spark"]}[case]
    before = candidates_csv.read_bytes()
    result = runner.invoke(app, ["suggest", str(candidates_csv), *args, "--tracking-uri",
                                 store])
    text = " ".join(result.output.split())
    assert result.exit_code != 0, text
    assert "ModelStoreError" not in text and "store" not in text
    assert {"out_is_the_candidates": "input", "report_pdf": ".pdf",
            "out_is_a_lab_file": "input", "engine": "spark"}[case] in text
    assert candidates_csv.read_bytes() == before and lab.read_text() == "kept\n"
    assert not out.exists() and not (tmp_path / "absent").exists()


def test_every_objective_with_an_interval_states_its_coverage():
    """suggest reads an objective's uncertainty only when its interval's coverage is known:
    an interval without one would silently count as exact."""
    from screen.learn.registry import objectives

    with_interval = [o for o in objectives().values() if o.has_interval]
    assert {o.name for o in with_interval} >= {"overpotential", "coulombic_efficiency",
                                               "cycle_life"}
    for objective in with_interval:
        assert objective.interval_level is not None and 0 < objective.interval_level < 1, \
            objective.name
