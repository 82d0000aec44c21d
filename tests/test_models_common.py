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


def test_cv_summary_of_an_infinite_fold_value_is_quiet():
    """An open conformal interval gives an infinite fold width: its sd is NaN, with no numpy
    RuntimeWarning in the middle of a user's output."""
    import warnings

    from screen.learn.cv import CVResult

    folds = [{"fold": 0, "group": "", "n_test": 3, "width": 1.0, "mae": 0.2},
             {"fold": 1, "group": "", "n_test": 3, "width": float("inf"), "mae": 0.4}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = CVResult("random", "model", folds, {"mae": 0.3}).summary()
    assert summary["width_fold_mean"] == float("inf") and np.isnan(summary["width_fold_sd"])
    assert summary["mae_fold_mean"] == pytest.approx(0.3)
    assert summary["mae_fold_sd"] == pytest.approx(0.1)
