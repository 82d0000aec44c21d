"""Which experiments to run next (``mgscreen suggest``): a batch of N candidates chosen for what
measuring them is expected to gain and to teach.

**Measured systems are never suggested.** A candidate whose system (metal, anion, salt
concentration, solvents and ratio, additive and its concentration, coating and thickness; the
component names as the library spells them, :func:`screen.data.systems.canonical_system_key`)
matches a measured row is dropped. A measured row with a blank concentration matches no
candidate: unknown is not equal.

**The best measured system.** Each measured system gets the desirability ``D`` of
:func:`screen.screening.ranking.desirability` (weighted geometric mean of per-objective scores
in [0, 1], the weights and anchors of the rank config) from its measured values: the median over
its rows (e.g. several current densities; every overpotential kind counts), taken on the scale
of the objective's point prediction (:meth:`~screen.learn.registry.Target.measured`). An
objective the system was not measured on counts at the typical measured value (the mean over
all measured rows on the objective's scale: arithmetic for linear, geometric for log-scaled
objectives, i.e. the mean score). ``D_best`` is the largest.

**Uncertainty.** Every registered objective has ``point`` / ``optimistic`` / ``pessimistic``
prediction columns and an ``interval_level``, the chance that a measurement falls between the
two bounds. Its score is modelled as a split normal around the score of the point, each side's
standard deviation being the distance to that bound's score divided by
``z = Φ⁻¹((1 + level) / 2)``; an objective without a level (or with equal bounds) is taken as
exact. For the built-in targets: overpotential, the CV+ conformal interval (level: the trained
``uncertainty.confidence``, 0.9); cycle life, the survival forest's quartiles (level 0.5, on
the log scale of its score); passivation, none (``p_passivating`` is itself a probability and
adds no spread). ``D`` is evaluated at ``draws`` joint draws of the objectives (a Latin
hypercube of normal quantiles with a fixed seed, the same for every candidate, so results are
deterministic); objectives are drawn independently.

**Acquisition** (all in units of ``D``)::

    expected_gain = E[max(D − D_best, 0)]
    learning      = sd(D) × min(domain_distance / THIN_CAP, 1)
    acquisition   = expected_gain + explore × learning

``expected_gain`` is the expected improvement over the best measured system. ``learning``
rewards measuring where the models are unsure *and* the data are thin: ``domain_distance`` is
the candidate's mean distance to its nearest training systems relative to a typical measured
system (:mod:`screen.learn.domain`; about 1 inside the data, larger outside); from
:data:`THIN_CAP` times the typical distance on, a candidate counts as fully thin.
``explore`` (``--explore``) weighs learning against gain; 0 (the default) is pure expected
improvement. Measured systems near the top make ``expected_gain`` small (often below 0.01)
while ``learning`` is of the order of the spread (0.1–0.4), so a few hundredths already let
learning lead.

**Diversity.** Every partition keeps its ``shortlist`` best candidates by acquisition; from the
merged shortlist the batch is picked greedily: each next pick maximizes
``acquisition × min(1, d / r)``, ``d`` being its distance to the nearest earlier pick in the
*formulation space* and ``r`` the diversity radius. The formulation space is the standardized
feature space of the measured data (:class:`screen.screening.explain.ReferenceSet`) restricted
to what the electrolyte and anode are made of: every feature block except the conditions
group (``system__*``: salt and additive concentration, coating thickness, metal ion, test
condition). Concentrations of one formulation are therefore at distance 0 of each other: once
one is picked, the others come only after every other shortlisted formulation. ``r`` defaults
to the median distance from a measured formulation to the nearest other one.

**Why.** Every pick carries its expected gain over ``D_best``, the objective whose uncertainty
weighs most (largest weighted score spread, with its interval), its domain distance, the block
reasons of :func:`screen.screening.explain.reasons` and its nearest measured systems
(:func:`screen.screening.explain.nearest_measured`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import ComponentLibrary
from screen.data.systems import KEY_NAME, canonical_system_key
from screen.learn.registry import get_target
from screen.screening.ranking import D_FLOOR, RankSettings, desirability, with_derived

#: ``domain_distance`` from which a candidate counts as fully thin (see the module doc).
THIN_CAP = 3.0
N_DRAWS = 64
#: 0: expected gain only (``benchmarks/active_learning.py``: exploring cost experiments there).
DEFAULT_EXPLORE = 0.0
#: Columns :func:`acquisition_table` adds.
#: Desirability differences below this are float rounding, not gain or spread.
ROUNDING = 1e-12
ACQUISITION_COLUMNS = ("desirability", "expected_gain", "spread", "learning", "acquisition",
                       "most_uncertain")
CHUNK_ROWS = 20_000  # rows scored at once (draws × objectives floats per row)


@dataclass(frozen=True)
class SuggestSettings:
    """How to choose a batch (see the module docstring). ``rank``: objectives, weights and
    anchors (the rank config); ``shortlist``: candidates kept per partition and for the
    diversity step (default ``max(20 × budget, 200)``); ``radius``: diversity radius in
    standardized feature units (default: from the measured systems)."""

    budget: int = 8
    explore: float = DEFAULT_EXPLORE
    shortlist: int | None = None
    radius: float | None = None
    draws: int = N_DRAWS
    seed: int = 0
    rank: RankSettings = field(default_factory=RankSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"budget {self.budget!r}: must be an integer >= 1")
        if not (isinstance(self.explore, int | float) and math.isfinite(self.explore)
                and self.explore >= 0):
            raise ValueError(f"explore {self.explore!r}: must be a finite number >= 0")
        if not isinstance(self.draws, int) or self.draws < 8:
            raise ValueError(f"draws {self.draws!r}: must be an integer >= 8")
        if self.shortlist is not None and self.shortlist < self.budget:
            raise ValueError(f"shortlist {self.shortlist!r}: must be >= the budget "
                             f"({self.budget})")
        if self.radius is not None and not (math.isfinite(self.radius) and self.radius >= 0):
            raise ValueError(f"radius {self.radius!r}: must be a finite number >= 0")

    @property
    def shortlist_size(self) -> int:
        """Candidates kept for the diversity step."""
        return self.shortlist or max(20 * self.budget, 200)

    def objective_names(self) -> list[str]:
        """The objectives with a weight > 0, in rank order."""
        return [o for o in self.rank.names if float(self.rank.weights.get(o, 0.0)) > 0]


# ----------------------------------------------------------------------------- measured
def typical_values(frame: pd.DataFrame, settings: RankSettings,
                   names: list[str]) -> dict[str, float]:
    """Per objective (by point column): the mean of the measured values on the objective's
    scale (geometric mean for log-scaled objectives), NaN if nothing is measured."""
    out = {}
    for name in names:
        spec = settings.spec(name)
        values = frame[spec.column("point")].to_numpy(float)
        values = values[np.isfinite(values)]
        if spec.scale == "log":
            values = np.log(values[values > 0])
            out[spec.column("point")] = float(np.exp(values.mean())) if values.size else math.nan
        else:
            out[spec.column("point")] = float(values.mean()) if values.size else math.nan
    return out


def measured_objectives(frame: pd.DataFrame, settings: RankSettings) -> list[str]:
    """The objectives (weight > 0) that a target measures (derived ones are never measured)."""
    return [o for o in settings.names if float(settings.weights.get(o, 0.0)) > 0
            and settings.spec(o).target is not None]


def measured_systems(frame: pd.DataFrame, settings: RankSettings,
                     library: ComponentLibrary | None = None,
                     typical: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per measured system (see the module docstring): ``system_key``, the system
    columns of its first row, ``n_rows``, the median measured value of each objective in its
    point column (NaN: not measured), ``n_measured`` (objectives measured) and
    ``desirability`` (unmeasured objectives at ``typical``, default :func:`typical_values`
    of these rows). Rows are in first-appearance order."""
    library = library or _library()
    names = measured_objectives(frame, settings)
    if not names:
        raise ValueError("no measured objective has a weight > 0; give one a weight")
    keys = canonical_system_key(frame, library)
    values = pd.DataFrame(index=frame.index)
    for name in names:
        spec = settings.spec(name)
        found = get_target(spec.target).measured(frame, {"unit": spec.unit})
        values[spec.column("point")] = found.values
    values[KEY_NAME] = keys.to_numpy()
    per_system = values.groupby(KEY_NAME, sort=False).median()
    first = frame.groupby(keys.to_numpy(), sort=False).head(1)
    systems = first.drop(columns=[c for c in per_system.columns if c in first.columns])
    systems = systems.assign(**{KEY_NAME: keys.loc[first.index].to_numpy()}).set_index(KEY_NAME)
    systems = systems.join(per_system)
    systems["n_rows"] = keys.value_counts().reindex(systems.index).to_numpy()
    point_columns = [settings.spec(n).column("point") for n in names]
    systems["n_measured"] = systems[point_columns].notna().sum(axis=1).to_numpy()
    fill = dict(typical) if typical is not None else typical_values(values, settings, names)
    known = [n for n in names if math.isfinite(fill.get(settings.spec(n).column("point"),
                                                        math.nan))]
    if not known:
        raise ValueError(f"none of the objectives {', '.join(names)} is measured in the data")
    filled = systems[point_columns].fillna(value=fill)
    only = replace(settings, bound="point", objectives=tuple(known))
    systems["desirability"] = desirability(filled, only)
    systems["first_row"] = first.index.to_numpy()
    return systems.reset_index()


