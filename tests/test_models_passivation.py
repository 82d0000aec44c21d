"""Passivation classifier: label mapping, calibration robustness, metrics, the real data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from screen.learn.models import passivation as pa
from screen.learn.models.passivation import (
    MetricUndefinedWarning,
    PassivationClassifier,
    UndefinedMetric,
    accuracy,
    brier,
    classification_metrics,
    make_classifier,
    map_labels,
    roc_auc,
)

FAST = {
    "random_forest": {"n_estimators": 60},
    "gradient_boosting": {"max_iter": 30},
    "logistic_regression": {"C": 1.0},
}


def _model(family: str, **extra) -> PassivationClassifier:
    return make_classifier({"family": family, **FAST[family], **extra})


def _separable(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    y = (X["f0"] + 0.3 * X["f1"] > 0).astype(int).to_numpy()
    X.loc[X.index[::9], "f3"] = np.nan
    X["empty"] = np.nan  # an all-NaN column is kept (as 0), not dropped
    return X, y


@pytest.fixture(scope="module")
def split():
    X, y = _separable(160, seed=0)
    return X[:100], y[:100], X[100:], y[100:]


def test_map_labels():
    labels = pd.Series(["passivating", "partial", None, "non_passivating", " Partial ", ""],
                       index=list("abcdef"), dtype="string")
    y, keep = map_labels(labels)  # default: partial counts as passivating
    assert keep.tolist() == [True, True, False, True, True, False]
    assert y.to_dict() == {"a": 1, "b": 1, "d": 0, "e": 1}
    y, _ = map_labels(labels, partial_as="non_passivating")
    assert y.tolist() == [1, 0, 0, 0]
    y, keep = map_labels(labels, partial_as="drop")
    assert keep.tolist() == [True, False, False, True, False, False]
    assert y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="partial_as"):
        map_labels(labels, partial_as="maybe")
    with pytest.raises(ValueError, match="semi"):
        map_labels(pd.Series(["semi"]))


@pytest.mark.parametrize("family", list(pa.FAMILIES))
def test_separable_data(family, split):
    X_tr, y_tr, X_te, y_te = split
    model = _model(family).fit(X_tr, y_tr)
    assert model.calibrated_ and model.n_splits_ == 5
    proba = model.predict_proba(X_te)
    assert proba.shape == (len(X_te), 2) and np.allclose(proba.sum(axis=1), 1)
    p = model.predict_p_passivating(X_te)
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc(y_te, p) > 0.9
    baseline = brier(y_te, np.full(len(y_te), y_tr.mean()))
    assert brier(y_te, p) < 0.6 * baseline
    assert accuracy(y_te, p) > 0.8
    assert np.array_equal(model.predict(X_te), (p >= 0.5).astype(int))
    assert list(model.classes_) == [0, 1]


def test_isotonic_and_determinism(split):
    X_tr, y_tr, X_te, _ = split
    a = _model("random_forest", calibration="isotonic", random_state=4).fit(X_tr, y_tr)
    b = _model("random_forest", calibration="isotonic", random_state=4).fit(X_tr, y_tr)
    assert np.array_equal(a.predict_proba(X_te), b.predict_proba(X_te))


def test_small_classes_are_handled(split):
    X_tr, y_tr, X_te, _ = split
    ones = np.flatnonzero(y_tr == 1)
    two = np.r_[np.flatnonzero(y_tr == 0), ones[:2]]
    model = _model("logistic_regression").fit(X_tr.iloc[two], y_tr[two])
    assert model.calibrated_ and model.n_splits_ == 2
    one = np.r_[np.flatnonzero(y_tr == 0), ones[:1]]
    with pytest.warns(MetricUndefinedWarning, match="without probability calibration"):
        model = _model("random_forest").fit(X_tr.iloc[one], y_tr[one])
    assert not model.calibrated_
    p = model.predict_p_passivating(X_te)
    assert ((p >= 0) & (p <= 1)).all()
    with pytest.warns(MetricUndefinedWarning, match="only class 1"):
        model = _model("gradient_boosting").fit(X_tr.iloc[ones], y_tr[ones])
    assert model.constant_ == 1 and np.all(model.predict_p_passivating(X_te) == 1.0)
    with pytest.raises(ValueError, match="0/1"):
        _model("random_forest").fit(X_tr, y_tr + 1)


def test_metrics():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    assert roc_auc(y, p) == pytest.approx(0.75)
    assert brier(y, p) == pytest.approx(np.mean((p - y) ** 2))
    assert accuracy(y, p) == pytest.approx(0.5)
    assert accuracy(y, y) == 1.0  # hard labels pass through
    with pytest.warns(MetricUndefinedWarning, match="one class"):
        value = roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    assert isinstance(value, UndefinedMetric) and math.isnan(value)
    assert value.reason == "only one class in y_true"
    assert brier([1, 1], [1.0, 0.5]) == pytest.approx(0.125)  # defined with one class
    assert classification_metrics(y, p) == pytest.approx(
        {"roc_auc": 0.75, "brier": brier(y, p), "accuracy": 0.5})


def test_factory_validation_and_clone():
    with pytest.raises(ValueError, match=r"'depth'.*max_depth"):
        make_classifier({"family": "random_forest", "depth": 3})
    with pytest.raises(ValueError, match="unknown passivation model family 'svm'"):
        make_classifier({"family": "svm"})
    with pytest.raises(ValueError, match="calibration"):
        make_classifier({"calibration": "beta"})
    model = make_classifier({"family": "logistic_regression", "C": 0.3, "cv": 3,
                             "calibration": "isotonic"})
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert twin.params == {"C": 0.3} and twin.cv == 3 and twin.calibration == "isotonic"
    # the [model] / [model.params] TOML shape and the config seed as second argument
    nested = make_classifier({"family": "random_forest",
                              "params": {"n_estimators": 50, "calibration": "isotonic"}}, 9)
    assert nested.params == {"n_estimators": 50} and nested.calibration == "isotonic"
    assert nested.random_state == 9
    with pytest.raises(ValueError, match="'n_trees'"):
        make_classifier({"params": {"n_trees": 5}})


@pytest.mark.parametrize("family", list(pa.FAMILIES))
def test_skops_roundtrip(family, split, tmp_path):
    X_tr, y_tr, X_te, _ = split
    path = tmp_path / "clf.skops"
    small = {"random_forest": {"n_estimators": 15}, "gradient_boosting": {"max_iter": 15},
             "logistic_regression": {}}[family]
    for calibration in pa.CALIBRATION_METHODS:
        model = _model(family, calibration=calibration, **small).fit(X_tr, y_tr)
        sio.dump(model, path)
        untrusted = set(sio.get_untrusted_types(file=path))
        assert untrusted <= set(pa.SKOPS_TRUSTED_TYPES), untrusted - set(pa.SKOPS_TRUSTED_TYPES)
        loaded = sio.load(path, trusted=pa.SKOPS_TRUSTED_TYPES)
        assert np.array_equal(loaded.predict_proba(X_te), model.predict_proba(X_te))


# ---------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(interfaces_features):
    frame, X = interfaces_features
    y, keep = map_labels(frame["passivation"])
    return X[keep], y


def test_real_data_cross_validated(real):
    X, y = real
    assert len(y) >= 50 and 0.2 < y.mean() < 0.8
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUndefinedWarning)
        p = cross_val_predict(_model("random_forest", n_estimators=30), X, y, cv=folds,
                              method="predict_proba")[:, 1]
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc(y, p) > 0.6
    assert brier(y, p) < brier(y, np.full(len(y), y.mean()))
