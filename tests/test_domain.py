"""The per-block applicability domain (screen/learn/domain.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screen.learn.domain import DomainScorer, unexplored

BLOCKS = {"anion": ("anion__",), "coating": ("coating__",), "conditions": ("system__",)}


def table(anion, coating, current):
    return pd.DataFrame({"anion__a": anion, "anion__b": np.square(anion),
                         "coating__c": coating, "system__current_density_mA_cm2": current})


@pytest.fixture
def fitted():
    train = table([0.0, 0.0, 1.0, 1.0, 2.0, 2.0], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
                  [0.1, 1.0, 0.5, 2.0, 1.0, 0.2])
    return train, DomainScorer(blocks=BLOCKS).fit(train)


def test_every_training_row_is_in_domain(fitted):
    train, domain = fitted
    distance, inside = domain.assess(train)
    assert inside.all() and np.allclose(domain.block_distances(train)[["anion", "coating"]], 0)


def test_the_new_part_of_a_system_is_named(fitted):
    _, domain = fitted
    new = table([9.0, 1.0, 1.0], [0.0, 7.0, 1.0], [1.0, 1.0, 50.0])
    ratios = domain.assess_blocks(new)
    names = unexplored(ratios)
    assert list(names) == ["anion", "coating", "conditions"]
    assert not domain.assess(new)[1].any()


def test_grouped_cv_errors_widen_a_threshold_only_while_errors_stay_small(fitted):
    train, domain = fitted
    before = dict(domain.threshold_)
    groups = np.array([0, 0, 1, 1, 2, 2])  # one anion per group: every anion is new to CV
    small = np.full(6, 0.1)
    wide = DomainScorer(blocks=BLOCKS).fit(train).calibrate(train, small, groups)
    assert wide.threshold_["anion"] >= before["anion"] and wide.calibrated_
    large = np.where(groups == 2, 5.0, 0.1)  # the farthest anion family is predicted badly
    strict = DomainScorer(blocks=BLOCKS).fit(train).calibrate(train, large, groups)
    assert strict.threshold_["anion"] <= wide.threshold_["anion"]
