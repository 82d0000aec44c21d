"""screen.learn.plots: figures with unit-carrying labels that save to PNG, no display needed."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from screen.learn import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _save(fig: Figure, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def _labels(fig: Figure) -> list[tuple[str, str]]:
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def test_parity_plot_with_intervals(tmp_path, rng):
    y = rng.uniform(0.05, 0.6, 30)
    pred = y + rng.normal(scale=0.03, size=30)
    pred[0] = np.nan  # a missing prediction is skipped
    fig = plots.parity_plot(y, pred, "Overpotential, grouped CV", low=pred - 0.05,
                            high=pred + 0.05)
    assert isinstance(fig, Figure)
    assert _labels(fig) == [("Measured overpotential (V)", "Predicted overpotential (V)")]
    assert fig.axes[0].get_title() == "Overpotential, grouped CV"
    assert "n = 29" in fig.axes[0].texts[0].get_text()
    _save(fig, tmp_path, "parity")
    with pytest.raises(ValueError, match="lengths differ"):
        plots.parity_plot([1, 2], [1], "x")


def test_residuals_by_group(tmp_path, rng):
    groups = ["TFSI"] * 10 + ["borate"] * 6 + ["chloride"] * 3
    y = rng.uniform(0.1, 0.4, len(groups))
    fig = plots.residuals_by_group(y, y + rng.normal(scale=0.05, size=len(groups)), groups,
                                   "Residuals by anion family")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Residual, predicted − measured overpotential (V)"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert sorted(ticks) == ["TFSI\n(n=10)", "borate\n(n=6)", "chloride\n(n=3)"]
    _save(fig, tmp_path, "residuals")


def test_calibration_plot(tmp_path, rng):
    p = rng.uniform(0, 1, 60)
    y = (rng.uniform(0, 1, 60) < p).astype(int)
    fig = plots.calibration_plot(y, p, "Passivation, grouped CV")
    assert _labels(fig) == [("", "Observed fraction passivating"),
                            ("Predicted P(passivating)", "Count")]
    assert len(fig.axes[0].lines) == 2  # diagonal + model
    _save(fig, tmp_path, "calibration")
    # constant predictions: no curve, but still a figure
    _save(plots.calibration_plot([0, 1, 1], [0.5, 0.5, 0.5], "flat"), tmp_path, "flat")


def test_interval_reliability_and_coverage_bars(tmp_path):
    levels = [0.5, 0.8, 0.9, 0.95]
    per_fold = [[0.45, 0.78, 0.9, 0.93], [0.55, 0.82, 0.88, 0.97]]
    fig = plots.interval_reliability_plot(levels, per_fold, fold_labels=["TFSI", "borate"])
    assert _labels(fig) == [("Nominal coverage (fraction)", "Empirical coverage (fraction)")]
    _save(fig, tmp_path, "reliability")
    _save(plots.interval_reliability_plot(levels, per_fold[0]), tmp_path, "reliability1")
    with pytest.raises(ValueError, match="does not match"):
        plots.interval_reliability_plot(levels, [0.5, 0.8])
    bars = plots.coverage_by_fold_plot(["TFSI", "borate", "chloride"], [0.9, 0.85, 0.7], 0.9)
    assert _labels(bars) == [("CV fold", "Empirical coverage (fraction)")]
    _save(bars, tmp_path, "coverage")
    schemes = plots.coverage_by_fold_plot(["random", "anion_family"], [0.9, np.nan], 0.9,
                                          xlabel="CV scheme")
    assert _labels(schemes) == [("CV scheme", "Empirical coverage (fraction)")]


def test_permutation_importance_plot(tmp_path, rng):
    names = [f"anion__f{i}" for i in range(40)]
    mean = rng.normal(size=40)
    fig = plots.permutation_importance_plot(mean, np.abs(mean) / 10, names, top=10,
                                            score_label="Increase in MAE (V)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Increase in MAE (V)"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 10 and ticks[-1] == names[int(np.argmax(mean))]  # largest on top
    _save(fig, tmp_path, "importance")


def test_survival_plot_arrays_and_step_functions(tmp_path):
    times = np.array([0, 100, 300, 700, 1000.0])
    curves = np.array([[1, 0.9, 0.6, 0.3, 0.2], [1, 1, 0.95, 0.8, 0.7]])
    fig = plots.survival_plot(times, curves, ["Mg(TFSI)2/DME", "Mg[B(hfip)4]2/DME"],
                              t_marker=500)
    assert _labels(fig) == [("Cycling time t (h)", "Survival probability P(life > t)")]
    assert len(fig.axes[0].lines) >= 2
    _save(fig, tmp_path, "survival")

    class Step:  # the shape of sksurv.functions.StepFunction
        x = times
        y = curves[0]

        def __call__(self, t):
            return np.interp(t, self.x, self.y)

    _save(plots.survival_plot(None, [Step()], ["step"]), tmp_path, "survival-step")
    with pytest.raises(ValueError, match="labels"):
        plots.survival_plot(times, curves, ["one"])
