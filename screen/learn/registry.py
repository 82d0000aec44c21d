"""The target registry: every quantity mgscreen learns, and every ranking objective, declared once.

A **target** (:class:`Target`) is one module under :mod:`screen.learn.targets` (or any module
that calls :func:`register_target`): its name, the data columns it learns from and their unit,
its primary metric and direction, the model families and baselines it cross-validates (its
:class:`~screen.learn.cv.Task`), how a fitted model turns features into prediction columns, its
diagnostics, its ranking objective(s) and its report labels. Nothing else in mgscreen branches
on a target's name: training, tuning, prediction, ranking, design, reports and the CLI iterate
:func:`targets` and ask the entry.

An **objective** (:class:`Objective`) is one column of predictions turned into a score in
[0, 1] for ranking (see :mod:`screen.screening.ranking`). A target declares its objective(s);
objectives that are not a model's main prediction (an interval width, a cost) register with
:func:`register_objective` in the same table and derive their column from other predictions.

Built-in targets are found by importing every module of :mod:`screen.learn.targets`, so adding a
target is adding one module there (plus ``experiments/<name>.toml`` and its tests).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Bound = Literal["point", "optimistic", "pessimistic"]
BOUNDS: tuple[Bound, ...] = ("point", "optimistic", "pessimistic")
Scale = Literal["linear", "log"]


@dataclass(frozen=True)
class Objective:
    """One ranking objective.

    ``columns`` maps each bound to the prediction column it reads (``optimistic`` is the
    favourable end of the prediction's uncertainty, ``pessimistic`` the unfavourable end).
    ``anchors`` = (best, worst) in ``unit``: the desirability is 1 at ``best`` and 0 at
    ``worst``, linear between them, or linear in log(value) for ``scale='log'``.
    ``target`` names the model whose predictions it needs (None: derived from other columns by
    ``derive``, which returns the frame with the objective's columns added).
    ``label``/``short``/``unit``/``decimals`` are how reports and tables show it.
    ``interval_level``: the probability that a measured value falls between the
    ``optimistic`` and ``pessimistic`` columns (0.9 for a 90 % interval, 0.5 for quartiles);
    None when the bounds carry no stated coverage (``suggest`` then treats the point as exact).
    """

    name: str
    label: str
    unit: str
    columns: Mapping[str, str]
    maximize: bool = False
    anchors: tuple[float, float] = (0.0, 1.0)
    scale: Scale = "linear"
    target: str | None = None
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    short: str = ""
    decimals: int = 3
    default_weight: float = 1.0
    interval_level: float | None = None

    def column(self, bound: str = "point") -> str:
        """The prediction column read for ``bound``."""
        return self.columns.get(bound, self.columns["point"])

    def check_anchors(self, pair: tuple[float, float]) -> None:
        """ValueError naming the objective when ``pair`` cannot anchor it."""
        if len(pair) != 2 or pair[0] == pair[1] or not all(map(math.isfinite, pair)):
            raise ValueError(f"anchors {self.name}={pair!r}: expected (best, worst), distinct "
                             "and finite")
        if self.scale == "log" and min(pair) <= 0:
            raise ValueError(f"anchors {self.name}={pair!r}: a log-scaled objective needs "
                             f"values > 0 {self.unit}")

    def score(self, values: np.ndarray, anchors: tuple[float, float] | None = None
              ) -> np.ndarray:
        """Desirability in [0, 1] of ``values`` (NaN stays NaN; not clipped)."""
        best, worst = anchors or self.anchors
        x = np.asarray(values, dtype=float)
        if self.scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(np.maximum(x, 1e-12) / worst) / math.log(best / worst)
        return (worst - x) / (worst - best)

    def span(self, anchors: tuple[float, float] | None = None) -> float:
        """A scale of the objective's values, used to make tie-break sums unit-free."""
        best, worst = anchors or self.anchors
        return max(abs(best), abs(worst)) if self.scale == "log" else abs(best - worst)

    def text(self, value: float) -> str:
        """``value`` with its unit, as tables show it."""
        if value is None or not math.isfinite(float(value)):
            return "—"
        unit = f" {self.unit}" if self.unit else ""
        return f"{float(value):.{self.decimals}f}{unit}"

    @property
    def has_interval(self) -> bool:
        """Whether the optimistic/pessimistic bounds are columns of their own."""
        point = self.columns["point"]
        return any(self.columns.get(b, point) != point for b in ("optimistic", "pessimistic"))

    def header(self) -> str:
        """Column header of a table showing this objective ("overpotential (V) [interval]")."""
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.short or self.label}{unit}" + (" [interval]" if self.has_interval
                                                      and not self.maximize else "")

    def cell(self, row: Mapping[str, Any]) -> str:
        """One table cell: the point value ("> " if it is a lower bound), with the interval
        for objectives that have one and are minimized."""
        def number(column: str) -> float:
            value = row.get(column)
            try:
                return float(value)
            except (TypeError, ValueError):
                return math.nan

        point = number(self.columns["point"])
        if not math.isfinite(point):
            return "-"
        lower = self.columns.get("lower_bound")
        prefix = "> " if lower is not None and bool(row.get(lower, False)) else ""
        text = f"{prefix}{point:.{self.decimals}f}"
        if self.has_interval and not self.maximize:
            low, high = number(self.column("optimistic")), number(self.column("pessimistic"))
            text += f" [{low:.{self.decimals}f}, {high:.{self.decimals}f}]"
        return text


