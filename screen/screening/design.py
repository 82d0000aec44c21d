"""Multi-objective formulation design with Optuna (``mgscreen design``).

The search space is a *formulation*: a categorical anion, solvent, optional co-solvent (or
``none``) with a ratio choice, additive (or ``none``) and coating (or ``none``), and continuous
salt / additive concentrations, at one fixed test condition (cell type, current density, areal
capacity, temperature), all read from ``experiments/design.toml``.

Objectives are registered objectives (:mod:`screen.learn.registry`), predicted by the loaded
models (:func:`screen.learn.predict.load_models`; any subset of trained targets): by default
every target objective with a model, e.g. minimize overpotential, maximize cycle life,
minimize passivation.
The optimizer is Optuna's :class:`~optuna.samplers.NSGAIISampler`; trials are asked and told in
batches of one population so that featurization and prediction run once per batch on a
DataFrame (:func:`screen.learn.predict.predict_systems`), not once per trial.

Constraints (``value <= 0`` is feasible). Each trial stores them as the user attribute
``constraints`` (a list in :data:`CONSTRAINT_NAMES` order) and through
``Trial.set_constraint`` (Optuna 5's replacement for the deprecated ``constraints_func``),
which NSGA-II's constrained domination and ``study.best_trials`` read:

- ``chloride_free``: 1 if the anion or the additive contains a Cl atom (from the resolved
  structures, :func:`screen.data.structures.molecule`), else 0;
- ``in_domain_only``: 0 inside every target's applicability domain, 1 outside;
- ``max_interval_width_V``: ``(overpotential_V_high - overpotential_V_low) - max width``.

The result is the constrained Pareto set: ``study.best_trials`` filtered again for
feasibility and non-dominance here (not trusted blindly), one row per formulation with its
predictions, intervals and domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import (
    DEFAULT_ADDITIVE_KINDS,
    DEFAULT_SOLVENT_KINDS,
    ComponentLibrary,
    is_none,
    resolve_names,
)
from screen.data.config import ConfigError, default_config_path, read_toml_tables
from screen.data.schema import CELL_TYPES, FORMULATION_COLUMNS, METALS, NONE_VALUE
from screen.data.structures import ElementChecker
from screen.learn.registry import Objective, objectives, resolve_objectives
from screen.screening.ranking import minimization_matrix, pareto_layers, target_objectives

#: Objective column → optimization direction. The config chooses a subset (in this order).
CONSTRAINT_NAMES = ("chloride_free", "in_domain_only", "max_interval_width_V")

# Allowed keys per table: key -> (accepted Python types, description for errors).
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "space": {
        "metal": ((str,), "'Mg' or 'Ca'"),
        "anions": ((list,), "list of anion names ([] = whole library)"),
        "solvents": ((list,), "list of solvent names ([] = library kind 'solvent')"),
        "cosolvents": ((list,), "list of co-solvent names ([] = same as solvents)"),
        "use_cosolvent": ((bool,), "true/false"),
        "cosolvent_ratios": ((list,), "list of 'a:b' ratio strings"),
        "additives": ((list,), "list of additive names ([] = kinds additive, salt_additive)"),
        "coatings": ((list,), "list of coating names ([] = whole library, incl. none)"),
        "salt_conc_M": ((list,), "[low, high] in mol/L"),
        "additive_conc_M": ((list,), "[low, high] in mol/L"),
        "coating_thickness_um": ((int, float), "number (um)"),
    },
    "condition": {
        "cell_type": ((str,), f"one of {', '.join(CELL_TYPES)}"),
        "current_density_mA_cm2": ((int, float), "number > 0 (mA cm^-2)"),
        "areal_capacity_mAh_cm2": ((int, float), "number > 0 (mAh cm^-2)"),
        "temperature_C": ((int, float), "number (degC)"),
    },
    "search": {
        "trials": ((int,), "integer >= 1"),
        "population_size": ((int,), "integer >= 2 (also the batch size)"),
        "seed": ((int,), "integer"),
        "objectives": ((list,), "list of registered objective names"),
    },
    "constraints": {
        "chloride_free": ((bool,), "true/false"),
        "in_domain_only": ((bool,), "true/false"),
        "max_interval_width_V": ((int, float), "number > 0 (V), inf = no limit"),
    },
}


@dataclass(frozen=True)
class DesignConfig:
    """The formulation space, the fixed test condition, the search and the constraints."""

    metal: str = "Mg"
    anions: tuple[str, ...] = ()
    solvents: tuple[str, ...] = ()
    cosolvents: tuple[str, ...] = ()
    use_cosolvent: bool = True
    cosolvent_ratios: tuple[str, ...] = ("1:1", "2:1", "1:2", "4:1")
    additives: tuple[str, ...] = ()
    coatings: tuple[str, ...] = ()
    salt_conc_M: tuple[float, float] = (0.1, 2.0)
    additive_conc_M: tuple[float, float] = (0.01, 0.5)
    coating_thickness_um: float = 1.0
    cell_type: str = "symmetric"
    current_density_mA_cm2: float = 1.0
    areal_capacity_mAh_cm2: float = 1.0
    temperature_C: float = 25.0
    trials: int = 200
    population_size: int = 20
    seed: int = 0
    objectives: tuple[str, ...] | None = None  # None: every target objective with a model
    chloride_free: bool = False
    in_domain_only: bool = False
    max_interval_width_V: float = math.inf
    source: str = "<defaults>"
    extra: dict = field(default_factory=dict, compare=False)

    def with_overrides(self, **values: Any) -> DesignConfig:
        """Copy with the non-None values replaced (command-line flags over the file)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def default_design_path() -> Path:
    """``experiments/design.toml`` of the source tree, or the packaged copy."""
    return default_config_path("design")


