"""Ranking logic for ``mgscreen rank``: objectives, Pareto layers, desirability, and the exact
streaming top-K reduction that both engines (local and Dask) use.

Objectives come from the target registry (:mod:`screen.learn.registry`: each target declares
its own; derived ones such as an interval width register there too). All are turned into
"smaller is better" here. The built-in ones:

============  ============================  ===========================  ======================
objective     point (``bound='point'``)     ``'optimistic'``             ``'pessimistic'``
============  ============================  ===========================  ======================
overpotential ``overpotential_V_pred``      ``overpotential_V_low``      ``overpotential_V_high``
cycle life    ``cycle_life_h_pred`` (median) ``cycle_life_h_high`` (Q75)  ``cycle_life_h_low`` (Q25)
passivation   ``p_passivating``             ``p_passivating``            ``p_passivating``
============  ============================  ===========================  ======================

Overpotential, Coulombic-efficiency and demonstrated-cycling bounds are 90 % conformal (CV+)
intervals; in the survival mode, cycle-life bounds are the lower/upper quartile of the predicted
survival curve (the lives by which 25 % / 75 % of cells have failed); ``p_passivating`` is
already a probability and has no bound. ``optimistic`` ranks for
exploration, ``pessimistic`` for safety.

**Desirability** (Derringer–Suich): each objective is mapped to ``d`` in [0, 1] between two
anchors and the score is the weighted geometric mean ``D = exp(Σ w·ln d / Σ w)``
(``d`` floored at 1e-6 so one poor objective lowers D without zeroing it):

- overpotential: ``d = (worst − η) / (worst − best)``, linear in V, clipped;
- Coulombic efficiency: ``d = (CE − worst) / (best − worst)``, linear in %, clipped;
- cycle life: ``d = ln(t / worst) / ln(best / worst)``, logarithmic in h, clipped;
- passivation: ``d = 1 − p_passivating``.

A larger weight makes an objective count more; weight 0 ignores it in ``D``.

**Pareto layer** (non-dominated sorting): layer 1 holds the candidates no other candidate beats
on every objective; layer 2 those only layer-1 candidates beat, and so on. Layers are computed
exactly up to ``layers``; deeper candidates get ``layers + 1``.

**Uncertainty of D.** ``desirability_low`` / ``desirability_high`` are D with every objective
at the unfavourable / favourable end of its interval (conformal intervals, quartiles); a ranked
candidate whose ``desirability_high`` reaches the first candidate's ``desirability_low`` cannot
be told apart from it (``tied_with_top``): its rank differs from the top's by less than the
models can resolve.

**Order.** Out-of-domain candidates come after in-domain ones (``domain_last``), candidates
without a prediction come last. Within that, ``order='pareto'`` sorts by layer, then by ``D``;
``order='desirability'`` by ``D``. Ties are broken by the sum of the objectives scaled by their
anchor spans, then by the objectives in turn, then by ``candidate_id`` — all monotone in every
objective, so a candidate dominated on all objectives never ranks above its dominator (inside
one domain group).

**Streaming reduction** (:func:`reduce_partition` + :func:`merge_partials`): each partition
keeps its candidates of local layer ≤ ``layers`` plus its top-K by each order; the global layers
are recomputed on the union of the kept rows. Both steps are exact: a candidate's layer in a
subset is never higher than in the whole set, and every chain of dominators of a layer-≤L
candidate is kept, so the union gives the true layers up to L and the true top-K.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from screen.learn.registry import BOUNDS, Objective, objectives, resolve_objectives

Bound = Literal["point", "optimistic", "pessimistic"]
Order = Literal["pareto", "desirability"]
ORDERS = ("pareto", "desirability")
D_FLOOR = 1e-6
#: domain groups in rank order
IN_DOMAIN, OUT_OF_DOMAIN, UNPREDICTED = 0, 1, 2


def target_objectives() -> tuple[str, ...]:
    """Names of the objectives that are a target's own prediction (the default set)."""
    return tuple(name for name, o in objectives().items() if o.derive is None)


def _default_weights() -> dict[str, float]:
    return {name: o.default_weight for name, o in objectives().items()}


