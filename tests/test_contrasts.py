"""Literature contrasts: the loader's checks and the leave-publication-out benchmark."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from screen.data.contrasts import (
    CONTRAST_COLUMNS,
    CONTRAST_KINDS,
    CONTRAST_TARGETS,
    load_contrasts,
    side_systems,
)
from screen.data.paths import CONTRASTS_FILE, dataset_file
from screen.data.problems import DataValidationError
from screen.data.systems import system_key

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "contrasts.py"


@pytest.fixture(scope="module")
def interfaces(library):
    from screen import load_interfaces

    return load_interfaces(library=library)


@pytest.fixture(scope="module")
def contrast_rows() -> list[dict[str, str]]:
    with dataset_file(CONTRASTS_FILE).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_contrasts(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CONTRAST_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/contrasts.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("contrast_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- the loader
def test_embedded_contrasts_are_backed_by_rows_of_their_source(interfaces):
    contrasts = load_contrasts(interfaces=interfaces)
    assert len(contrasts) >= 40 and contrasts["contrast_id"].is_unique
    assert set(contrasts["target"]) <= set(CONTRAST_TARGETS)
    assert set(contrasts["kind"]) <= set(CONTRAST_KINDS)
    keys = system_key(interfaces)
    for side in ("better", "worse"):
        wanted = system_key(side_systems(contrasts, side))
        for i, key in wanted.items():
            source = contrasts.at[i, "source"]
            assert (keys.eq(key) & interfaces["source"].eq(source)).any(), (side, i)
    assert (system_key(side_systems(contrasts, "better"))
            != system_key(side_systems(contrasts, "worse"))).all()


def test_a_contrast_whose_system_is_not_a_row_is_refused_naming_the_row(
        tmp_path, contrast_rows, interfaces):
    rows = [dict(r) for r in contrast_rows]
    row = next(i for i, r in enumerate(rows) if r["better_coating"].lower() != "none")
    rows[row]["better_coating"] = "MgF2"  # a library coating that source never measured
    path = write_contrasts(tmp_path / "contrasts.csv", rows)
    with pytest.raises(DataValidationError) as info:
        load_contrasts(path, interfaces)
    problems = info.value.problems
    assert len(problems) == 1
    assert problems[0].row == row + 1 and problems[0].column == "better_*"
    assert "mgf2" in problems[0].value and rows[row]["source"] in problems[0].message
    assert f"row {row + 1} (line {row + 2})" in str(info.value)


def test_blank_matches_only_blank_and_text_ignores_case(tmp_path, contrast_rows, interfaces):
    rows = [dict(r) for r in contrast_rows]
    blank = next(i for i, r in enumerate(rows) if not r["worse_salt_conc_M"])
    rows[blank]["worse_salt_conc_M"] = "0.77"  # the backing rows leave it blank
    cased = next(i for i in range(len(rows)) if i != blank)
    rows[cased]["better_solvent"] = rows[cased]["better_solvent"].swapcase()
    path = write_contrasts(tmp_path / "contrasts.csv", rows)
    with pytest.raises(DataValidationError) as info:
        load_contrasts(path, interfaces)
    assert [(p.row, p.column) for p in info.value.problems] == [(blank + 1, "worse_*")]


def test_bad_values_and_unknown_sources_are_named(tmp_path, contrast_rows, interfaces):
    rows = [dict(r) for r in contrast_rows[:3]]
    rows[0]["target"] = "capacity"
    rows[1]["kind"] = "chloride"
    rows[2]["source"] = "Nobody 2099 J. Nowhere"
    rows.append(dict(rows[1], contrast_id=rows[0]["contrast_id"], kind=rows[0]["kind"]))
    path = write_contrasts(tmp_path / "contrasts.csv", rows)
    with pytest.raises(DataValidationError) as info:
        load_contrasts(path, interfaces)
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {(1, "target"), (2, "kind"), (3, "source"), (4, "contrast_id")}
    messages = " ".join(p.message for p in info.value.problems)
    assert "overpotential" in messages and "chloride_addition" in messages


# ----------------------------------------------------------------------------- the benchmark
def test_ordering_follows_the_objective_direction(bench):
    assert bench.ordering(0.1, 0.3, maximize=False) == "right"
    assert bench.ordering(0.1, 0.3, maximize=True) == "wrong"
    assert bench.ordering(500.0, 500.0, maximize=True) == "tie"
    assert bench.ordering(np.nan, 0.3, maximize=False) == "n/a"


def test_leave_publication_out_trains_without_the_publication(bench, library):
    from screen.learn.config import default_config_path, load_config
    from screen.learn.registry import targets
    from screen.learn.train import featurize_dataset

    features = featurize_dataset(library=library)
    contrasts = load_contrasts(interfaces=features.frame)
    publication = contrasts["source"].value_counts().index[0]
    mine = contrasts[contrasts["source"].eq(publication)]
    target = next(t for t in mine["target"].value_counts().index if t in targets())
    config = load_config(default_config_path(target))
    everything = len(targets()[target].select(features.frame, config)[1])

    fitted = bench.train_without(publication, target, config, features, library)
    assert not fitted.skipped and fitted.model is not None and fitted.names is not None
    assert not fitted.td.rows["source"].eq(publication).any()
    assert len(fitted.td.rows) < everything  # the publication had rows of this target

    drop = bench.contrast_systems(mine)
    strict = bench.train_without(publication, target, config, features, library, drop)
    assert not strict.td.rows["source"].eq(publication).any()
    assert not system_key(strict.td.rows).isin(drop).any()


def test_benchmark_smoke_on_two_publications(bench, capsys):
    results = bench.main(["--sample", "2"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    last = re.fullmatch(r"overall: (\d+)/(\d+) ordered right", lines[-1])
    assert last is not None, lines[-1]
    right, n = int(last[1]), int(last[2])
    evaluated = results["status"].eq("evaluated")
    assert n == int(evaluated.sum()) and 0 < n <= len(results)
    assert right == int(results.loc[evaluated, "model"].eq("right").sum())
    assert results["source"].nunique() == 2
    assert results.loc[evaluated, ["model", "names_rf"]].isin(
        ["right", "wrong", "tie", "n/a"]).all().all()
    header = re.search(r"literature contrasts: (\d+) from 2 publications", out)
    assert header is not None and int(header[1]) == len(results)
    skipped = re.search(r"not evaluated: (\d+) of (\d+)", out)
    assert int(skipped[1]) + n == int(skipped[2]) == len(results)
    names = re.search(r"names_rf overall: (\d+)/(\d+) ordered right", out)
    assert int(names[2]) == n
    assert int(names[1]) == int(results.loc[evaluated, "names_rf"].eq("right").sum())
    # the per-target table: evaluated and right counts add up to the overall line
    table = out[out.index("per target"):out.index("per kind")].splitlines()[2:]
    rows = [line.split() for line in table if line.strip()]
    assert sum(int(r[2]) for r in rows) == n
    assert sum(int(r[3].split("/")[0]) for r in rows) == right
    chloride = results[results["kind"].eq("chloride_addition")]
    for ident in chloride["contrast_id"]:
        assert re.search(rf"^\s*{re.escape(ident)}\s", out, re.MULTILINE)


def test_cycle_life_main_prediction_reads_a_survival_pipeline():
    """The names baseline of cycle life is a plain scikit-survival pipeline; its median life
    agrees with the SurvivalModel fitted on the same inputs."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.util import Surv

    from screen.learn.models.cycle_life import SurvivalModel, median_life

    names = pd.DataFrame({"anion": ["TFSI", "BH4", "Cl"] * 8})
    time = np.array([10.0, 300.0, 900.0] * 8) + np.arange(24)
    y = Surv.from_arrays(event=np.ones(24, bool), time=time)
    encoder = OneHotEncoder(sparse_output=False).fit(names)
    params = {"n_estimators": 20, "min_samples_leaf": 3}
    pipeline = make_pipeline(OneHotEncoder(sparse_output=False),
                             RandomSurvivalForest(random_state=0, **params)).fit(names, y)
    model = SurvivalModel(params=params, random_state=0).fit(encoder.transform(names), y)
    got = median_life(pipeline, names)
    assert np.allclose(got, model.predict_median(encoder.transform(names)))
    assert got[0] < got[1] < got[2]  # short-lived TFSI rows, long-lived Cl rows