# ----------------------------------------------------------------------------- uncertainty
def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1.0 + level) / 2.0))


@dataclass(frozen=True)
class ObjectiveScores:
    """Per candidate (rows) and objective (columns): the score of the point prediction and the
    split-normal standard deviations above and below it; ``weights`` sum to 1."""

    names: tuple[str, ...]
    point: np.ndarray
    up: np.ndarray
    down: np.ndarray
    weights: np.ndarray


def objective_scores(frame: pd.DataFrame, settings: RankSettings,
                     names: list[str]) -> ObjectiveScores:
    """Scores of the objectives ``names`` for every row of a predicted frame (see the module
    docstring for the uncertainty model)."""
    frame = with_derived(frame, replace(settings, bound="point", objectives=tuple(names)))
    n = len(frame)
    point, up, down = (np.zeros((n, len(names))) for _ in range(3))
    for j, name in enumerate(names):
        spec, anchors = settings.spec(name), settings.anchor(name)

        def score(bound: str, spec=spec, anchors=anchors) -> np.ndarray:
            column = spec.column(bound)
            if column not in frame:
                raise KeyError(f"prediction column {column!r} (objective {spec.name}) is "
                               f"missing; is the {spec.target or spec.name} model loaded?")
            return spec.score(frame[column].to_numpy(float, na_value=np.nan), anchors)

        point[:, j] = score("point")
        if spec.interval_level and spec.has_interval:
            z = _z(float(spec.interval_level))
            with np.errstate(invalid="ignore"):
                up[:, j] = np.nan_to_num(np.clip(score("optimistic") - point[:, j], 0, None)) / z
                down[:, j] = np.nan_to_num(np.clip(point[:, j] - score("pessimistic"), 0,
                                                   None)) / z
    weights = np.array([float(settings.weights[n]) for n in names])
    return ObjectiveScores(tuple(names), point, up, down, weights / weights.sum())