@dataclass(frozen=True)
class RankSettings:
    """How to rank (see the module docstring).

    ``objectives``: names of registered objectives (:mod:`screen.learn.registry`); None means
    every target objective (restricted to the targets with a loaded model by
    :meth:`for_models`). ``anchors``: (best, worst) per objective, overriding the registered
    ones. ``specs``: the objectives as the loaded models define them (filled by
    :meth:`for_models`; the registered declarations otherwise).
    """

    top: int = 100
    order: Order = "pareto"
    bound: Bound = "point"
    weights: Mapping[str, float] = field(default_factory=_default_weights)
    anchors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    layers: int = 5
    domain_last: bool = True
    objectives: tuple[str, ...] | None = None
    specs: Mapping[str, Objective] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def names(self) -> tuple[str, ...]:
        """The objectives ranked on, in order."""
        return self.objectives if self.objectives is not None else target_objectives()

    def spec(self, name: str) -> Objective:
        """The definition of objective ``name``."""
        return self.specs.get(name) or objectives()[name]

    def anchor(self, name: str) -> tuple[float, float]:
        """(best, worst) of objective ``name``."""
        return tuple(self.anchors.get(name) or self.spec(name).anchors)  # type: ignore[return-value]

    def with_overrides(self, **values: Any) -> RankSettings:
        """Copy with the non-None values replaced (flags over the file)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def for_models(self, models: Mapping[str, Any]) -> RankSettings:
        """These settings for the loaded ``models``: objective definitions as the models give
        them; the default objective set is restricted to the targets with a model."""
        specs = resolve_objectives(models)
        names = self.objectives
        if names is None:
            names = tuple(n for n in target_objectives() if specs[n].target in models)
        return replace(self, objectives=names, specs=specs)

    def columns(self) -> dict[str, str]:
        """objective -> prediction column for the chosen bound."""
        return {o: self.spec(o).column(self.bound) for o in self.names}


def check_settings(s: RankSettings) -> None:
    """Raise ValueError naming the bad setting and what is accepted."""
    known = {**objectives(), **s.specs}
    if s.order not in ORDERS:
        raise ValueError(f"order {s.order!r}; accepted: {', '.join(ORDERS)}")
    if s.bound not in BOUNDS:
        raise ValueError(f"bound {s.bound!r}; accepted: {', '.join(BOUNDS)}")
    if not isinstance(s.top, int) or s.top < 1:
        raise ValueError(f"top {s.top!r}: must be an integer >= 1")
    if not isinstance(s.layers, int) or s.layers < 1:
        raise ValueError(f"layers {s.layers!r}: must be an integer >= 1")
    if not s.names or any(o not in known for o in s.names):
        raise ValueError(f"objectives {list(s.names)}; accepted: subset of "
                         f"{', '.join(known)}")
    for name, w in s.weights.items():
        if name not in known:
            raise ValueError(f"weight for unknown objective {name!r}; accepted: "
                             f"{', '.join(known)}")
        if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
            raise ValueError(f"weight {name}={w!r}: must be a finite number >= 0")
    if sum(float(s.weights.get(o, 0.0)) for o in s.names) <= 0:
        raise ValueError("at least one objective needs a weight > 0")
    for name, pair in s.anchors.items():
        if name not in known:
            raise ValueError(f"anchors for unknown objective {name!r}; accepted: "
                             f"{', '.join(known)}")
        known[name].check_anchors(tuple(pair))


def parse_weights(text: str) -> dict[str, float]:
    """``'overpotential=2,cycle_life=1,passivation=0.5'`` → dict over every registered
    objective (unlisted ones get 0; the text must list at least one)."""
    known = objectives()
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise ValueError(f"--weights item {part!r}: expected NAME=NUMBER with NAME in "
                             f"{', '.join(known)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"--weights item {part!r}: {value.strip()!r} is not a "
                             "number") from None
    if not out:
        raise ValueError(f"--weights {text!r}: no NAME=NUMBER items")
    return {o: out.get(o, 0.0) for o in known}


# ----------------------------------------------------------------------------- objectives
def with_derived(frame: pd.DataFrame, settings: RankSettings) -> pd.DataFrame:
    """``frame`` with the columns of derived objectives (interval width, cost ...) added."""
    for name in settings.names:
        spec = settings.spec(name)
        if spec.derive is not None and spec.column(settings.bound) not in frame.columns:
            frame = spec.derive(frame)
    return frame


def minimization_matrix(frame: pd.DataFrame, specs, bound: str = "point") -> np.ndarray:
    """(n, len(specs)) float64 of the objectives' columns for ``bound``, maximized ones
    negated so that smaller is better everywhere; NaN where a prediction is missing."""
    cols = []
    for spec in specs:
        column = spec.column(bound)
        if column not in frame.columns:
            raise KeyError(f"prediction column {column!r} (objective {spec.name}, bound "
                           f"{bound}) is missing; is the {spec.target or spec.name} model "
                           "loaded?")
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        cols.append(-values if spec.maximize else values)
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


def objective_matrix(frame: pd.DataFrame, settings: RankSettings) -> np.ndarray:
    """(n, n_objectives) float64, smaller is better; NaN where a prediction is missing."""
    return minimization_matrix(frame, [settings.spec(n) for n in settings.names],
                               settings.bound)


def desirability(frame: pd.DataFrame, settings: RankSettings) -> np.ndarray:
    """Weighted geometric-mean desirability in [0, 1] per row (NaN if a used objective is
    missing); see the module docstring for the per-objective maps."""
    total = np.zeros(len(frame))
    weight_sum = 0.0
    for name, column in settings.columns().items():
        w = float(settings.weights.get(name, 0.0))
        if w == 0:
            continue
        x = frame[column].to_numpy(dtype=float, na_value=np.nan)
        d = np.clip(settings.spec(name).score(x, settings.anchor(name)), D_FLOOR, 1.0)
        total += w * np.log(d)
        weight_sum += w
    return np.exp(total / weight_sum)


def _bounded_desirability(frame: pd.DataFrame, settings: RankSettings,
                          bound: str) -> np.ndarray:
    """D with every objective at the given end of its uncertainty (NaN where missing)."""
    bounded = replace(settings, bound=bound)
    if any(c not in frame.columns for c in bounded.columns().values()):
        return np.full(len(frame), np.nan)
    return desirability(frame, bounded)


def tie_score(F: np.ndarray, settings: RankSettings) -> np.ndarray:
    """Sum of the objectives scaled by their anchor spans: strictly monotone in each."""
    spans = np.array([settings.spec(o).span(settings.anchor(o)) for o in settings.names],
                     dtype=float)
    return (F / spans).sum(axis=1)


def domain_group(frame: pd.DataFrame, F: np.ndarray, settings: RankSettings) -> np.ndarray:
    """0 in domain, 1 out of domain (only with ``domain_last``), 2 without a prediction."""
    group = np.zeros(len(frame), dtype=np.int8)
    if settings.domain_last and "in_domain" in frame.columns:
        group[~frame["in_domain"].to_numpy(dtype=bool)] = OUT_OF_DOMAIN
    group[~np.isfinite(F).all(axis=1)] = UNPREDICTED
    return group


# ----------------------------------------------------------------------------- Pareto layers
def _front_of_unique_sorted(F: np.ndarray) -> np.ndarray:
    """Non-dominated mask of distinct rows sorted lexicographically (minimization).

    The first remaining row is always non-dominated; every row it dominates is dropped, and
    the loop repeats on what is left. Cost O(n × front size), vectorized per front point.
    """
    n = len(F)
    on_front = np.zeros(n, dtype=bool)
    remaining = np.arange(n)
    values = F
    while len(remaining):
        on_front[remaining[0]] = True
        keep = np.any(values < values[0], axis=1)  # not dominated by (and not equal to) top
        remaining, values = remaining[keep], values[keep]
    return on_front


def pareto_layers(F: np.ndarray, max_layer: int) -> np.ndarray:
    """Layer (1 = non-dominated) of each row of ``F`` (minimization, finite), exact up to
    ``max_layer``; deeper rows get ``max_layer + 1``. Equal rows share a layer."""
    n = len(F)
    layers = np.full(n, max_layer + 1, dtype=np.int32)
    if n == 0:
        return layers
    unique, inverse = np.unique(F, axis=0, return_inverse=True)  # lexicographically sorted
    inverse = inverse.reshape(-1)
    unique_layers = np.full(len(unique), max_layer + 1, dtype=np.int32)
    left = np.arange(len(unique))
    for layer in range(1, max_layer + 1):
        if not len(left):
            break
        front = _front_of_unique_sorted(unique[left])
        unique_layers[left[front]] = layer
        left = left[~front]
    layers[:] = unique_layers[inverse]
    return layers


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (minimization)."""
    return bool(np.all(a <= b) and np.any(a < b))