TOY_CE_CONFIG = """
target = "coulombic_efficiency"
seed = 0
[data]
min_rows = 10
[features]
blocks = ["anion", "solvent", "additive", "coating", "system"]
[model]
family = "random_forest"
[cv]
schemes = ["source"]
primary = "source"
n_splits = 3
[domain]
k = 5
quantile = 0.95
"""


def test_a_target_registered_later_is_evaluated_without_code_changes(bench, capsys, tmp_path,
                                                                      monkeypatch):
    """Coulombic-efficiency contrasts are 'not evaluated' until a target of that name is
    registered; then they are scored with its config and its objective's direction."""
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline

    from screen.learn.models.common import COMMON_TRUSTED_TYPES, MedianImputer
    from screen.learn.registry import Objective, Target, register_target, targets, unregister
    from screen.learn.tasks import BaseTask, names_baseline

    if "coulombic_efficiency" in targets():
        pytest.skip("a coulombic_efficiency target is registered; the smoke test covers it")

    class ToyTask(BaseTask):
        def make(self, candidate):
            forest = RandomForestRegressor(n_estimators=20, random_state=self.seed)
            if candidate == "model":
                return make_pipeline(MedianImputer(), forest)
            return DummyRegressor() if candidate == "dummy" else names_baseline(forest)

    class ToyCE(Target):
        name, label, unit = "coulombic_efficiency", "Coulombic efficiency", "%"
        label_columns = ("coulombic_efficiency_pct",)
        primary_metric, higher_is_better = "mae", False
        skops_trusted_types = (*COMMON_TRUSTED_TYPES, "sklearn.tree._tree.Tree")
        objectives = (Objective(name="coulombic_efficiency", label="CE", unit="%",
                                columns={"point": "coulombic_efficiency_pred"}, maximize=True,
                                anchors=(99.9, 50.0)),)

        def task(self, config):
            return ToyTask(config)

        def select(self, frame, config):
            keep = frame["coulombic_efficiency_pct"].notna().to_numpy(bool)
            return keep, frame.loc[keep, "coulombic_efficiency_pct"].to_numpy(float)

    config = tmp_path / "coulombic_efficiency.toml"
    config.write_text(TOY_CE_CONFIG, encoding="utf-8")
    real = bench.default_config_path
    monkeypatch.setattr(bench, "default_config_path",
                        lambda name: config if name == "coulombic_efficiency" else real(name))
    register_target(ToyCE)
    try:
        results = bench.main(["--targets", "coulombic_efficiency"])
    finally:
        unregister("coulombic_efficiency")
    out = capsys.readouterr().out
    evaluated = results["status"].eq("evaluated")
    assert evaluated.sum() >= 5 and set(results["target"]) == {"coulombic_efficiency"}
    done = results[evaluated]
    higher = (done["model_A"] > done["model_B"]).sum()
    assert int(done["model"].eq("right").sum()) == higher  # maximize: higher CE is better
    assert out.strip().splitlines()[-1] == f"overall: {higher}/{int(evaluated.sum())} ordered right"
