"""Diagnostic figures for the trained models (matplotlib, Agg canvas, nothing displayed).

Every function returns a ``matplotlib.figure.Figure`` built with the object-oriented API on an
Agg canvas: no pyplot state, no GUI backend, nothing to close; save it with ``fig.savefig`` or
``screen.learn.tracking.log_figure``. Axis labels carry units (V for overpotential, h for cycle
life).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_BLUE = "#1f77b4"
_GREY = "0.45"


def figure(width: float = 5.5, height: float = 5.0) -> Figure:
    """A new constrained-layout figure on its own Agg canvas (the one figure factory)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lengths differ: {lengths}")


def _no_data(ax: Any, message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=_GREY)


def parity_plot(y_true: Any, y_pred: Any, title: str, low: Any = None, high: Any = None,
                quantity: str = "overpotential", unit: str = "V") -> Figure:
    """Predicted vs measured with the identity line; ``low``/``high`` (prediction-interval
    bounds) draw vertical error bars. MAE, RMSE and n in the corner."""
    yt, yp = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    _same_length(y_true=yt, y_pred=yp)
    fig = figure()
    ax = fig.add_subplot()
    ok = np.isfinite(yt) & np.isfinite(yp)
    if low is not None and high is not None:
        lo, hi = _array(low, "low"), _array(high, "high")
        _same_length(y_true=yt, low=lo, high=hi)
        yerr = np.vstack([np.clip(yp - lo, 0, None), np.clip(hi - yp, 0, None)])
        yerr = np.where(np.isfinite(yerr), yerr, 0.0)
        ax.errorbar(yt[ok], yp[ok], yerr=yerr[:, ok], fmt="none", ecolor="0.7", elinewidth=0.8,
                    zorder=1, label="prediction interval")
    ax.scatter(yt[ok], yp[ok], s=18, color=_BLUE, alpha=0.8, zorder=2, label="systems")
    if ok.any():
        values = np.concatenate([yt[ok], yp[ok]])
        pad = 0.05 * (values.max() - values.min() or 1.0)
        lim = (values.min() - pad, values.max() + pad)
        ax.plot(lim, lim, color=_GREY, lw=1, ls="--", zorder=0, label="y = x")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        err = yp[ok] - yt[ok]
        ax.text(0.03, 0.97, f"n = {ok.sum()}\nMAE = {np.abs(err).mean():.3g} {unit}\n"
                            f"RMSE = {np.sqrt((err ** 2).mean()):.3g} {unit}",
                transform=ax.transAxes, va="top", ha="left", fontsize=9)
    else:
        _no_data(ax)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"Measured {quantity} ({unit})")
    ax.set_ylabel(f"Predicted {quantity} ({unit})")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def residuals_by_group(y_true: Any, y_pred: Any, groups: Sequence[Any], title: str,
                       quantity: str = "overpotential", unit: str = "V",
                       group_label: str = "Chemistry group") -> Figure:
    """Box plot + jittered points of residuals (predicted − measured) per group, groups
    ordered by median residual, with n under each label."""
    yt, yp = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    labels = np.asarray([str(g) for g in groups], dtype=object)
    _same_length(y_true=yt, y_pred=yp, groups=labels)
    resid = yp - yt
    ok = np.isfinite(resid)
    names = sorted(set(labels[ok]), key=lambda g: (np.median(resid[ok & (labels == g)]), g))
    data = [resid[ok & (labels == g)] for g in names]
    fig = figure(width=max(5.5, 0.55 * len(names) + 2.0), height=4.8)
    ax = fig.add_subplot()
    if names:
        positions = np.arange(1, len(names) + 1)
        ax.boxplot(data, positions=positions, widths=0.6, showfliers=False,
                   medianprops={"color": "black"})
        rng = np.random.default_rng(0)
        for pos, values in zip(positions, data, strict=True):
            ax.scatter(pos + rng.uniform(-0.18, 0.18, len(values)), values, s=12,
                       color=_BLUE, alpha=0.7, zorder=3)
        ax.set_xticks(positions, [f"{g}\n(n={len(v)})" for g, v in zip(names, data,
                                                                        strict=True)],
                      rotation=45 if len(names) > 6 else 0,
                      ha="right" if len(names) > 6 else "center", fontsize=8)
    else:
        _no_data(ax)
    ax.axhline(0.0, color=_GREY, lw=1, ls="--")
    ax.set_xlabel(group_label)
    ax.set_ylabel(f"Residual, predicted − measured {quantity} ({unit})")
    ax.set_title(title)
    return fig