# ----------------------------------------------------------------------------- ordering
def score_frame(frame: pd.DataFrame, settings: RankSettings) -> pd.DataFrame:
    """``frame`` with the ranking columns added: ``domain_group``, ``desirability``,
    ``tie_score`` and the objective columns ``obj_<name>`` (smaller is better; +inf where
    missing, so unpredicted rows sort last)."""
    frame = with_derived(frame, settings)
    F = objective_matrix(frame, settings)
    out = frame.copy()
    out["domain_group"] = domain_group(frame, F, settings)
    F = np.where(np.isfinite(F), F, np.inf)
    D = desirability(frame, settings)
    out["desirability"] = np.where(np.isfinite(D), D, 0.0)
    for column, bound in (("desirability_low", "pessimistic"), ("desirability_high",
                                                                 "optimistic")):
        out[column] = _bounded_desirability(frame, settings, bound)
    out["tie_score"] = np.nan_to_num(tie_score(F, settings), nan=np.inf, posinf=np.inf)
    for i, name in enumerate(settings.names):
        out[f"obj_{name}"] = F[:, i]
    return out


def _objective_names(settings: RankSettings) -> list[str]:
    return [f"obj_{o}" for o in settings.names]


def with_layers(scored: pd.DataFrame, settings: RankSettings) -> pd.DataFrame:
    """Add ``pareto_layer`` computed within each domain group (capped at ``layers + 1``;
    unpredicted rows get ``layers + 1``)."""
    out = scored.copy()
    layer = np.full(len(out), settings.layers + 1, dtype=np.int32)
    groups = out["domain_group"].to_numpy()
    F = out[_objective_names(settings)].to_numpy(float)
    for g in (IN_DOMAIN, OUT_OF_DOMAIN):
        rows = np.flatnonzero(groups == g)
        if len(rows):
            layer[rows] = pareto_layers(F[rows], settings.layers)
    out["pareto_layer"] = layer
    return out