def load_design_config(path: str | Path | None = None) -> DesignConfig:
    """Read and validate a design TOML file. Unknown tables/keys, wrong types and bad
    values raise :class:`~screen.learn.config.ConfigError` naming the file and the key."""
    path = Path(path) if path is not None else default_design_path()
    tables = read_toml_tables(path, _SCHEMA, "design config")
    values = {key: value for content in tables.values() for key, value in content.items()}
    return _checked(values, str(path))


def _checked(values: dict[str, Any], where: str) -> DesignConfig:
    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: {key!r}: {message}")

    out: dict[str, Any] = {"source": where}
    for key in ("anions", "solvents", "cosolvents", "additives", "coatings", "cosolvent_ratios",
                "objectives"):
        if key in values:
            items = values[key]
            if not all(isinstance(v, str) and v.strip() for v in items):
                raise bad(key, "every entry must be a non-empty string")
            out[key] = tuple(v.strip() for v in items)
    for key in ("salt_conc_M", "additive_conc_M"):
        if key in values:
            pair = values[key]
            if (len(pair) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                          for v in pair)
                    or not 0 < pair[0] <= pair[1] <= 20):
                raise bad(key, f"{pair!r}: expected [low, high] with 0 < low <= high <= 20")
            out[key] = (float(pair[0]), float(pair[1]))
    for key in ("metal", "cell_type", "use_cosolvent", "trials", "population_size", "seed",
                "chloride_free", "in_domain_only"):
        if key in values:
            out[key] = values[key]
    for key in ("coating_thickness_um", "current_density_mA_cm2", "areal_capacity_mAh_cm2",
                "temperature_C", "max_interval_width_V"):
        if key in values:
            out[key] = float(values[key])
    config = DesignConfig(**out)
    check_config(config, where)
    return config


def check_config(config: DesignConfig, where: str = "design config") -> None:
    """Value checks shared by the file loader and the command-line overrides."""
    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: {key!r}: {message}")

    if config.metal not in METALS:
        raise bad("metal", f"{config.metal!r}; accepted: {', '.join(METALS)}")
    if config.cell_type not in CELL_TYPES:
        raise bad("cell_type", f"{config.cell_type!r}; accepted: {', '.join(CELL_TYPES)}")
    if config.trials < 1:
        raise bad("trials", f"{config.trials}: must be >= 1")
    if config.population_size < 2:
        raise bad("population_size", f"{config.population_size}: must be >= 2")
    if not config.current_density_mA_cm2 > 0 or not config.areal_capacity_mAh_cm2 > 0:
        raise bad("condition", "current density and areal capacity must be > 0")
    if config.coating_thickness_um < 0:
        raise bad("coating_thickness_um", "must be >= 0")
    if not config.max_interval_width_V > 0:
        raise bad("max_interval_width_V", f"{config.max_interval_width_V}: must be > 0")
    known = objectives()
    if config.objectives is not None and not config.objectives:
        raise bad("objectives", "at least one objective is needed")
    for name in config.objectives or ():
        if name not in known:
            raise bad("objectives", f"unknown objective {name!r}; accepted: "
                                    f"{', '.join(known)}")
    if config.objectives is not None and len(set(config.objectives)) != len(config.objectives):
        raise bad("objectives", "listed twice")
    for ratio in config.cosolvent_ratios:
        parts = ratio.split(":")
        try:
            ok = len(parts) == 2 and all(float(p) > 0 for p in parts)
        except ValueError:
            ok = False
        if not ok:
            raise bad("cosolvent_ratios", f"{ratio!r}: expected 'a:b' with positive parts")


