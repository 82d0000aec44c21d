"""`mgscreen design`: NSGA-II formulation search on fast champion models in a tmp store."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from screen.data.components import ComponentLibrary, is_none
from screen.data.paths import dataset_dir
from screen.learn.config import ConfigError
from screen.screening.design import (
    DesignConfig,
    load_design_config,
    run_design,
    write_outputs,
)

PREDICTION_COLUMNS = ("overpotential_V_pred", "overpotential_V_low", "overpotential_V_high",
                      "stable_duration_h_pred", "stable_duration_h_high", "p_passivating",
                      "domain_distance", "in_domain")
SMALL_TOML = """
[space]
metal = "Mg"
salt_conc_M = [0.2, 1.5]

[search]
trials = 40
population_size = 20
seed = 3
"""


@pytest.fixture(scope="module")
def store(fast_model_store):
    """A tracking store with fast champion models for the three targets."""
    return fast_model_store


@pytest.fixture(scope="module")
def models(store):
    from screen.learn.predict import load_models

    return load_models(store)


def cli_app() -> typer.Typer:
    from screen.cli import app

    return app


def has_cl(library: ComponentLibrary, kind: str, value: str) -> bool:
    """Cl atoms from the library's own structures (SMILES, or the XYZ file's elements)."""
    from rdkit import Chem

    if is_none(value):
        return False
    for part in value.split(":"):
        comp = library.resolve(kind, part)
        if comp.smiles:
            mol = Chem.MolFromSmiles(comp.smiles)
            symbols = {a.GetSymbol() for a in mol.GetAtoms()}
        else:
            lines = (dataset_dir() / comp.structure_file).read_text().splitlines()[2:]
            symbols = {ln.split()[0] for ln in lines if ln.strip()}
        if "Cl" in symbols:
            return True
    return False


DIRECTIONS = {"overpotential_V_pred": "minimize", "stable_duration_h_pred": "maximize",
              "p_passivating": "minimize", "coulombic_efficiency_pct_pred": "maximize"}


def minimized(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([frame[o].to_numpy(float) * (-1 if d == "maximize" else 1)
                            for o, d in DIRECTIONS.items()])


def test_pareto_set_is_non_dominated_and_feasible(models, library):
    result = run_design(DesignConfig(trials=40, population_size=20, seed=1), models, library)
    assert len(result.trials) + result.n_failed == 40 and result.study.trials
    pareto = result.pareto
    assert len(pareto) >= 1 and pareto["feasible"].all()
    values = minimized(pareto)
    for i in range(len(values)):
        for j in range(len(values)):
            if i != j:
                dominated = np.all(values[j] <= values[i]) and np.any(values[j] < values[i])
                assert not dominated, f"Pareto row {i} is dominated by row {j}"
    # ... and nothing evaluated dominates a returned point (it is the front of all trials)
    everything = minimized(result.trials)
    for v in values:
        assert not np.any(np.all(everything <= v, axis=1) & np.any(everything < v, axis=1))


def test_chloride_free_constraint_is_respected(models, library):
    config = DesignConfig(trials=40, population_size=20, seed=2, chloride_free=True)
    result = run_design(config, models, library)
    trials = result.trials
    flagged = trials["constraint_chloride_free"] > 0
    assert flagged.any(), "the search space should contain chloride formulations"
    independent = trials.apply(lambda r: has_cl(library, "anion", r["anion"])
                               or has_cl(library, "solvent", r["additive"]), axis=1)
    assert (independent == flagged).all()
    assert not result.pareto.empty
    for _, row in result.pareto.iterrows():
        assert not has_cl(library, "anion", row["anion"]), row["anion"]
        assert not has_cl(library, "solvent", row["additive"]), row["additive"]


def test_cli_writes_csv_and_plot_atomically(store, library, tmp_path):
    config = tmp_path / "design.toml"
    config.write_text(SMALL_TOML)
    out = tmp_path / "out" / "pareto.csv"
    out.parent.mkdir()
    out.write_text("old\n")
    result = CliRunner().invoke(cli_app(), [
        "design", "--config", str(config), "--trials", "40", "--out", str(out),
        "--chloride-free", "--max-interval-width", "5", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    assert "Pareto set" in result.output
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert len(table) >= 1
    for column in (*PREDICTION_COLUMNS, "anion", "solvent", "additive", "coating",
                   "salt_conc_M"):
        assert column in table.columns
    assert (table["salt_conc_M"].between(0.2, 1.5)).all()
    for _, row in table.iterrows():
        assert not has_cl(library, "anion", row["anion"])
        assert not has_cl(library, "solvent", row["additive"])
    assert (out.parent / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.parent.iterdir()) == ["pareto.csv", "pareto.png"]


def test_interrupted_write_leaves_the_previous_csv(models, library, tmp_path, monkeypatch):
    result = run_design(DesignConfig(trials=20, population_size=20, seed=4), models, library)
    out = tmp_path / "pareto.csv"
    out.write_text("previous\n")

    def boom(self, path, *args, **kwargs):
        Path(path).write_text("half a ")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(result, out, None)
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pareto.csv"]


def test_unknown_config_key_is_a_clear_error(store, tmp_path):
    config = tmp_path / "design.toml"
    config.write_text(SMALL_TOML.replace("seed = 3", "seed = 3\npopulaton_size = 8"))
    with pytest.raises(ConfigError, match=re.escape("unknown key 'search.populaton_size'")):
        load_design_config(config)
    result = CliRunner().invoke(cli_app(), ["design", "--config", str(config),
                                            "--tracking-uri", store,
                                            "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1
    assert "unknown key 'search.populaton_size'" in result.output
    assert "population_size" in result.output  # the accepted keys are listed
    config.write_text("[spaces]\nmetal = 'Mg'\n")
    with pytest.raises(ConfigError, match="unknown key 'spaces'"):
        load_design_config(config)
    config.write_text("[space]\nanions = ['not-an-anion-xyz']\n")
    with pytest.raises(ConfigError, match="anions"):
        from screen.screening.design import build_space

        build_space(load_design_config(config), ComponentLibrary.load())


def test_missing_models_is_a_clear_error(tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli_app(), ["design", "--trials", "5", "--tracking-uri", empty,
                                            "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1
    assert "Train the models first" in result.output
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "empty.db").exists()


def test_shipped_config_loads():
    config = load_design_config()
    assert config.objectives == ("overpotential", "coulombic_efficiency", "cycle_life",
                                 "passivation")
    assert math.isinf(config.max_interval_width_V)