def calibration_plot(y_true: Any, p: Any, title: str, n_bins: int = 5,
                     event: str = "passivating") -> Figure:
    """Reliability diagram (``sklearn.calibration.calibration_curve``, quantile bins, few of
    them for small data) above a histogram of the predicted probabilities; Brier score and n
    in the corner."""
    from sklearn.calibration import calibration_curve

    yt, prob = _array(y_true, "y_true"), _array(p, "p")
    _same_length(y_true=yt, p=prob)
    ok = np.isfinite(yt) & np.isfinite(prob)
    yt, prob = yt[ok].astype(int), np.clip(prob[ok], 0.0, 1.0)
    fig = figure(height=5.8)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color=_GREY, lw=1, ls="--", label="perfect calibration")
    if yt.size and len(np.unique(prob)) > 1:
        frac, mean_p = calibration_curve(yt, prob, n_bins=max(2, min(n_bins, yt.size)),
                                         strategy="quantile")
        top.plot(mean_p, frac, "o-", color=_BLUE, label="model")
        brier = float(np.mean((prob - yt) ** 2))
        top.text(0.03, 0.97, f"n = {yt.size}\nBrier = {brier:.3f}", transform=top.transAxes,
                 va="top", ha="left", fontsize=9)
    else:
        _no_data(top, "not enough distinct predictions")
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel(f"Observed fraction {event}")
    top.set_title(title)
    top.legend(loc="lower right", fontsize=8)
    bottom.hist(prob, bins=np.linspace(0, 1, 11), color=_BLUE, alpha=0.7)
    bottom.set_xlabel(f"Predicted P({event})")
    bottom.set_ylabel("Count")
    return fig


def interval_reliability_plot(nominal_levels: Any, empirical_coverage: Any,
                              title: str = "Prediction-interval reliability",
                              fold_labels: Sequence[str] | None = None) -> Figure:
    """Empirical vs nominal coverage of prediction intervals.

    ``empirical_coverage`` is one value per level, or a (folds × levels) array: then each fold
    is a faint line and the mean a bold one (``fold_labels`` name the folds in the legend).
    """
    levels = _array(nominal_levels, "nominal_levels")
    cov = np.asarray(empirical_coverage, dtype=float)
    if cov.ndim == 1:
        cov = cov[None, :]
    if cov.ndim != 2 or cov.shape[1] != levels.size:
        raise ValueError(f"empirical_coverage shape {cov.shape} does not match "
                         f"{levels.size} nominal levels")
    order = np.argsort(levels)
    levels, cov = levels[order], cov[:, order]
    fig = figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color=_GREY, lw=1, ls="--", label="ideal")
    if cov.shape[0] > 1:
        for i, row in enumerate(cov):
            label = None if fold_labels is None else str(fold_labels[i])
            ax.plot(levels, row, "-", lw=0.8, alpha=0.5, label=label)
        ax.plot(levels, np.nanmean(cov, axis=0), "o-", color="black", lw=2,
                label="mean over folds")
    else:
        ax.plot(levels, cov[0], "o-", color=_BLUE, lw=2, label="empirical")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Nominal coverage (fraction)")
    ax.set_ylabel("Empirical coverage (fraction)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def coverage_by_fold_plot(fold_labels: Sequence[str], coverage: Any, nominal: float,
                          title: str = "Interval coverage per fold",
                          xlabel: str = "CV fold") -> Figure:
    """Bar per CV fold (or group, or CV scheme: set ``xlabel``) of the empirical coverage of
    the prediction intervals, with the nominal level as a dashed line."""
    cov = _array(coverage, "coverage")
    if len(fold_labels) != cov.size:
        raise ValueError(f"{len(fold_labels)} labels for {cov.size} coverage values")
    fig = figure(width=max(5.5, 0.5 * cov.size + 2.0), height=4.5)
    ax = fig.add_subplot()
    positions = np.arange(cov.size)
    ax.bar(positions, cov, color=_BLUE, alpha=0.8)
    ax.axhline(nominal, color="black", lw=1.2, ls="--", label=f"nominal {nominal:.0%}")
    ax.set_xticks(positions, [str(s) for s in fold_labels],
                  rotation=45 if cov.size > 6 else 0,
                  ha="right" if cov.size > 6 else "center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Empirical coverage (fraction)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def permutation_importance_plot(importances_mean: Any, importances_std: Any,
                                feature_names: Sequence[str], top: int = 20,
                                title: str = "Permutation feature importance",
                                score_label: str = "Decrease in score") -> Figure:
    """Horizontal bars (± sd) of the ``top`` features by mean permutation importance.
    ``score_label`` should carry the unit of the score (e.g. "Increase in MAE (V)")."""
    mean = _array(importances_mean, "importances_mean")
    std = _array(importances_std, "importances_std")
    names = [str(n) for n in feature_names]
    _same_length(importances_mean=mean, importances_std=std, feature_names=np.asarray(names))
    key = np.where(np.isfinite(mean), mean, -np.inf)
    order = np.argsort(-key, kind="stable")[: max(1, top)][::-1]
    fig = figure(width=7.0, height=max(3.0, 0.3 * len(order) + 1.5))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(order)), mean[order], xerr=np.nan_to_num(std[order]), color=_BLUE,
            alpha=0.8, ecolor="0.3", capsize=2)
    ax.set_yticks(np.arange(len(order)), [names[i] for i in order], fontsize=7)
    ax.axvline(0.0, color=_GREY, lw=1)
    ax.set_xlabel(score_label)
    ax.set_ylabel("Feature")
    ax.set_title(title)
    return fig