# ---------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class Space:
    """The resolved categorical choices (canonical library names; ``none`` where allowed)."""

    anions: tuple[str, ...]
    solvents: tuple[str, ...]
    cosolvents: tuple[str, ...]  # includes 'none' first
    ratios: tuple[str, ...]
    additives: tuple[str, ...]  # includes 'none' first
    coatings: tuple[str, ...]  # includes 'none' first


def build_space(config: DesignConfig, library: ComponentLibrary) -> Space:
    """Resolve the config lists against the library; empty lists take the defaults."""
    where = config.source

    def by_kind(kinds: tuple[str, ...]) -> list[str]:
        return [c.name for c in library.entries["solvent"] if c.category in kinds]

    anions = (resolve_names(library, "anion", config.anions, "anions", where)
              if config.anions else library.names("anion"))
    solvents = (resolve_names(library, "solvent", config.solvents, "solvents", where)
                if config.solvents else by_kind(DEFAULT_SOLVENT_KINDS))
    cosolvents = (resolve_names(library, "solvent", config.cosolvents, "cosolvents", where,
                                none_ok=True) if config.cosolvents else list(solvents))
    additives = (resolve_names(library, "solvent", config.additives, "additives", where,
                               none_ok=True)
                 if config.additives else [NONE_VALUE, *by_kind(DEFAULT_ADDITIVE_KINDS)])
    coatings = (resolve_names(library, "coating", config.coatings, "coatings", where,
                              none_ok=True) if config.coatings else library.names("coating"))
    coatings = [NONE_VALUE if is_none(c) else c for c in coatings]
    for key, items in (("anions", anions), ("solvents", solvents), ("additives", additives),
                       ("coatings", coatings)):
        if not items:
            raise ConfigError(f"{where}: {key!r}: no choices left")
    cosolvents = [c for c in cosolvents if c != NONE_VALUE]
    if not config.use_cosolvent:
        cosolvents = []
    return Space(anions=tuple(anions), solvents=tuple(solvents),
                 cosolvents=(NONE_VALUE, *cosolvents), ratios=config.cosolvent_ratios or ("1:1",),
                 additives=tuple(_none_first(additives)), coatings=tuple(_none_first(coatings)))


def _none_first(items: list[str]) -> list[str]:
    return [NONE_VALUE, *[i for i in items if i != NONE_VALUE]]


def suggest_formulation(trial, space: Space, config: DesignConfig) -> dict[str, Any]:
    """Sample one formulation (a static search space: every parameter is always suggested,
    unused ones are ignored when the row is built) and return its interfaces-schema row."""
    anion = trial.suggest_categorical("anion", list(space.anions))
    solvent = trial.suggest_categorical("solvent", list(space.solvents))
    cosolvent = trial.suggest_categorical("cosolvent", list(space.cosolvents))
    ratio = trial.suggest_categorical("cosolvent_ratio", list(space.ratios))
    additive = trial.suggest_categorical("additive", list(space.additives))
    coating = trial.suggest_categorical("coating", list(space.coatings))
    salt = trial.suggest_float("salt_conc_M", *config.salt_conc_M)
    additive_conc = trial.suggest_float("additive_conc_M", *config.additive_conc_M)
    return formulation_row(config, anion=anion, solvent=solvent, cosolvent=cosolvent,
                           ratio=ratio, additive=additive, coating=coating, salt_conc_M=salt,
                           additive_conc_M=additive_conc)