@dataclass(frozen=True)
class Measured:
    """How a report compares a target's predictions with the measured data set: the measured
    values on the scale of the main prediction (NaN where not measured), which of them are
    lower bounds, and optionally a label per row (colours in figures; counted instead of
    ranged when ``categorical``)."""

    values: np.ndarray
    lower_bound: np.ndarray
    groups: np.ndarray | None = None
    categorical: bool = False


class Target:
    """One learned quantity (see the module docstring). Subclasses set the class attributes
    and implement the methods that raise ``NotImplementedError``.

    Class attributes
    ----------------
    name : registry key and MLflow experiment suffix (``mgscreen-<name>``).
    label, unit : how people read it ("overpotential", "V").
    label_columns : the ``interfaces.csv`` columns it learns from.
    primary_metric, higher_is_better : what decides the champion (pooled out-of-fold, on the
        config's primary CV scheme).
    report_metrics : further metrics the accuracy benchmark and the closing tables show.
    config_tables : extra config keys, ``{table: {key: type}}`` (merged into the common ones).
    skops_trusted_types : types its saved model contains beyond the shared ones.
    objectives : its ranking objective(s); () if it does not take part in ranking.
    effect : how an explanation compares two predictions: ``difference`` (a − b) or ``ratio``.
    prediction_conditions : feature columns the prediction frame sets for every system (e.g.
        the overpotential kind asked about).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    unit: ClassVar[str] = ""
    label_columns: ClassVar[tuple[str, ...]] = ()
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool]
    report_metrics: ClassVar[tuple[str, ...]] = ()
    config_tables: ClassVar[dict[str, dict[str, Any]]] = {}
    skops_trusted_types: ClassVar[tuple[str, ...]] = ()
    objectives: ClassVar[tuple[Objective, ...]] = ()
    effect: ClassVar[Literal["difference", "ratio"]] = "difference"
    effect_decimals: ClassVar[int] = 3
    prediction_conditions: ClassVar[dict[str, float]] = {}

    # ------------------------------------------------------------------ training
    def task(self, config: dict):
        """The :class:`~screen.learn.cv.Task` (model and baselines) of this target."""
        raise NotImplementedError

    def select(self, frame: pd.DataFrame, config: dict) -> tuple[np.ndarray, Any]:
        """(boolean mask of the typed interface rows this target trains on, y of those rows).
        Raise ValueError naming the config key when the config asks for something invalid."""
        raise NotImplementedError

    def extra_features(self, rows: pd.DataFrame, config: dict) -> pd.DataFrame | None:
        """Feature columns that come from the row itself rather than the system featurizer
        (e.g. a one-hot of the overpotential kind); None for none."""
        return None

    def final_estimator(self, config: dict, seed: int):
        """The unfitted estimator deployed for this target."""
        return self.task(config).make("model")

    def model_settings(self, config: dict) -> dict[str, Any]:
        """Settings the deployed model keeps for prediction (e.g. a unit or a horizon)."""
        return {}

    # ------------------------------------------------------------------ prediction
    def main_prediction(self, estimator, X: pd.DataFrame, settings: Mapping[str, Any]
                        ) -> np.ndarray:
        """One number per row: what "the prediction" means (explanations, signatures)."""
        return np.asarray(estimator.predict(X), dtype=float)

    def predict_table(self, estimator, X: pd.DataFrame, settings: Mapping[str, Any]
                      ) -> pd.DataFrame:
        """Every prediction column of this target (same index as ``X``)."""
        return pd.DataFrame({f"{self.name}_pred": self.main_prediction(estimator, X, settings)},
                            index=X.index)

    def resolved_objectives(self, settings: Mapping[str, Any]) -> tuple[Objective, ...]:
        """This target's objectives for a model with these settings (columns that depend on a
        configured unit are resolved here)."""
        return self.objectives

    # ------------------------------------------------------------------ reporting
    def diagnostics(self, td, results: list, model, config: dict) -> dict[str, Figure]:
        """Figures of a training run ({file name: figure}), besides the shared ones. ``td``:
        the :class:`~screen.learn.modeling_data.TargetData`; ``results``: the
        :class:`~screen.learn.cv.CVResult` of every scheme and candidate."""
        return {}

    def oof_errors(self, td, outputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Absolute out-of-fold error per training row on the model's own scale (calibrates
        the applicability domain); None where a target has no per-row error."""
        if "pred" not in outputs:
            return None
        return np.abs(np.asarray(outputs["pred"], dtype=float) - np.asarray(td.y, dtype=float))

    def importance_scoring(self):
        """scikit-learn ``scoring`` (name or callable) for permutation importance; None uses
        the estimator's own ``score``."""
        return None

    def measured(self, frame: pd.DataFrame, settings: Mapping[str, Any]) -> Measured:
        """Measured values of the data set on the scale of the main prediction."""
        values = pd.to_numeric(frame[self.label_columns[0]], errors="coerce")
        return Measured(values.to_numpy(float), np.zeros(len(frame), dtype=bool))

    def report_extras(self, frame: pd.DataFrame) -> list[tuple[str, str]]:
        """Further prediction columns a ranked table shows: (header text, column)."""
        return []

    def describe_measured(self, row: Mapping[str, Any]) -> str | None:
        """A short text of what was measured on one data-set row ("η 0.1 V polarization"),
        or None if this target was not measured there."""
        column = self.label_columns[0]
        value = row.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)) \
                or value is pd.NA:
            return None
        return f"{self.label} {value:g} {self.unit}".strip()

    def effect_text(self, block: str, value: float) -> str:
        """One explanation item, e.g. ``coating -0.080 V`` or ``solvent ×2.1``."""
        if self.effect == "ratio":
            return f"{block} ×{value:.2g}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{block} {value:+.{self.effect_decimals}f}{unit}"

    @property
    def short(self) -> str:
        """Short label used in explanation texts."""
        return self.objectives[0].short if self.objectives and self.objectives[0].short \
            else self.name