def normal_draws(n_objectives: int, draws: int, seed: int = 0) -> np.ndarray:
    """(draws, n_objectives) standard-normal quantiles, each column a random permutation of
    the ``draws`` equally spaced quantiles (a Latin hypercube)."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    quantiles = norm.ppf((np.arange(draws) + 0.5) / draws)
    return np.column_stack([rng.permutation(quantiles) for _ in range(n_objectives)]) \
        if n_objectives else np.empty((draws, 0))


def desirability_draws(scores: ObjectiveScores, draws: np.ndarray) -> np.ndarray:
    """(rows, draws) desirability of each candidate at each joint draw of its objectives."""
    z = draws[None, :, :]
    s = scores.point[:, None, :] + np.where(z > 0, z * scores.up[:, None, :],
                                            z * scores.down[:, None, :])
    s = np.clip(np.nan_to_num(s, nan=D_FLOOR), D_FLOOR, 1.0)
    return np.exp(np.log(s) @ scores.weights)


def acquisition_table(predicted: pd.DataFrame, incumbent: float,
                      settings: SuggestSettings) -> pd.DataFrame:
    """The :data:`ACQUISITION_COLUMNS` of every predicted candidate (same index): its point
    desirability, expected gain over ``incumbent``, spread (sd) of D, learning and
    acquisition (see the module docstring), and the name of its most uncertain objective
    ('' when no objective has a spread). Candidates without a prediction get NaN."""
    names = settings.objective_names()
    only = replace(settings.rank, bound="point", objectives=tuple(names))
    predicted = with_derived(predicted, only)
    scores = objective_scores(predicted, settings.rank, names)
    grid = normal_draws(len(names), settings.draws, settings.seed)
    n = len(predicted)
    gain, spread = np.empty(n), np.empty(n)
    for start in range(0, n, CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        chunk = ObjectiveScores(scores.names, scores.point[part], scores.up[part],
                                scores.down[part], scores.weights)
        D = desirability_draws(chunk, grid)
        gain[part] = np.maximum(D - incumbent, 0.0).mean(axis=1)
        spread[part] = D.std(axis=1)
    # the draws and the incumbent's D are computed in different summation orders: differences
    # at float rounding (an exact prediction equal to the incumbent) are no gain and no spread
    gain[gain < ROUNDING] = 0.0
    spread[spread < ROUNDING] = 0.0
    unpredicted = ~np.isfinite(scores.point).all(axis=1)
    gain[unpredicted] = spread[unpredicted] = np.nan
    distance = predicted["domain_distance"].to_numpy(float, na_value=np.nan) \
        if "domain_distance" in predicted else np.ones(n)
    learning = spread * np.clip(np.nan_to_num(distance, nan=THIN_CAP) / THIN_CAP, 0.0, 1.0)
    weighted = scores.weights * (scores.up + scores.down) / 2
    top = weighted.argmax(axis=1) if names else np.zeros(n, int)
    uncertain = np.where(weighted.max(axis=1, initial=0.0) > 0,
                         np.asarray(names, dtype=object)[top] if names else "", "")
    return pd.DataFrame({"desirability": desirability(predicted, only),
                         "expected_gain": gain, "spread": spread, "learning": learning,
                         "acquisition": gain + settings.explore * learning,
                         "most_uncertain": uncertain}, index=predicted.index)


# ----------------------------------------------------------------------------- shortlist
def acquisition_order(frame: pd.DataFrame) -> np.ndarray:
    """Positions of ``frame`` by acquisition, then point desirability (both descending; NaN
    last), then ``candidate_id``: deterministic."""
    keys = [frame["candidate_id"].to_numpy()] if "candidate_id" in frame else []
    keys += [-np.nan_to_num(frame["desirability"].to_numpy(float), nan=-np.inf),
             -np.nan_to_num(frame["acquisition"].to_numpy(float), nan=-np.inf)]
    return np.lexsort(keys)


@lru_cache(maxsize=1)
def _library() -> ComponentLibrary:
    return ComponentLibrary.load()


@dataclass(frozen=True)
class ShortlistContext:
    """What a partition needs to keep its shortlist (picklable, sent to Dask workers)."""

    settings: SuggestSettings
    incumbent: float
    measured_keys: frozenset[str]


def unmeasured(frame: pd.DataFrame, measured_keys: frozenset[str],
               library: ComponentLibrary | None = None) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` whose system was not measured."""
    keys = canonical_system_key(frame, library or _library())
    return ~keys.isin(measured_keys).to_numpy()