def formulation_row(config: DesignConfig, *, anion: str, solvent: str, cosolvent: str,
                    ratio: str, additive: str, coating: str, salt_conc_M: float,
                    additive_conc_M: float) -> dict[str, Any]:
    """One row of the interfaces system schema at the config's fixed test condition."""
    mixed = not is_none(cosolvent) and cosolvent != solvent
    has_additive = not is_none(additive)
    has_coating = not is_none(coating)
    return {
        "metal": config.metal,
        "anion": anion,
        "salt_conc_M": round(float(salt_conc_M), 4),
        "solvent": f"{solvent}:{cosolvent}" if mixed else solvent,
        "solvent_ratio": ratio if mixed else "",
        "additive": additive if has_additive else NONE_VALUE,
        "additive_conc_M": round(float(additive_conc_M), 4) if has_additive else np.nan,
        "coating": coating if has_coating else NONE_VALUE,
        "coating_thickness_um": config.coating_thickness_um if has_coating else np.nan,
        "cell_type": config.cell_type,
        "current_density_mA_cm2": config.current_density_mA_cm2,
        "areal_capacity_mAh_cm2": config.areal_capacity_mAh_cm2,
        "temperature_C": config.temperature_C,
    }


# ---------------------------------------------------------------------------- constraints
def constraint_values(row: dict | pd.Series, config: DesignConfig,
                      chloride: ElementChecker) -> list[float]:
    """Constraint values of one predicted formulation (each <= 0 is feasible), in the order
    of :data:`CONSTRAINT_NAMES`; disabled constraints give 0."""
    cl = float(chloride.row_has_cl(row)) if config.chloride_free else 0.0
    dom = 0.0 if (not config.in_domain_only or bool(row["in_domain"])) else 1.0
    width = 0.0
    if math.isfinite(config.max_interval_width_V):
        w = float(row["overpotential_V_high"]) - float(row["overpotential_V_low"])
        width = w - config.max_interval_width_V if math.isfinite(w) else 1.0
    return [cl, dom, width]


# ---------------------------------------------------------------------------- the search
@dataclass
class DesignResult:
    """All evaluated trials (``trials``), the constrained Pareto set (``pareto``) and the
    Optuna study."""

    trials: pd.DataFrame
    pareto: pd.DataFrame
    study: Any
    config: DesignConfig
    n_failed: int = 0
    objectives: list[Objective] = field(default_factory=list)


def design_objectives(config: DesignConfig, models: dict) -> list[Objective]:
    """The objectives optimized: the config's, or every target objective with a loaded model;
    LookupError when one needs a model that is not loaded."""
    specs = resolve_objectives(models)
    names = config.objectives if config.objectives is not None else tuple(
        n for n in target_objectives() if specs[n].target in models)
    missing = [n for n in names if specs[n].target is not None and specs[n].target not in models]
    if missing or not names:
        raise LookupError(f"objective(s) {', '.join(missing) or '(none)'} need a model that "
                          "is not loaded")
    return [specs[n] for n in names]


def run_design(config: DesignConfig, models: dict, library: ComponentLibrary | None = None,
               progress: Callable[[int, int], None] | None = None) -> DesignResult:
    """Run the NSGA-II study in batches of ``population_size`` and return the Pareto set.

    ``progress(done, total)`` is called after each batch.
    """
    import optuna
    from optuna.trial import TrialState

    from screen.learn.predict import predict_systems

    library = library if library is not None else ComponentLibrary.load()
    specs = design_objectives(config, models)
    space = build_space(config, library)
    chloride = ElementChecker(library)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(population_size=config.population_size,
                                            seed=config.seed)
    study = optuna.create_study(
        directions=["maximize" if o.maximize else "minimize" for o in specs], sampler=sampler)
    records: list[dict] = []
    n_failed = 0
    done = 0
    while done < config.trials:
        size = min(config.population_size, config.trials - done)
        batch = [study.ask() for _ in range(size)]
        rows = pd.DataFrame([suggest_formulation(t, space, config) for t in batch],
                            index=[t.number for t in batch])
        predictions = _predict_batch(rows, models, library, predict_systems)
        for trial in batch:
            row = rows.loc[trial.number]
            pred = predictions.get(trial.number)
            values = None if pred is None else [float(pred[o.column()]) for o in specs]
            if values is None or not all(math.isfinite(v) for v in values):
                n_failed += 1
                study.tell(trial, state=TrialState.FAIL)
                continue
            full = {**row.to_dict(), **pred}
            cons = constraint_values(full, config, chloride)
            trial.set_user_attr("constraints", cons)
            for name, value in zip(CONSTRAINT_NAMES, cons, strict=True):
                trial.set_constraint(name, value)  # read by NSGA-II's constrained domination
            trial.set_user_attr("formulation", {k: _plain(v) for k, v in row.items()})
            study.tell(trial, values)
            records.append({"trial": trial.number, **full,
                            **{f"constraint_{n}": c for n, c in zip(CONSTRAINT_NAMES, cons,
                                                                     strict=True)},
                            "feasible": all(c <= 0 for c in cons)})
        done += size
        if progress is not None:
            progress(done, config.trials)
    trials = pd.DataFrame.from_records(records)
    pareto = pareto_set(study, trials, specs)
    if not trials.empty:
        trials["pareto"] = trials["trial"].isin(pareto["trial"])
    return DesignResult(trials=trials, pareto=pareto, study=study, config=config,
                        n_failed=n_failed, objectives=specs)