# ----------------------------------------------------------------------------- the table
_TARGETS: dict[str, Target] = {}
_OBJECTIVES: dict[str, Objective] = {}
_LOCK = threading.RLock()
_LOADED = False
BUILTIN_PACKAGE = "screen.learn.targets"


class UnknownTarget(KeyError):
    """A target or objective name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_target(target: Target | type[Target]) -> Target:
    """Add a target (an instance, or a class that is instantiated) and its objectives; a name
    registered twice by different classes raises ValueError. Returns the instance."""
    instance = target() if isinstance(target, type) else target
    with _LOCK:
        old = _TARGETS.get(instance.name)
        if old is not None and type(old) is not type(instance):
            raise ValueError(f"target {instance.name!r} is already registered by "
                             f"{type(old).__module__}.{type(old).__name__}")
        _TARGETS[instance.name] = instance
        for objective in instance.objectives:
            _OBJECTIVES[objective.name] = replace(objective, target=instance.name)
    return instance


def register_objective(objective: Objective) -> Objective:
    """Add an objective that is not a target's own (it needs ``derive`` or a ``target``)."""
    if objective.target is None and objective.derive is None:
        raise ValueError(f"objective {objective.name!r} needs a target or a derive function")
    with _LOCK:
        _OBJECTIVES[objective.name] = objective
    return objective


def unregister(name: str) -> None:
    """Remove a target and its objectives (tests that add toy targets clean up with this)."""
    with _LOCK:
        _TARGETS.pop(name, None)
        for key in [k for k, o in _OBJECTIVES.items() if o.target == name or k == name]:
            _OBJECTIVES.pop(key, None)


def _load_builtins() -> None:
    global _LOADED
    with _LOCK:
        if _LOADED:
            return
        _LOADED = True
        package = importlib.import_module(BUILTIN_PACKAGE)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")


def targets() -> dict[str, Target]:
    """Every registered target, built-in ones first in their declared order."""
    _load_builtins()
    with _LOCK:
        return dict(sorted(_TARGETS.items(), key=lambda kv: _order(kv[1])))


def _order(target: Target) -> tuple[int, str]:
    return (getattr(target, "order", 100), target.name)


def target_names() -> tuple[str, ...]:
    """Names of every registered target, in order."""
    return tuple(targets())


def get_target(name: str) -> Target:
    """The target called ``name`` (UnknownTarget lists the registered ones)."""
    known = targets()
    if name not in known:
        raise UnknownTarget(f"unknown target {name!r}; registered: {', '.join(known)}")
    return known[name]


def objectives() -> dict[str, Objective]:
    """Every registered objective, in target order (derived objectives last)."""
    order = {name: i for i, name in enumerate(targets())}
    with _LOCK:
        items = list(_OBJECTIVES.items())
    return dict(sorted(items, key=lambda kv: (order.get(kv[1].target, len(order)),
                                              kv[1].derive is not None, kv[0])))


def get_objective(name: str) -> Objective:
    """The objective called ``name`` (UnknownTarget lists the registered ones)."""
    known = objectives()
    if name not in known:
        raise UnknownTarget(f"unknown objective {name!r}; registered: {', '.join(known)}")
    return known[name]


def resolve_objectives(models: Mapping[str, Any]) -> dict[str, Objective]:
    """Objectives as the loaded ``models`` define them (e.g. cycle-life columns in the unit the
    model was trained in); objectives of targets without a model keep their declaration."""
    out = dict(objectives())
    for name, model in models.items():
        target = get_target(name)
        settings = getattr(model, "settings", None) or {}
        for objective in target.resolved_objectives(settings):
            out[objective.name] = replace(objective, target=name)
    return out