def shortlist_partition(predicted: pd.DataFrame, context: ShortlistContext) -> pd.DataFrame:
    """The unmeasured candidates of one predicted partition with their acquisition columns,
    the best ``shortlist_size`` of them (the reduction ``suggest`` runs per partition)."""
    fresh = predicted.loc[unmeasured(predicted, context.measured_keys)]
    scored = pd.concat([fresh, acquisition_table(fresh, context.incumbent, context.settings)],
                       axis=1)
    return scored.iloc[acquisition_order(scored)[:context.settings.shortlist_size]]


def merge_shortlists(partials: list[pd.DataFrame], size: int) -> pd.DataFrame:
    """The best ``size`` rows of the partitions' shortlists, in acquisition order."""
    frames = [p for p in partials if len(p)]
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True)
    return merged.iloc[acquisition_order(merged)[:size]].reset_index(drop=True)


# ----------------------------------------------------------------------------- diversity
def select_diverse(acquisition: np.ndarray, desirability_: np.ndarray, Z: np.ndarray,
                   budget: int, radius: float) -> np.ndarray:
    """Positions of the batch, greedily (see the module docstring): each pick maximizes
    ``acquisition × min(1, d / radius)`` (ties: the same product with the point
    desirability; then the earlier position), ``d`` the distance in ``Z`` to the nearest
    earlier pick."""
    n = len(acquisition)
    value = np.nan_to_num(np.asarray(acquisition, float), nan=-np.inf)
    fallback = np.nan_to_num(np.asarray(desirability_, float), nan=-np.inf)
    nearest = np.full(n, np.inf)
    taken = np.zeros(n, dtype=bool)
    picks: list[int] = []
    for _ in range(min(budget, n)):
        factor = np.minimum(1.0, nearest / radius) if radius > 0 else np.ones(n)
        keys = (-np.arange(n), np.where(taken, -np.inf, fallback * factor),
                np.where(taken, -np.inf, value * factor))
        best = int(np.lexsort(keys)[-1])
        picks.append(best)
        taken[best] = True
        nearest = np.minimum(nearest, np.linalg.norm(Z - Z[best], axis=1))
    return np.asarray(picks, dtype=int)