def _predict_batch(rows: pd.DataFrame, models: dict, library: ComponentLibrary,
                   predict: Callable) -> dict[int, dict]:
    """Predictions per trial number; one call for the whole batch, row by row only if the
    batch fails (so one unfeaturizable component fails one trial, not the batch)."""
    try:
        table = predict(rows, models, library)
    except Exception:  # featurization of one component; retried per row below
        out = {}
        for number in rows.index:
            try:
                out[number] = predict(rows.loc[[number]], models, library).iloc[0].to_dict()
            except Exception:  # reported as a failed trial
                continue
        return out
    return {number: table.loc[number].to_dict() for number in rows.index}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def pareto_set(study, trials: pd.DataFrame, specs: list[Objective]) -> pd.DataFrame:
    """Feasible, non-dominated, distinct formulations among ``study.best_trials``, sorted by
    the first objective. Feasibility and dominance are re-checked on the recorded values."""
    columns = ["trial", *FORMULATION_COLUMNS]
    if trials.empty:
        return pd.DataFrame(columns=columns)
    best = {t.number for t in study.best_trials}
    # best_trials already prefers feasible trials; re-check, and if it returned an
    # unconstrained front (older Optuna) fall back to the feasible trials themselves.
    feasible = trials[trials["feasible"]]
    candidates = feasible[feasible["trial"].isin(best)]
    if candidates.empty and not feasible.empty:
        candidates = feasible
    candidates = candidates.drop_duplicates(subset=list(FORMULATION_COLUMNS))
    if candidates.empty:
        return trials.iloc[0:0].reset_index(drop=True)
    F = minimization_matrix(candidates, specs)
    out = candidates[pareto_layers(F, 1) == 1].sort_values(specs[0].column(), kind="stable")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------- outputs
def output_table(pareto: pd.DataFrame) -> pd.DataFrame:
    """The Pareto CSV columns: trial, formulation, then the predictions (intervals, domain)
    in the order the models give them, then the constraint values and flags."""
    first = ["trial", *FORMULATION_COLUMNS]
    rest = [c for c in pareto.columns if c not in first]
    return pareto[[c for c in first if c in pareto.columns] + rest]


def pareto_figure(trials: pd.DataFrame, pareto: pd.DataFrame, specs: list[Objective],
                  title: str = "design"):
    """The first two objectives against each other (a third colours the points): infeasible
    trials grey crosses, feasible trials coloured, the Pareto set ringed in black."""
    from screen.learn import plots

    feasible = trials[trials["feasible"]] if not trials.empty else trials
    infeasible = trials[~trials["feasible"]] if not trials.empty else trials
    fig, _ = plots.objective_scatter(
        feasible, specs, title=title, ring=pareto, ring_label=f"Pareto set ({len(pareto)})",
        label=f"feasible ({len(feasible)})",
        background=infeasible, background_label=f"infeasible ({len(infeasible)})")
    return fig


def output_plan(out: str | Path, plot: str | Path | None, config: str | Path | None = None,
                force: bool = False):
    """The files ``design`` writes (checked by ``.check()`` before the search): the Pareto
    CSV and the PNG of the front."""
    from screen.data.outputs import Output, OutputPlan

    return OutputPlan([Output(Path(out), "--out", (".csv",)),
                       Output(Path(plot), "--plot", (".png",)) if plot is not None else None],
                      inputs=[config], force=force)


def write_outputs(result: DesignResult, out: str | Path, plot: str | Path | None,
                  plan=None) -> None:
    """Pareto CSV and, if ``plot``, the front as PNG, committed together (all or none)."""
    from screen.data.io import atomic_write_csv

    plan = plan or output_plan(out, plot).check()
    with plan.staged() as staged:
        atomic_write_csv(output_table(result.pareto), staged["--out"])
        if plot is not None:
            fig = pareto_figure(result.trials, result.pareto, result.objectives,
                                f"{result.config.metal}: {len(result.trials)} trials")
            fig.savefig(staged["--plot"], format="png", dpi=130)
