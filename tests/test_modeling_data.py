"""Per-target training tables and the applicability domain."""

from __future__ import annotations

import numpy as np
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
    td = build(features, library, "overpotential")
    frame = features.frame
    assert len(td.y) == frame["overpotential_V"].notna().sum()
    kinds = td.X[kind_columns()]
    assert (kinds.sum(axis=1) == 1).all()  # every row has exactly its kind
    assert (td.rows["overpotential_kind"].to_numpy() ==
            np.array([c.split("__")[1] for c in kinds.idxmax(axis=1)])).all()
    only = build(features, library, "overpotential", 'data.kinds=["polarization"]')
    assert set(only.rows["overpotential_kind"]) == {"polarization"}


def test_cycle_life_is_survival_data(features, library):
    td = build(features, library, "cycle_life", 'data.unit="cycles"')
    rows = td.rows
    assert (td.y["time"] == rows["cycle_life_cycles"].to_numpy()).all()
    assert (td.y["event"] == ~rows["cycle_life_censored"].to_numpy(bool)).all()
    hours = build(features, library, "cycle_life", 'data.unit="h"', "data.min_rows=5")
    assert (hours.y["time"] == hours.rows["cycle_life_h"].to_numpy()).all()


def test_passivation_partial_mapping(features, library):
    default = build(features, library, "passivation")
    partial = default.rows["passivation"].eq("partial").to_numpy()
    assert partial.any() and (default.y[partial] == 1).all()
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
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    X[:, 3] = 1.0  # a constant feature is ignored
    domain = DomainScorer(k=5, quantile=0.95).fit(X)
    distance, inside = domain.assess(np.array([[0, 0, 0, 1.0], [30, 30, 30, 1.0]]))
    assert inside.tolist() == [True, False]
    assert distance[1] > 10 * distance[0]
    _, train_inside = domain.assess(X)
    assert 0.9 < train_inside.mean() <= 1.0