@dataclass(frozen=True)
class FormulationSpace:
    """The diversity space (see the module docstring): ``reference``'s scaled features
    restricted to the columns in ``mask`` (every block but the conditions group)."""

    reference: Any  # screen.screening.explain.ReferenceSet
    mask: np.ndarray

    @classmethod
    def of(cls, reference) -> FormulationSpace:
        """The formulation space of a :class:`~screen.screening.explain.ReferenceSet`."""
        from featurizers.blocks import CONDITIONS_GROUP, explanation_groups

        prefixes = tuple(p for group, found in explanation_groups().items()
                         if group != CONDITIONS_GROUP for p in found)
        names = np.asarray(reference.X.columns, dtype=str)[reference.keep]
        return cls(reference, np.array([n.startswith(prefixes) for n in names], dtype=bool))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Candidates (prediction features) in the formulation space."""
        return self.reference.scaled(X)[:, self.mask]

    @property
    def measured(self) -> np.ndarray:
        """The measured rows in the formulation space."""
        return self.reference.Z[:, self.mask]


def diversity_radius(Z: np.ndarray, keys: np.ndarray) -> float:
    """Median distance from a measured system to the nearest other measured system with other
    coordinates (one row per system key) in ``Z`` (e.g. the formulation space); 0 with fewer
    than two."""
    from sklearn.metrics import pairwise_distances

    _, first = np.unique(np.asarray(keys, dtype=str), return_index=True)
    points = Z[np.sort(first)]
    if len(points) < 2:
        return 0.0
    dist = pairwise_distances(points)
    np.fill_diagonal(dist, np.inf)
    dist[dist <= 1e-9] = np.inf  # identical features: not a neighbour
    nearest = dist.min(axis=1)
    nearest = nearest[np.isfinite(nearest)]
    return float(np.median(nearest)) if nearest.size else 0.0


def choose_batch(scored: pd.DataFrame, Z: np.ndarray, settings: SuggestSettings,
                 radius: float) -> pd.DataFrame:
    """The batch from a scored shortlist (:func:`acquisition_table` columns, rows aligned with
    ``Z``), in pick order with ``pick`` 1..N."""
    positions = select_diverse(scored["acquisition"].to_numpy(float),
                               scored["desirability"].to_numpy(float), Z, settings.budget,
                               radius)
    picks = scored.iloc[positions].copy()
    picks.insert(0, "pick", np.arange(1, len(picks) + 1))
    return picks


# ----------------------------------------------------------------------------- explanations
def uncertainty_text(settings: RankSettings, name: str, row: Mapping[str, Any]) -> str:
    """``'cycle life 120 h (50 h – 400 h)'``: the objective's point and its interval ends,
    unfavourable first."""
    if not name:
        return "none (no objective has an interval)"
    spec = settings.spec(name)
    text = f"{spec.label} {spec.text(_number(row.get(spec.column('point'))))}"
    if spec.has_interval:
        text += (f" ({spec.text(_number(row.get(spec.column('pessimistic'))))} – "
                 f"{spec.text(_number(row.get(spec.column('optimistic'))))}, "
                 f"{float(spec.interval_level or 0):.0%} interval)")
    return text


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def why_text(row: Mapping[str, Any], incumbent: float, settings: RankSettings) -> str:
    """Why one pick was made, in words (``;``-separated parts)."""
    parts = [f"expected gain {_number(row.get('expected_gain')):+.3f} in D over the best "
             f"measured {incumbent:.3f} (predicted D {_number(row.get('desirability')):.3f},"
             f" sd {_number(row.get('spread')):.3f})",
             "most uncertain: " + uncertainty_text(settings, str(row.get("most_uncertain")
                                                                  or ""), row)]
    distance = _number(row.get("domain_distance"))
    if math.isfinite(distance):
        where = "thin data" if distance > 1.5 else "among measured systems"
        parts.append(f"domain distance {distance:.2f} ({where})")
    return "; ".join(parts)


def explain_picks(picks: pd.DataFrame, X: pd.DataFrame, models: dict, reference,
                  settings: RankSettings, incumbent: float) -> pd.DataFrame:
    """Add ``why``, ``reasons`` (block effects) and ``nearest_measured`` to the picks
    (``X``: their features, same order)."""
    from screen.screening.explain import block_effects, nearest_measured, reasons

    out = picks.copy()
    X = X.set_axis(out.index)
    out["why"] = [why_text(r, incumbent, settings) for r in out.to_dict(orient="records")]
    out["reasons"] = reasons(block_effects(X, models, reference)).to_numpy()
    out["nearest_measured"] = nearest_measured(X, reference).to_numpy()
    return out


# ----------------------------------------------------------------------------- the call
@dataclass
class SuggestResult:
    """The picks (pick order), the merged shortlist they were chosen from, the rejected
    candidates, the measured systems (with their desirability) and the settings used."""

    picks: pd.DataFrame
    shortlist: pd.DataFrame
    rejects: pd.DataFrame
    n_candidates: int
    systems: pd.DataFrame
    incumbent: float
    radius: float
    settings: SuggestSettings
    engine: str
    warnings: pd.DataFrame | None = None

    @property
    def best_measured(self) -> pd.Series:
        """The measured system with the largest desirability."""
        return self.systems.loc[self.systems["desirability"].idxmax()]


def suggest_candidates(path: str | Path, models: dict, settings: SuggestSettings,
                       measured: pd.DataFrame, *, library: ComponentLibrary | None = None,
                       engine: str = "local", scheduler: str | None = None, workers: int = 2,
                       threads: int = 1, partition_rows: int = 100_000,
                       skip_invalid: bool = False, progress=None) -> SuggestResult:
    """The next ``settings.budget`` experiments from the candidates at ``path`` (Parquet
    file/directory or CSV), given the ``models`` and the ``measured`` rows they were trained
    on (typed interfaces table); see the module docstring. Partitions run on ``engine`` as in
    :func:`screen.screening.rank.rank_candidates`."""
    from screen.learn.predict import feature_frame
    from screen.screening.explain import ReferenceSet
    from screen.screening.rank import CandidatePredictor, run_partitions

    rank = settings.rank.for_models(models)
    settings = replace(settings, rank=rank)
    missing = sorted({rank.spec(o).target for o in settings.objective_names()
                      if rank.spec(o).target not in (None, *models)})
    if missing or not settings.objective_names():
        raise LookupError(f"no model for {', '.join(missing) or 'any weighted objective'}: "
                          "suggest needs the models of the weighted objectives")
    library = library or _library()
    predictor = CandidatePredictor(models, library).prepare()
    systems = measured_systems(measured, rank, library)
    incumbent = float(systems["desirability"].max())
    context = ShortlistContext(settings, incumbent, frozenset(systems[KEY_NAME]))
    results, rejects, total = run_partitions(
        path, predictor, partial(shortlist_partition, context=context), engine=engine,
        scheduler=scheduler, workers=workers, threads=threads, partition_rows=partition_rows,
        skip_invalid=skip_invalid, progress=progress)
    shortlist = merge_shortlists([r.kept for r in results], settings.shortlist_size)
    if shortlist.empty:
        raise ValueError(f"{path}: no candidate left to suggest ({len(rejects)} rejected; "
                         "every valid one is a measured system)")
    reference = ReferenceSet.build(predictor.featurizer, measured)
    space = FormulationSpace.of(reference)
    X = feature_frame(shortlist, predictor.featurizer)
    radius = settings.radius if settings.radius is not None else diversity_radius(
        space.measured, canonical_system_key(measured, library).to_numpy())
    picks = choose_batch(shortlist, space.transform(X), settings, radius)
    picks = explain_picks(picks, X.iloc[picks.index.to_numpy()], predictor.models, reference,
                          rank, incumbent)
    warnings = [r.warnings for r in results if r.warnings is not None and len(r.warnings)]
    return SuggestResult(picks.reset_index(drop=True), shortlist, rejects, total, systems,
                         incumbent, radius, settings, engine,
                         pd.concat(warnings, ignore_index=True) if warnings else None)


# ----------------------------------------------------------------------------- outputs
#: Columns of the picks table that are internal to the choice.
_INTERNAL = ("domain_group", "tie_score")


def output_frame(picks: pd.DataFrame) -> pd.DataFrame:
    """The user-facing columns of the picks."""
    return picks.drop(columns=[c for c in picks.columns
                               if c in _INTERNAL or str(c).startswith("obj_")])


def report_meta(result: SuggestResult, candidates: str | Path,
                model_uris: dict[str, str] | None = None, model_set: str | None = None,
                data_files: list[str] | None = None) -> dict:
    """What the HTML report says about how the batch was chosen."""
    from datetime import UTC, datetime

    import screen
    from screen.data.formulation import formulation_lines
    from screen.learn.predict import resolved_model_uris

    s = result.settings
    best = result.best_measured
    return {
        "title": f"mgscreen: the next {len(result.picks)} experiments from "
                 f"{Path(candidates).name}",
        "table_title": "Suggested experiments",
        "candidates_path": str(candidates), "n_candidates": result.n_candidates,
        "n_ranked": len(result.picks), "n_rejected": len(result.rejects),
        "weights": {o: s.rank.weights.get(o, 0.0) for o in s.rank.names},
        "budget": s.budget, "explore": s.explore, "shortlist": s.shortlist_size,
        "diversity radius": round(result.radius, 3),
        "best measured D": f"{result.incumbent:.3f} "
                           f"({' / '.join(formulation_lines(best, with_condition=True))}, "
                           f"{best.get('source', '')})",
        "measured systems": len(result.systems),
        "data": "; ".join(data_files) if data_files else "the embedded data set",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "mgscreen_version": getattr(screen, "__version__", ""),
        "models": resolved_model_uris(model_uris, model_set=model_set),
        "how_to_read": (
            "Each row is one experiment to run next, in pick order (Rank = pick). None of them "
            "is a measured system. Desirability D (0–1) folds the predicted objectives as "
            "rank does. Candidates are scored by acquisition = expected gain + explore × "
            "learning: the expected gain is E[max(D − D_best, 0)] under the models' "
            "uncertainty (each objective's interval, as a split normal), D_best the best "
            "measured system's D (above); learning is the spread of D times min(domain "
            f"distance / {THIN_CAP:g}, 1). The batch is picked greedily from the "
            f"{s.shortlist_size} best, each pick discounted by min(1, d / r), d its distance "
            "to the nearest earlier pick in what the electrolyte and anode are made of "
            "(concentrations and test conditions do not count), r the diversity radius. Why: "
            "the expected gain, the most uncertain objective with its interval and the "
            "domain distance, then the largest block effects on the predictions. The scatter "
            "shows the shortlist (diamonds: the picks). Definitions: "
            "screen/screening/suggest.py."),
    }


def output_plan(out: str | Path, *, rejects: str | Path | None = None,
                report: str | Path | None = None, candidates: str | Path | None = None,
                data_files: list[str] | None = None, force: bool = False):
    """The files ``suggest`` writes (checked by ``.check()`` before any work): the picks, the
    rejects CSV (default ``<out>.rejects.csv``) and the optional HTML report; none may be the
    candidate library or a lab file read."""
    from screen.data.outputs import OutputPlan
    from screen.screening.rank import output_plan as rank_plan

    plan = rank_plan(out, rejects=rejects, report=report, candidates=candidates, force=force)
    return OutputPlan(plan.outputs, inputs=[candidates, *(data_files or [])], force=force)


def write_outputs(result: SuggestResult, out: str | Path, measured: pd.DataFrame, *,
                  report: str | Path | None = None, rejects: str | Path | None = None,
                  candidates: str | Path = "", model_uris: dict[str, str] | None = None,
                  model_set: str | None = None, data_files: list[str] | None = None,
                  plan=None) -> dict[str, Path]:
    """Write the picks (CSV or Parquet), the rejects (if any or if a path is given) and the
    HTML report, committed together (all or none, see :mod:`screen.data.outputs`). Returns
    {label: path}."""
    from screen.screening.rank import write_staged

    plan = plan or output_plan(out, rejects=rejects, report=report,
                               candidates=candidates or None, data_files=data_files).check()

    def html(path: Path) -> None:
        from screen.screening.report import write_report

        rank = result.settings.rank
        shown = result.picks.rename(columns={"pick": "rank"})
        shown["reasons"] = shown["why"] + "; " + shown["reasons"].astype(str)
        write_report(path, output_frame(shown), output_frame(result.shortlist), measured,
                     report_meta(result, candidates, model_uris, model_set, data_files),
                     [rank.spec(n) for n in result.settings.objective_names()])

    return write_staged(plan, output_frame(result.picks), result.rejects,
                        keep_rejects=rejects is not None, report=html if report else None,
                        label="suggestions")