def _curve_xy(times: Any, curve: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(curve, "x") and hasattr(curve, "y"):  # sksurv StepFunction
        x = np.asarray(curve.x, dtype=float)
        if times is not None:
            t = np.asarray(times, dtype=float)
            t = t[(t >= x.min()) & (t <= x.max())]
            return t, np.asarray(curve(t), dtype=float)
        return x, np.asarray(curve.y, dtype=float)
    return np.asarray(times, dtype=float).ravel(), np.asarray(curve, dtype=float).ravel()


def survival_plot(times: Any, survival_curves: Any, labels: Sequence[str] | None = None,
                  title: str = "Predicted cycle life", unit: str = "h",
                  t_marker: float | None = None) -> Figure:
    """Survival curves P(life > t) as steps. ``survival_curves``: a (curves × times) array,
    a list of arrays on the shared ``times``, or sksurv StepFunctions (``times`` may then be
    None). ``t_marker`` draws a vertical line (e.g. the t of P(life > t))."""
    curves = list(survival_curves) if not isinstance(survival_curves, np.ndarray) \
        or survival_curves.ndim > 1 else [survival_curves]
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"{len(labels)} labels for {len(curves)} curves")
    fig = figure(width=6.0, height=4.5)
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        x, y = _curve_xy(times, curve)
        if x.size != y.size:
            raise ValueError(f"curve {i}: {y.size} values for {x.size} times")
        ax.step(x, y, where="post", lw=1.5,
                label=None if labels is None else str(labels[i]))
    ax.axhline(0.5, color=_GREY, lw=0.8, ls=":")
    if t_marker is not None:
        ax.axvline(t_marker, color="black", lw=1, ls="--", label=f"t = {t_marker:g} {unit}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"Cycling time t ({unit})")
    ax.set_ylabel("Survival probability P(life > t)")
    ax.set_title(title)
    if labels is not None or t_marker is not None:
        ax.legend(loc="best", fontsize=8)
    return fig


def _axis_label(spec) -> str:
    unit = f" ({spec.unit})" if spec.unit else ""
    return f"predicted {spec.label}{unit}"


def _finite(frame, columns) -> Any:
    import pandas as pd

    if frame is None or frame.empty or not set(columns) <= set(frame.columns):
        return None
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    return frame[np.isfinite(values.to_numpy(float)).all(axis=1)]


def objective_scatter(points, specs: Sequence[Any], title: str = "", *, label: str = "",
                      ring=None, ring_label: str = "", background=None,
                      background_label: str = "", width: float = 6.5,
                      height: float = 5.0) -> tuple[Figure, Any]:
    r"""Two objectives against each other (``specs[0]`` on x, ``specs[1]`` on y, a third
    colouring the points if given; registry :class:`~screen.learn.registry.Objective`\ s):
    ``points`` as dots, ``background`` as grey crosses, ``ring`` ringed in black. A
    log-scaled objective gets a log axis when its values are positive. Returns (figure, axes)
    so that callers can draw more on top."""
    fig = figure(width, height)
    ax = fig.add_subplot()
    if len(specs) < 2:
        _no_data(ax, "needs two objectives")
        return fig, ax
    x, y = specs[0], specs[1]
    color = specs[2] if len(specs) > 2 else None
    cols = [x.column(), y.column()]
    shown = _finite(points, cols)
    if shown is None or shown.empty:
        _no_data(ax, "no evaluated candidates")
        return fig, ax
    back = _finite(background, cols)
    if back is not None and not back.empty:
        ax.scatter(back[cols[0]].astype(float), back[cols[1]].astype(float), marker="x",
                   s=16, color="0.7", label=background_label)
    use_color = color is not None and color.column() in shown
    size = 22 if len(shown) < 2000 else 5
    values = shown[color.column()].astype(float) if use_color else _BLUE
    dots = ax.scatter(shown[cols[0]].astype(float), shown[cols[1]].astype(float), c=values,
                      cmap="viridis_r" if use_color else None, s=size, alpha=0.8,
                      linewidths=0, label=label)
    if use_color:
        fig.colorbar(dots, ax=ax, label=_axis_label(color))
    ringed = _finite(ring, cols)
    if ringed is not None and not ringed.empty:
        ax.scatter(ringed[cols[0]].astype(float), ringed[cols[1]].astype(float), s=70,
                   facecolors="none", edgecolors="black", linewidths=1.2, label=ring_label)
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(_axis_label(y))
    for spec, column, setter in ((x, cols[0], ax.set_xscale), (y, cols[1], ax.set_yscale)):
        data = shown[column].to_numpy(float)
        if spec.scale == "log" and np.all(data > 0):
            setter("log")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig, ax
