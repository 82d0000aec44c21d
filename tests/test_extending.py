"""docs/extending.md, run as written: a toy target, a derived objective and a feature block
added through the registries alone are trained, predicted, ranked and featurized."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from screen.learn import registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def import_source(tmp_path: Path, name: str, source: str):
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


@pytest.fixture
def toy_target(tmp_path):
    import_source(tmp_path, "toy_conductivity_target", blocks("python")[0])
    yield registry.get_target("conductivity")
    registry.unregister("conductivity")


def test_the_doc_holds_the_examples():
    assert len(blocks("python")) == 3 and len(blocks("toml")) == 1
    assert "register_target(Conductivity)" in blocks("python")[0]


def test_a_target_added_through_the_registry_trains_predicts_and_ranks(toy_target, tmp_path):
    from screen.learn.config import load_config
    from screen.learn.predict import load_models, predict_systems
    from screen.learn.train import featurize_dataset, train_target
    from screen.screening.rank import rank_candidates
    from screen.screening.ranking import RankSettings

    assert "conductivity" in registry.target_names()
    assert "conductivity" in registry.objectives()
    config_path = tmp_path / "conductivity.toml"
    config_path.write_text(blocks("toml")[0], encoding="utf-8")
    config = load_config(config_path, ['cv.schemes=["random", "source"]',
                                       'cv.primary="source"', "cv.n_splits=3"])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    features = featurize_dataset()
    result = train_target(config, features, store)
    assert result.champion and result.primary_metric == "mae"
    assert np.isfinite(result.primary_value)
    baselines = set(result.results["candidate"])
    assert baselines == {"model", "dummy", "names_rf"}

    models = load_models(store, only=("conductivity",))
    systems = features.frame.head(6)
    predicted = predict_systems(systems, models)
    assert predicted.columns[0] == "conductivity_pred"
    assert {"domain_anion", "domain_conditions", "unexplored", "domain_distance",
            "in_domain"} <= set(predicted.columns)
    assert predicted["conductivity_pred"].gt(0).all()

    candidates = tmp_path / "candidates.csv"
    systems[["metal", "anion", "salt_conc_M", "solvent", "solvent_ratio", "additive",
             "additive_conc_M", "coating", "coating_thickness_um", "cell_type",
             "current_density_mA_cm2", "areal_capacity_mAh_cm2", "temperature_C"]
            ].to_csv(candidates, index=False)
    ranked = rank_candidates(candidates, models,
                             RankSettings(top=6, objectives=("conductivity",),
                                          domain_last=False), explain=True).ranked
    assert len(ranked) == len(systems)
    values = ranked["conductivity_pred"].to_numpy(float)
    assert np.all(np.diff(values) <= 1e-12)  # maximized: best first
    assert ranked["reasons"].str.startswith("conductivity:").all()


def test_a_derived_objective_registers_and_ranks(tmp_path):
    from screen.screening.ranking import RankSettings, merge_partials, reduce_partition

    import_source(tmp_path, "toy_interval_objective", blocks("python")[1])
    try:
        frame = pd.DataFrame({
            "candidate_id": np.arange(4),
            "overpotential_V_pred": [0.10, 0.10, 0.30, 0.05],
            "overpotential_V_low": [0.09, 0.02, 0.295, 0.01],
            "overpotential_V_high": [0.11, 0.40, 0.305, 0.60],
            "in_domain": True})
        settings = RankSettings(objectives=("interval_width",), top=4)
        ranked, _ = merge_partials([reduce_partition(frame, settings)], settings)
        assert list(ranked["candidate_id"]) == [2, 0, 1, 3]  # narrowest interval first
        assert np.allclose(ranked["overpotential_interval_V"], [0.01, 0.02, 0.38, 0.59])
    finally:
        registry.unregister("interval_width")


def test_a_feature_block_added_through_the_registry_is_featurized(tmp_path):
    from featurizers.blocks import block_names, explanation_groups, unregister_block
    from featurizers.system import SystemFeaturizer
    from screen.learn.config import default_config_path, load_config

    import_source(tmp_path, "toy_anion_size_block", blocks("python")[2])
    try:
        assert "anion_size" in block_names()
        assert "anion_size__" in explanation_groups()["anion"]
        featurizer = SystemFeaturizer().fit()
        names = list(featurizer.get_feature_names_out())
        assert "anion_size__name_length" in names
        assert featurizer.n_steps == len(block_names())
        systems = pd.DataFrame({"metal": ["Mg", "Mg"], "anion": ["TFSI", "BH4"],
                                "solvent": ["DME", "THF"], "coating": ["none", "none"]})
        X = pd.DataFrame(featurizer.transform(systems), columns=names)
        assert list(X["anion_size__name_length"]) == [4.0, 3.0]
        config = load_config(default_config_path("passivation"),
                             ['features.blocks=["anion", "anion_size", "system"]'])
        assert list(config["features"]["blocks"]) == ["anion", "anion_size", "system"]
    finally:
        unregister_block("anion_size")
