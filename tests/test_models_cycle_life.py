"""Cycle-life survival models: synthetic data with a known answer, censoring, the real data."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from scipy.stats import spearmanr
from sklearn.base import clone
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from screen.learn.models import cycle_life as cl
from screen.learn.models.cycle_life import (
    KaplanMeierBaseline,
    MetricUndefinedWarning,
    SurvivalModel,
    UndefinedMetric,
    c_index,
    ibs_times,
    integrated_brier,
    make_survival_model,
    survival_at,
)

FAST = {
    "random_survival_forest": {"n_estimators": 40, "min_samples_leaf": 5},
    "gradient_boosting": {"n_estimators": 60, "max_depth": 2},
    "coxnet": {"l1_ratio": 0.9, "alpha_min_ratio": 0.05},
}


def _model(family: str, **extra) -> SurvivalModel:
    return make_survival_model({"family": family, **FAST[family], **extra})


def _synthetic(n: int, seed: int, censor_all: bool = False):
    """Exponential lives with rate exp(1.5 x0): high x0 → short life; x1..x4 are noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"f{i}" for i in range(5)])
    X.iloc[rng.choice(n, n // 10, replace=False), 2] = np.nan  # NaN must be imputed inside
    rate = np.exp(1.5 * X["f0"].to_numpy())
    life = rng.exponential(1.0 / rate)
    censor = rng.uniform(0.5, 4.0, size=n)
    event = np.zeros(n, bool) if censor_all else life <= censor
    time = np.where(event, life, np.minimum(life, censor))
    return X, Surv.from_arrays(event=event, time=time), np.log(2) / rate


@pytest.fixture(scope="module")
def synthetic():
    X, y, true_median = _synthetic(240, seed=1)
    return X[:160], y[:160], X[160:], y[160:], true_median[160:]


@pytest.fixture(scope="module")
def fitted(synthetic):
    X_tr, y_tr, *_ = synthetic
    return {family: _model(family).fit(X_tr, y_tr) for family in cl.FAMILIES}


@pytest.mark.parametrize("family", list(cl.FAMILIES))
def test_synthetic_risk_ranking_beats_chance(family, synthetic, fitted):
    _, _, X_te, y_te, true_median = synthetic
    model = fitted[family]
    assert model.score(X_te, y_te) > 0.7
    median, bound = model.predict_median_with_bound(X_te)
    assert np.isfinite(median).all() and (median > 0).all()
    rho = spearmanr(median[~bound], true_median[~bound]).statistic
    assert rho > 0.5  # predicted medians follow the true ln2/rate


@pytest.mark.parametrize("family", list(cl.FAMILIES))
def test_survival_curves_are_valid(family, synthetic, fitted):
    X_tr, _, X_te, _, _ = synthetic
    model = fitted[family]
    grid = np.linspace(0.0, 2 * model.time_max_, 25)
    s = model.predict_survival_at(X_te, grid)
    assert s.shape == (len(X_te), len(grid))
    assert ((s >= 0) & (s <= 1)).all()
    assert (np.diff(s, axis=1) <= 1e-12).all()  # non-increasing in t
    assert np.allclose(s[:, 0], 1.0)  # before the first training time
    beyond = model.predict_survival_at(X_te, 10 * model.time_max_)
    assert beyond.shape == (len(X_te),)
    assert np.allclose(beyond, model.predict_survival_at(X_te, model.time_max_))
    # median ↔ curve consistency: S(median) <= 0.5 unless flagged as a lower bound
    median, bound = model.predict_median_with_bound(X_te)
    at_median = np.array([model.predict_survival_at(X_te.iloc[[i]], m)[0]
                          for i, m in enumerate(median)])
    assert (at_median[~bound] <= 0.5).all()
    assert (median[bound] == model.time_max_).all()
    assert np.array_equal(model.median_is_lower_bound(X_te), bound)
    assert np.array_equal(model.predict_median(X_te), median)


def test_all_censored_model_reports_lower_bound():
    X, y, _ = _synthetic(50, seed=3, censor_all=True)
    for family in cl.FAMILIES:
        with pytest.warns(MetricUndefinedWarning, match="censored"):
            model = _model(family).fit(X, y)
        assert model.no_events_
        assert model.median_is_lower_bound(X).all()
        assert np.allclose(model.predict_median(X), y["time"].max())
        assert np.allclose(model.predict_survival_at(X, [0.1, 1.0]), 1.0)
        assert math.isnan(model.score(X, y))
        km = KaplanMeierBaseline().fit(X, y)
        assert km.median_is_lower_bound(X).all()


def test_mostly_censored_upper_half_gives_lower_bounds():
    """Few early failures: S never reaches 0.5, the median is the follow-up, flagged."""
    X, y, _ = _synthetic(60, seed=4, censor_all=True)
    y["event"][np.argsort(y["time"])[:5]] = True
    model = _model("random_survival_forest").fit(X, y)
    median, bound = model.predict_median_with_bound(X)
    assert bound.all() and np.allclose(median, y["time"].max())


def test_kaplan_meier_baseline(synthetic):
    X_tr, y_tr, X_te, y_te, _ = synthetic
    km = KaplanMeierBaseline().fit(X_tr, y_tr)
    t, s = kaplan_meier_estimator(y_tr["event"], y_tr["time"])
    expected = t[np.argmax(s <= 0.5)]
    assert np.allclose(km.predict_median(X_te), expected)
    assert not km.median_is_lower_bound(X_te).any()
    assert np.allclose(km.predict_survival_at(X_te, t[10]), s[10])
    assert np.all(km.predict(X_te) == 0)
    assert km.score(X_te, y_te) == 0.5  # every comparable pair is a tie, counted 1/2
    assert km.fit(None, y_tr).predict_median(np.zeros((2, 1))).shape == (2,)


def test_model_ibs_beats_kaplan_meier(synthetic, fitted):
    X_tr, y_tr, X_te, y_te, _ = synthetic
    times = ibs_times(y_tr, y_te)
    assert len(times) >= 2
    assert times.min() >= max(y_tr["time"].min(), y_te["time"].min())
    assert times.max() < min(y_tr["time"].max(), y_te["time"].max())
    km = KaplanMeierBaseline().fit(X_tr, y_tr)
    ibs_km = integrated_brier(y_tr, y_te, km.predict_survival_at(X_te, times), times)
    for family in ("random_survival_forest", "gradient_boosting"):
        model = fitted[family]
        ibs = integrated_brier(y_tr, y_te, model.predict_survival_at(X_te, times), times)
        assert 0 < ibs < ibs_km < 0.25
    # StepFunction input gives the same number as the probability array
    rsf = fitted["random_survival_forest"]
    steps = rsf.pipeline_[-1].predict_survival_function(rsf.pipeline_[:-1].transform(X_te))
    same = integrated_brier(y_tr, y_te, steps)
    assert same == pytest.approx(
        integrated_brier(y_tr, y_te, rsf.predict_survival_at(X_te, times), times))


def test_ibs_and_c_index_undefined_cases(synthetic):
    X_tr, y_tr, X_te, y_te, _ = synthetic
    no_event = Surv.from_arrays(event=np.zeros(len(y_te), bool), time=y_te["time"])
    with pytest.warns(MetricUndefinedWarning):
        value = integrated_brier(y_tr, no_event, np.ones((len(y_te), 2)), [0.5, 1.0])
    assert isinstance(value, UndefinedMetric) and math.isnan(value)
    assert "no observed failure" in value.reason
    assert "nan" in repr(value) and math.isnan(pickle.loads(pickle.dumps(value)))
    # test follow-up entirely after the training follow-up: no common time
    late = Surv.from_arrays(event=y_te["event"], time=y_te["time"] + 100)
    with pytest.warns(MetricUndefinedWarning):
        assert math.isnan(integrated_brier(y_tr, late, np.ones((len(y_te), 2)), [101, 102]))
    # a grid partly outside the common follow-up: those columns are dropped, not an error
    wide = np.r_[-5.0, ibs_times(y_tr, y_te), 1e6]
    km = KaplanMeierBaseline().fit(X_tr, y_tr)
    assert integrated_brier(y_tr, y_te, km.predict_survival_at(X_te, wide), wide) == pytest.approx(
        integrated_brier(y_tr, y_te, km.predict_survival_at(X_te, wide[1:-1]), wide[1:-1]))
    # test times partly beyond the train range: scored without crashing
    longer = Surv.from_arrays(event=y_te["event"], time=y_te["time"] * 3)
    times = ibs_times(y_tr, longer)
    assert math.isfinite(integrated_brier(y_tr, longer, np.full((len(y_te), len(times)), 0.5),
                                          times))
    with pytest.warns(MetricUndefinedWarning, match="censored"):
        assert math.isnan(c_index(no_event, np.arange(len(y_te))))
    one_late_event = Surv.from_arrays(event=[False, False, True], time=[1.0, 2.0, 3.0])
    with pytest.warns(MetricUndefinedWarning, match="comparable"):
        assert math.isnan(c_index(one_late_event, [0.0, 1.0, 2.0]))
    assert c_index(y_te, -y_te["time"]) > 0.99  # risk = −time is (almost) perfect


def test_factory_validation_and_clone():
    with pytest.raises(ValueError, match=r"'n_trees'.*n_estimators"):
        make_survival_model({"family": "random_survival_forest", "n_trees": 10})
    with pytest.raises(ValueError, match="unknown cycle-life model family 'svm'"):
        make_survival_model({"family": "svm"})
    with pytest.raises(ValueError, match="low_memory"):  # fixed by the wrapper
        make_survival_model({"low_memory": True})
    model = make_survival_model({"family": "gradient_boosting", "learning_rate": 0.05,
                                 "random_state": 7})
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert twin.params == {"learning_rate": 0.05} and twin.random_state == 7
    twin.set_params(params={"bogus": 1})
    X, y, _ = _synthetic(30, seed=5)
    with pytest.raises(ValueError, match="bogus"):
        twin.fit(X, y)
    # the [model] / [model.params] TOML shape and the config seed as second argument
    nested = make_survival_model({"family": "coxnet", "params": {"l1_ratio": 0.7}}, 11)
    assert nested.params == {"l1_ratio": 0.7} and nested.random_state == 11
    assert make_survival_model({"random_state": 2}, 11).random_state == 2
    with pytest.raises(ValueError, match="both directly and under 'params'"):
        make_survival_model({"l1_ratio": 0.5, "params": {"l1_ratio": 0.7}, "family": "coxnet"})
    assert clone(KaplanMeierBaseline()).get_params() == {}


def test_survival_at_any_estimator(synthetic, fitted):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.ensemble import RandomSurvivalForest

    X_tr, y_tr, X_te, _, _ = synthetic
    times = np.array([-1.0, 0.3, 1.0, 1e6])  # outside the training range on both ends
    model = fitted["gradient_boosting"]
    assert np.array_equal(survival_at(model, X_te, times), model.predict_survival_at(X_te, times))
    km = KaplanMeierBaseline().fit(X_tr, y_tr)
    assert survival_at(km, X_te, times).shape == (len(X_te), 4)
    pipe = make_pipeline(StandardScaler(), RandomSurvivalForest(n_estimators=10, random_state=0))
    s = survival_at(pipe.fit(X_tr.fillna(0), y_tr), X_te.fillna(0), times)
    assert s.shape == (len(X_te), 4) and np.allclose(s[:, 0], 1.0)
    assert (np.diff(s, axis=1) <= 1e-12).all()
    with pytest.raises(TypeError):
        survival_at(StandardScaler().fit(X_tr), X_te, times)


def test_deterministic_with_random_state(synthetic):
    X_tr, y_tr, X_te, _, _ = synthetic
    a = _model("random_survival_forest", random_state=3).fit(X_tr, y_tr)
    b = _model("random_survival_forest", random_state=3).fit(X_tr, y_tr)
    assert np.array_equal(a.predict_survival_at(X_te, [0.2, 0.8]),
                          b.predict_survival_at(X_te, [0.2, 0.8]))


def _roundtrip(model, X, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(cl.SKOPS_TRUSTED_TYPES), set(untrusted) - set(
        cl.SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=cl.SKOPS_TRUSTED_TYPES)
    t = np.linspace(0, model.time_max_, 7)
    assert np.array_equal(loaded.predict_survival_at(X, t), model.predict_survival_at(X, t))
    assert np.array_equal(loaded.predict_median(X), model.predict_median(X))
    assert np.array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("family", list(cl.FAMILIES))
def test_skops_roundtrip(family, synthetic, fitted, tmp_path):
    _roundtrip(fitted[family], synthetic[2], tmp_path)


def test_skops_roundtrip_baseline_and_no_event_model(synthetic, tmp_path):
    X_tr, y_tr, X_te, _, _ = synthetic
    _roundtrip(KaplanMeierBaseline().fit(X_tr, y_tr), X_te, tmp_path)
    Xc, yc, _ = _synthetic(30, seed=6, censor_all=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUndefinedWarning)
        _roundtrip(_model("coxnet").fit(Xc, yc), Xc, tmp_path)


# ---------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(interfaces_features):
    frame, X = interfaces_features
    out = {}
    for unit, column in (("h", "cycle_life_h"), ("cycles", "cycle_life_cycles")):
        rows = frame[column].notna().to_numpy()
        censored = frame.loc[rows, "cycle_life_censored"].fillna(True).to_numpy(bool)
        y = Surv.from_arrays(event=~censored, time=frame.loc[rows, column].to_numpy(float))
        out[unit] = (X[rows], y)
    return out


@pytest.mark.parametrize("family", list(cl.FAMILIES))
def test_real_hours(family, real):
    X, y = real["h"]
    assert len(y) >= 10 and 0 < y["event"].sum() < len(y)  # few failures, mostly censored
    model = _model(family).fit(X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    median, bound = model.predict_median_with_bound(X)
    assert np.isfinite(median).all() and (median > 0).all() and (median <= y["time"].max()).all()
    assert bound.any()  # heavy censoring: many medians are only lower bounds
    p = model.predict_survival_at(X, 500.0)
    assert ((p >= 0) & (p <= 1)).all()
    assert 0.5 <= model.score(X, y) <= 1.0


def test_real_cycles_are_all_censored(real):
    X, y = real["cycles"]
    assert len(y) > 30
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUndefinedWarning)
        model = _model("random_survival_forest").fit(X, y)
    if not y["event"].any():
        assert model.no_events_ and model.median_is_lower_bound(X).all()
    assert np.isfinite(model.predict_median(X)).all()


@pytest.mark.parametrize("family", list(cl.FAMILIES))
def test_life_table_agrees_with_the_single_outputs(family, synthetic, fitted):
    _, _, X_te, _, _ = synthetic
    model = fitted[family]
    horizon = float(np.median(model.times_))
    life = model.life_table(X_te, horizon)
    median, bound = model.predict_median_with_bound(X_te)
    assert np.array_equal(life["median"], median)
    assert np.array_equal(life["median_is_lower_bound"], bound)
    assert np.allclose(life["p_gt_horizon"], model.predict_survival_at(X_te, horizon))
    assert (life["q25"] <= life["median"]).all() and (life["median"] <= life["q75"]).all()
    # S at the lower quartile life is <= 0.75 wherever that life was reached
    reached = life["q25"] < model.time_max_
    at_q25 = np.array([model.predict_survival_at(X_te.iloc[[i]], t)[0]
                       for i, t in enumerate(life["q25"])])
    assert (at_q25[reached] <= 0.75).all()
    assert (life["q25"] < life["q75"]).any()