def sort_keys(settings: RankSettings, order: Order | None = None) -> list[tuple[str, bool]]:
    """(column, ascending) pairs of the rank order."""
    order = order or settings.order
    ties = [("tie_score", True), *[(c, True) for c in _objective_names(settings)],
            ("candidate_id", True)]
    if order == "pareto":
        return [("domain_group", True), ("pareto_layer", True), ("desirability", False), *ties]
    return [("domain_group", True), ("desirability", False), *ties]


def rank_order(frame: pd.DataFrame, settings: RankSettings,
               order: Order | None = None) -> np.ndarray:
    """Positions of ``frame``'s rows in rank order (deterministic; ``np.lexsort``)."""
    keys = sort_keys(settings, order)
    columns = []
    for column, ascending in reversed(keys):  # lexsort: last key is the primary one
        values = frame[column].to_numpy()
        columns.append(values if ascending else -values.astype(float))
    return np.lexsort(columns)


def sort_ranked(frame: pd.DataFrame, settings: RankSettings,
                order: Order | None = None) -> pd.DataFrame:
    """Rows in rank order."""
    return frame.iloc[rank_order(frame, settings, order)]


def reduce_partition(predicted: pd.DataFrame, settings: RankSettings) -> pd.DataFrame:
    """The rows of one partition that can appear in the global top-K or in layers ≤ L:
    its local layers ≤ L plus its top-K per domain group in the desirability order.

    That covers the pareto order too: beyond layer L it *is* the desirability order, and a
    row's local layer is never above its global one.
    """
    scored = with_layers(score_frame(predicted, settings), settings)
    keep = scored["pareto_layer"].to_numpy() <= settings.layers
    order = rank_order(scored, settings, "desirability")
    groups = scored["domain_group"].to_numpy()[order]
    for g in np.unique(groups):
        keep[order[groups == g][:settings.top]] = True
    return scored.iloc[np.flatnonzero(keep)].drop(columns="pareto_layer")


def merge_partials(partials: list[pd.DataFrame], settings: RankSettings
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top-K in rank order with ``rank`` 1..K, every kept row with its exact layer).

    ``partials`` are outputs of :func:`reduce_partition`, in partition order.
    """
    frames = [p for p in partials if len(p)]
    if not frames:
        raise ValueError("no candidates to rank")
    kept = pd.concat(frames, ignore_index=True)
    kept = with_layers(kept, settings)
    ranked = sort_ranked(kept, settings).head(settings.top).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked["tied_with_top"] = tied_with_top(ranked)
    return ranked, kept


def tied_with_top(ranked: pd.DataFrame) -> np.ndarray:
    """Whether each ranked candidate cannot be told apart from the first one: its desirability
    at the favourable ends of its intervals reaches the first one's at the unfavourable ends
    (``desirability_high >= desirability_low`` of rank 1). Without intervals: equal D."""
    if ranked.empty:
        return np.zeros(0, dtype=bool)
    top_low = ranked["desirability_low"].iloc[0] if "desirability_low" in ranked else np.nan
    high = ranked["desirability_high"] if "desirability_high" in ranked else \
        pd.Series(np.nan, index=ranked.index)
    if not np.isfinite(top_low):
        top_low = ranked["desirability"].iloc[0]
    value = high.where(high.notna(), ranked["desirability"]).to_numpy(float)
    return value >= top_low
