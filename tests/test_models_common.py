"""MedianImputer: the same output as SimpleImputer, without copies for complete input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.impute import SimpleImputer

from screen.learn.models.common import MedianImputer


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(40, 6)).astype(np.float32)
    train[rng.uniform(size=train.shape) < 0.2] = np.nan
    train[:, 4] = np.nan  # an all-missing column is kept (filled with 0)
    test = rng.normal(size=(25, 6)).astype(np.float32)
    return train, test


def test_same_output_as_simple_imputer_with_and_without_missing_values():
    train, test = _data()
    reference = SimpleImputer(strategy="median", keep_empty_features=True).fit(train)
    ours = MedianImputer().fit(train)
    complete = ours.transform(test)
    assert complete is test  # passed through, no copy
    assert np.array_equal(complete, reference.transform(test))
    holes = test.copy()
    holes[3, 2] = np.nan
    imputed = ours.transform(holes)
    assert imputed is not holes and not np.isnan(imputed).any()
    assert np.array_equal(imputed, reference.transform(holes))
    assert np.isnan(holes[3, 2])  # the caller's array is not modified


def test_frames_pass_through_only_with_the_fitted_columns():
    train, test = _data(1)
    columns = [f"f{i}" for i in range(6)]
    ours = MedianImputer().fit(pd.DataFrame(train, columns=columns))
    frame = pd.DataFrame(test, columns=columns)
    assert np.shares_memory(ours.transform(frame), frame.to_numpy())
    reordered = frame[columns[::-1]]
    reference = SimpleImputer(strategy="median", keep_empty_features=True).fit(
        pd.DataFrame(train, columns=columns))
    with pytest.raises(ValueError, match="feature names"):
        reference.transform(reordered)
    with pytest.raises(ValueError, match="feature names"):
        ours.transform(reordered)  # falls back to SimpleImputer's checks


def test_clone_and_params_follow_the_sklearn_contract():
    imputer = MedianImputer()
    assert imputer.get_params()["strategy"] == "median"
    assert imputer.get_params()["keep_empty_features"] is True
    assert clone(imputer).get_params() == imputer.get_params()
