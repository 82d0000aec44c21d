"""Per-target training tables and the applicability domain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screen import load_interfaces
from screen.learn.config import default_config_path, load_config
from screen.learn.domain import DomainScorer
from screen.learn.modeling_data import TooFewRowsError, build_target_data
from screen.learn.targets.overpotential import kind_columns
from screen.learn.train import featurize_dataset


@pytest.fixture(scope="module")
def features(library):
    return featurize_dataset(load_interfaces(library=library), library)


def build(features, library, target, *overrides):
    config = load_config(default_config_path(target), list(overrides))
    return build_target_data(features.frame, features.matrix, features.names, config, library)


def test_overpotential_table(features, library):
    td = build(features, library, "overpotential", 'data.kinds=["polarization", "hysteresis", '
               '"plating", "stripping", "nucleation"]', "data.require_current_density=false")
    frame = features.frame
    assert len(td.y) == frame["overpotential_V"].notna().sum()
    with_current = build(features, library, "overpotential")
    assert with_current.rows["current_density_mA_cm2"].notna().all()
    assert len(with_current.y) < len(td.y)
    kinds = td.X[kind_columns()]
    assert (kinds.sum(axis=1) == 1).all()  # every row has exactly its kind
    assert (td.rows["overpotential_kind"].to_numpy() ==
            np.array([c.split("__")[1] for c in kinds.idxmax(axis=1)])).all()
    only = build(features, library, "overpotential", 'data.kinds=["polarization"]')
    assert set(only.rows["overpotential_kind"]) == {"polarization"}


def test_cycle_life_is_survival_data(features, library):
    survival = ('data.mode="survival"', "data.convert=false",
                'model.family="random_survival_forest"', "model.params={}")
    td = build(features, library, "cycle_life", 'data.unit="cycles"', *survival)
    rows = td.rows
    assert (td.y["time"] == rows["cycle_life_cycles"].to_numpy()).all()
    assert (td.y["event"] == ~rows["cycle_life_censored"].to_numpy(bool)).all()
    hours = build(features, library, "cycle_life", 'data.unit="h"', "data.min_rows=5",
                  *survival)
    assert (hours.y["time"] == hours.rows["cycle_life_h"].to_numpy()).all()


def test_cycles_become_hours_where_the_protocol_fixes_the_time_per_cycle():
    import pandas as pd

    from screen.learn.targets.cycle_life import durations

    frame = pd.DataFrame({
        "cycle_life_h": [100.0, np.nan, np.nan, np.nan],
        "cycle_life_cycles": [np.nan, 50.0, 300.0, 40.0],
        "cell_type": ["symmetric", "asymmetric_Cu", "full_cell", "full_cell"],
        "current_density_mA_cm2": [1.0, 0.5, np.nan, np.nan],
        "areal_capacity_mAh_cm2": [1.0, 0.25, np.nan, np.nan],
        "c_rate": [np.nan, np.nan, 0.5, np.nan]})
    hours, how = durations(frame, "h")
    assert np.allclose(hours[:3], [100.0, 50 * 2 * 0.25 / 0.5, 300 * 2 / 0.5])
    assert np.isnan(hours[3])  # a full cell without a C-rate has no fixed time per cycle
    assert list(how) == ["reported", "half cells: 2 Q / j", "full cell: 2 / C-rate", ""]
    cycles, _ = durations(frame, "cycles")
    assert cycles[0] == pytest.approx(100.0 / 2.0) and cycles[1] == 50.0
    unconverted, _ = durations(frame, "h", convert=False)
    assert np.isnan(unconverted[1:]).all()


def test_demonstrated_durations_are_log10_hours(features, library):
    from screen.learn.targets.cycle_life import durations

    td = build(features, library, "cycle_life")
    values, _ = durations(td.rows, "h")
    assert np.allclose(td.y, np.log10(values)) and len(td.y) > 30


def test_passivation_is_one_row_per_system_with_the_partial_mapping(features, library):
    from screen.data.systems import system_key, system_labels

    default = build(features, library, "passivation")
    systems = system_labels(features.frame)
    assert len(default.y) == len(systems) and system_key(default.rows).is_unique
    label = systems.set_index("first_row").loc[default.rows.index, "passivation"].to_numpy()
    partial = label == "partial"
    assert partial.any() and (default.y[partial] == 1).all()
    assert (default.y[label == "non_passivating"] == 0).all()
    dropped = build(features, library, "passivation", 'data.partial_as="drop"')
    assert len(dropped.y) == len(default.y) - partial.sum()
    negative = build(features, library, "passivation", 'data.partial_as="non_passivating"')
    assert negative.y.sum() == default.y.sum() - partial.sum()


def test_groups_and_too_few_rows(features, library):
    td = build(features, library, "passivation")
    assert len(set(td.groups["source"])) >= 3 and len(set(td.groups["anion_family"])) >= 3
    with pytest.raises(TooFewRowsError, match="needs at least data.min_rows = 100000"):
        build(features, library, "passivation", "data.min_rows=100000")


def test_domain_scorer():
    """A block's distance is to the nearest distinct training vector over the training
    spread; a constant column is ignored; a far point is outside, training rows inside."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=[f"anion__f{i}" for i in range(4)])
    X["anion__f3"] = 1.0  # a constant feature is ignored
    domain = DomainScorer(blocks={"anion": ("anion__",)}, k=5, quantile=0.95).fit(X)
    probe = pd.DataFrame([[0, 0, 0, 1.0], [30, 30, 30, 1.0]], columns=X.columns)
    distance, inside = domain.assess(probe)
    assert inside.tolist() == [True, False]
    assert distance[1] > 10 * distance[0]
    _, train_inside = domain.assess(X)
    assert train_inside.all()
    with pytest.raises(TypeError, match="DataFrame"):
        domain.assess(probe.to_numpy())
