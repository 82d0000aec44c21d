"""Candidate libraries for ranking (``mgscreen enumerate``).

A library is the Cartesian product of ten *axes* read from ``experiments/enumerate.toml``:
metal, anion, salt concentration (mol/L), solvent system, additive system, coating system,
cell type, current density (mA cm⁻²), areal capacity (mAh cm⁻²) and temperature (°C).
Equivalent systems are removed when the axes are built, so every candidate is distinct by
construction:

- a solvent system is a single solvent (``DME``, ratio ``''``) or an unordered binary mixture
  ``A:B`` at a reduced ratio ``a:b`` (``B:A`` at ``b:a`` and ``2:2`` == ``1:1`` are the same
  entry; ``A`` comes before ``B`` in the library's file order); a co-solvent equal to the
  solvent is not a mixture;
- an additive system is ``none`` (one blank concentration) or an additive at one concentration;
- a coating system is ``none`` (one blank thickness) or a coating at one thickness (µm);
- names are canonical library names, so aliases of one entry count once.

Candidate ``i`` is the mixed-radix number whose digits index the axes (metal most significant,
temperature least): the same config gives the same ids, :meth:`CandidateSpace.count` is the
product of the axis sizes, and any id range is generated with ``np.unravel_index`` and
``take`` — never a Python loop per candidate — so 10⁷ candidates stream in bounded memory.
:func:`write_candidates` writes Parquet atomically (one file, or a directory of parts);
:mod:`screen.screening.candidates` reads it back.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import (
    COATING_CLASSES,
    DEFAULT_ADDITIVE_KINDS,
    DEFAULT_SOLVENT_KINDS,
    ComponentLibrary,
    is_none,
    resolve_names,
)
from screen.data.config import ConfigError, default_config_path, read_toml_tables
from screen.data.schema import (
    CELL_TYPES,
    COLUMN_BY_NAME,
    FORMULATION_COLUMNS,
    METALS,
    NONE_VALUE,
)
from screen.data.structures import ElementChecker

#: Axes of the mixed-radix candidate index, most significant first.
AXIS_NAMES = ("metal", "anion", "salt_conc_M", "solvent", "additive", "coating", "cell_type",
              "current_density_mA_cm2", "areal_capacity_mAh_cm2", "temperature_C")
#: Kinds accepted by the include/exclude filters -> library kind of the names.
FILTER_KINDS: dict[str, str] = {"anion": "anion", "solvent": "solvent", "cosolvent": "solvent",
                                "additive": "solvent", "coating": "coating"}
CANDIDATE_COLUMNS = ("candidate_id", *FORMULATION_COLUMNS)
ROW_GROUP_ROWS = 100_000
DEFAULT_ROWS_PER_FILE = 2_000_000
DEFAULT_MAX_CANDIDATES = 20_000_000
LIBRARY_FORMAT = "mgscreen-candidates"
LIBRARY_VERSION = 1
SIDECAR_NAME = "_library.json"  # inside a partitioned output; a single file gets '<out>.json'

_NAMES = "list of library names or aliases"
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "space": {
        "metals": ((list, str), f"list of {' / '.join(METALS)}"),
        "anions": ((list,), f"{_NAMES} ([] = every anion)"),
        "solvents": ((list,), f"{_NAMES} of single solvents ([] = library kind 'solvent')"),
        "additives": ((list,), f"{_NAMES} or 'none' ([] = none + kinds "
                               f"{', '.join(DEFAULT_ADDITIVE_KINDS)})"),
        "coatings": ((list,), f"{_NAMES} or 'none' ([] = every coating, incl. none)"),
        "salt_conc_M": ((list, int, float), "number or list of numbers (mol/L)"),
        "additive_conc_M": ((list, int, float), "number or list of numbers (mol/L)"),
        "coating_thickness_um": ((list, int, float), "number or list of numbers (um)"),
    },
    "mixtures": {
        "enabled": ((bool,), "true/false"),
        "cosolvents": ((list,), f"{_NAMES} ([] = the solvents)"),
        "ratios": ((list,), "list of 'a:b' strings (solvent:co-solvent), e.g. ['1:1', '2:1']"),
    },
    "conditions": {
        "cell_type": ((list, str), f"list of {', '.join(CELL_TYPES)}"),
        "current_density_mA_cm2": ((list, int, float), "number or list of numbers (mA cm^-2)"),
        "areal_capacity_mAh_cm2": ((list, int, float), "number or list of numbers (mAh cm^-2)"),
        "temperature_C": ((list, int, float), "number or list of numbers (degC)"),
    },
    "filters": {
        "chloride_free": ((bool,), "true/false"),
        "coating_classes": ((list,), f"list of {', '.join(COATING_CLASSES)} ([] = all)"),
    },
    "include": {k: ((list,), f"{_NAMES}: keep only these ([] = no restriction)")
                for k in FILTER_KINDS},
    "exclude": {k: ((list,), f"{_NAMES}: leave these out") for k in FILTER_KINDS},
}
#: numeric config fields; each is checked against the bounds of the interfaces column it fills
_NUMERIC = ("salt_conc_M", "additive_conc_M", "coating_thickness_um", "current_density_mA_cm2",
            "areal_capacity_mAh_cm2", "temperature_C")
#: config field -> its dotted TOML key, for error messages
_TOML_KEY = {key: f"{table}.{key}" for table, keys in _SCHEMA.items()
             if table not in ("include", "exclude") for key in keys}


class EnumerationError(ValueError):
    """The library cannot be written as asked (too many candidates, unsafe output path)."""


# ---------------------------------------------------------------------------- config
@dataclass(frozen=True)
class EnumerationConfig:
    """What to enumerate. Component lists hold names as written (``()`` = library default);
    numbers are in the units of the interfaces columns (mol/L, µm, mA cm⁻², mAh cm⁻², °C)."""

    metals: tuple[str, ...] = ("Mg",)
    anions: tuple[str, ...] = ()
    solvents: tuple[str, ...] = ()
    additives: tuple[str, ...] = ()
    coatings: tuple[str, ...] = ()
    salt_conc_M: tuple[float, ...] = (0.5, 1.0)
    additive_conc_M: tuple[float, ...] = (0.1,)
    coating_thickness_um: tuple[float, ...] = (1.0,)
    mixtures: bool = True
    cosolvents: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ("1:1", "2:1", "1:2")
    cell_type: tuple[str, ...] = ("symmetric",)
    current_density_mA_cm2: tuple[float, ...] = (1.0,)
    areal_capacity_mAh_cm2: tuple[float, ...] = (1.0,)
    temperature_C: tuple[float, ...] = (25.0,)
    chloride_free: bool = False
    coating_classes: tuple[str, ...] = ()
    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "<defaults>"

    def with_overrides(self, **values: Any) -> EnumerationConfig:
        """Copy with the non-None values replaced (command-line flags over the file);
        ``include``/``exclude`` replace the lists of the kinds they name only."""
        values = {k: v for k, v in values.items() if v is not None}
        for key in ("include", "exclude"):
            if key in values:
                values[key] = {**getattr(self, key), **values[key]}
        return replace(self, **values)


def default_enumeration_path() -> Path:
    """``experiments/enumerate.toml`` of the source tree, or the packaged copy."""
    return default_config_path("enumerate")


def load_enumeration_config(path: str | Path | None = None) -> EnumerationConfig:
    """Read and check an enumeration TOML file (default ``experiments/enumerate.toml``).

    Unknown tables/keys, wrong types and bad values raise
    :class:`~screen.learn.config.ConfigError` naming the file, the key and what is accepted.
    """
    path = Path(path) if path is not None else default_enumeration_path()
    where = str(path)
    tables = read_toml_tables(path, _SCHEMA, "enumeration config")
    out: dict[str, Any] = {"source": where}
    for table, content in tables.items():
        for key, value in content.items():
            name = f"{table}.{key}"
            if table in ("include", "exclude"):
                out.setdefault(table, {})[key] = _strings(value, name, where)
            elif key in _NUMERIC:
                out[key] = _numbers(value, name, where)
            elif key in ("enabled", "chloride_free"):
                out["mixtures" if key == "enabled" else key] = value
            else:
                out[key] = _strings(value, name, where)
    config = EnumerationConfig(**out)
    check_enumeration_config(config, where)
    return config


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise ConfigError(f"{where}: '{key}' = {value!r}: every entry must be a non-empty "
                          "string")
    return tuple(dict.fromkeys(v.strip() for v in items))


def _numbers(value: Any, key: str, where: str) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        raise ConfigError(f"{where}: '{key}' = {value!r}: every entry must be a number")
    return tuple(dict.fromkeys(float(v) for v in items))


def check_enumeration_config(config: EnumerationConfig, where: str = "enumeration config"
                             ) -> None:
    """Value checks shared by the file loader and the command-line overrides."""
    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: {_TOML_KEY.get(key, key)!r}: {message}")

    for key, allowed in (("metals", METALS), ("cell_type", CELL_TYPES),
                         ("coating_classes", COATING_CLASSES)):
        for value in getattr(config, key):
            if value not in allowed:
                raise bad(key, f"{value!r}; accepted: {', '.join(allowed)}")
    for key in ("metals", "cell_type", *_NUMERIC):
        if not getattr(config, key):
            raise bad(key, "needs at least one value")
    for key in _NUMERIC:
        spec = COLUMN_BY_NAME[key]
        for value in getattr(config, key):
            above = spec.low is None or (value > spec.low if spec.low_open else value >= spec.low)
            if not (math.isfinite(value) and above and (spec.high is None or value <= spec.high)):
                raise bad(key, f"{value!r}: expected {spec.bounds_text()}")
    for ratio in config.ratios:
        normalize_ratio(ratio, f"{where}: 'mixtures.ratios'")
    if config.mixtures and not config.ratios:
        raise bad("mixtures.ratios", "needs at least one 'a:b' ratio when mixtures are enabled")
    for table in ("include", "exclude"):
        unknown = [k for k in getattr(config, table) if k not in FILTER_KINDS]
        if unknown:
            raise bad(table, f"unknown kind(s) {', '.join(map(repr, unknown))}; accepted: "
                             f"{', '.join(FILTER_KINDS)}")


def normalize_ratio(text: str, where: str = "ratio") -> tuple[int, int]:
    """``'a:b'`` as the reduced integer pair (``'2:2'`` → (1, 1), ``'1.5:1'`` → (3, 2))."""
    try:
        a, b = (Fraction(part.strip()) for part in text.split(":"))
    except (ValueError, ZeroDivisionError):  # not two parts, or not numbers
        a = b = Fraction(0)
    if not (a > 0 and b > 0):
        raise ConfigError(f"{where}: {text!r}: expected 'a:b' with two positive numbers, "
                          "e.g. '1:1' or '2:1'")
    r = a / b
    return r.numerator, r.denominator


# ---------------------------------------------------------------------------- the space
@dataclass(frozen=True)
class _Categorical:
    """A string column drawn from one axis: per-axis-entry codes into fixed categories."""

    codes: np.ndarray
    dtype: pd.CategoricalDtype


def _categorical(values: list[str]) -> _Categorical:
    categories = list(dict.fromkeys(values))
    position = {v: i for i, v in enumerate(categories)}
    codes = np.array([position[v] for v in values], dtype=np.int32)
    return _Categorical(codes, pd.CategoricalDtype(categories))


@dataclass(frozen=True)
class CandidateSpace:
    """The de-duplicated axes of a candidate library (canonical names, values in the units
    of the interfaces columns; ``None`` = blank concentration/thickness)."""

    metal: tuple[str, ...]
    anion: tuple[str, ...]
    salt_conc_M: tuple[float, ...]
    solvent: tuple[tuple[str, str], ...]  # (solvent, solvent_ratio)
    additive: tuple[tuple[str, float | None], ...]  # (additive, additive_conc_M)
    coating: tuple[tuple[str, float | None], ...]  # (coating, coating_thickness_um)
    cell_type: tuple[str, ...]
    current_density_mA_cm2: tuple[float, ...]
    areal_capacity_mAh_cm2: tuple[float, ...]
    temperature_C: tuple[float, ...]
    source: str = "<defaults>"

    @property
    def axes(self) -> dict[str, tuple]:
        """Axis name → entries, most significant first."""
        return {name: getattr(self, name) for name in AXIS_NAMES}

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of entries per axis (in :data:`AXIS_NAMES` order)."""
        return tuple(len(getattr(self, name)) for name in AXIS_NAMES)

    def count(self) -> int:
        """Exact number of candidates (product of the axis sizes), nothing materialized."""
        return math.prod(self.sizes)

    def digest(self) -> str:
        """SHA-256 of the axes: equal digests mean equal candidates with equal ids."""
        text = json.dumps(self.axes, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def _columns(self) -> list[tuple[str, int, _Categorical | np.ndarray]]:
        """(output column, axis position, lookup) for every formulation column."""
        def numbers(values) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        pos = {name: i for i, name in enumerate(AXIS_NAMES)}
        out: list[tuple[str, int, _Categorical | np.ndarray]] = [
            ("metal", pos["metal"], _categorical(list(self.metal))),
            ("anion", pos["anion"], _categorical(list(self.anion))),
            ("salt_conc_M", pos["salt_conc_M"], numbers(self.salt_conc_M)),
            ("solvent", pos["solvent"], _categorical([s for s, _ in self.solvent])),
            ("solvent_ratio", pos["solvent"], _categorical([r for _, r in self.solvent])),
            ("additive", pos["additive"], _categorical([a for a, _ in self.additive])),
            ("additive_conc_M", pos["additive"], numbers(c for _, c in self.additive)),
            ("coating", pos["coating"], _categorical([c for c, _ in self.coating])),
            ("coating_thickness_um", pos["coating"], numbers(t for _, t in self.coating)),
            ("cell_type", pos["cell_type"], _categorical(list(self.cell_type))),
        ]
        out += [(name, pos[name], numbers(getattr(self, name)))
                for name in ("current_density_mA_cm2", "areal_capacity_mAh_cm2",
                             "temperature_C")]
        assert tuple(c for c, _, _ in out) == FORMULATION_COLUMNS
        return out

    def frame(self, start: int, stop: int) -> pd.DataFrame:
        """Candidates ``start <= candidate_id < stop`` as a DataFrame: ``candidate_id``
        (int64) then :data:`~screen.data.schema.FORMULATION_COLUMNS`; strings are
        Categorical."""
        n = self.count()
        if not 0 <= start <= stop <= n:
            raise IndexError(f"candidate range [{start}, {stop}) outside [0, {n})")
        ids = np.arange(start, stop, dtype=np.int64)
        digits = np.unravel_index(ids, self.sizes)
        data: dict[str, Any] = {"candidate_id": ids}
        for column, axis, lookup in self._columns:
            if isinstance(lookup, _Categorical):
                data[column] = pd.Categorical.from_codes(
                    lookup.codes.take(digits[axis]), dtype=lookup.dtype, validate=False)
            else:
                data[column] = lookup.take(digits[axis])
        return pd.DataFrame(data, copy=False)

    def iter_chunks(self, chunk_rows: int = ROW_GROUP_ROWS, start: int = 0,
                    stop: int | None = None) -> Iterator[pd.DataFrame]:
        """Lazily yield :meth:`frame` chunks of at most ``chunk_rows`` rows covering
        ``[start, stop)`` (default: every candidate), in id order."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        stop = self.count() if stop is None else stop
        for begin in range(start, stop, chunk_rows):
            yield self.frame(begin, min(begin + chunk_rows, stop))

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: source, count, axis sizes and values, digest."""
        return {"format": LIBRARY_FORMAT, "version": LIBRARY_VERSION, "source": self.source,
                "count": self.count(), "digest": self.digest(),
                "axis_sizes": dict(zip(AXIS_NAMES, self.sizes, strict=True)),
                "axes": {k: list(v) for k, v in self.axes.items()}}


def build_candidate_space(config: EnumerationConfig, library: ComponentLibrary | None = None
                          ) -> CandidateSpace:
    """Resolve the config against the library into de-duplicated axes.

    Order: the lists (or the library defaults) → ``include`` (keep only these; a name that is
    not among the choices is an error) → ``exclude`` → ``chloride_free`` (anions and
    additives without a Cl atom) → ``coating_classes``. An axis left empty is an error.
    """
    library = library if library is not None else ComponentLibrary.load()
    where = config.source

    def by_kind(kinds: tuple[str, ...]) -> list[str]:
        return [c.name for c in library.entries["solvent"] if c.category in kinds]

    def names(kind: str, key: str, values: tuple[str, ...], none_ok: bool = False) -> list[str]:
        return resolve_names(library, kind, values, key, where, none_ok=none_ok)

    choices = {
        "anion": (names("anion", "space.anions", config.anions) if config.anions
                  else library.names("anion")),
        "solvent": (names("solvent", "space.solvents", config.solvents) if config.solvents
                    else by_kind(DEFAULT_SOLVENT_KINDS)),
        "additive": (names("solvent", "space.additives", config.additives, none_ok=True)
                     if config.additives else [NONE_VALUE, *by_kind(DEFAULT_ADDITIVE_KINDS)]),
        "coating": (names("coating", "space.coatings", config.coatings, none_ok=True)
                    if config.coatings else library.names("coating")),
    }
    choices["cosolvent"] = ((names("solvent", "mixtures.cosolvents", config.cosolvents)
                             if config.cosolvents else list(choices["solvent"]))
                            if config.mixtures else [])
    choices["coating"] = [NONE_VALUE if is_none(c) else c for c in choices["coating"]]
    for kind, lib_kind in FILTER_KINDS.items():
        none_ok = kind in ("additive", "coating")
        targets = ("solvent", "cosolvent") if kind == "solvent" else (kind,)
        if keep := config.include.get(kind):
            keep = names(lib_kind, f"include.{kind}", keep, none_ok)
            offered = {n for t in targets for n in choices[t]}
            if missing := [n for n in keep if n not in offered]:
                raise ConfigError(f"{where}: 'include.{kind}': {', '.join(map(repr, missing))} "
                                  f"not among the {kind} choices ({', '.join(sorted(offered))})"
                                  "; add it to the list in [space]/[mixtures] first")
            for t in targets:
                choices[t] = [n for n in choices[t] if n in keep]
        if drop := config.exclude.get(kind):
            drop = set(names(lib_kind, f"exclude.{kind}", drop, none_ok))
            for t in targets:
                choices[t] = [n for n in choices[t] if n not in drop]
    if config.chloride_free:
        chloride = ElementChecker(library)
        choices["anion"] = [a for a in choices["anion"] if not chloride.contains_cl("anion", a)]
        choices["additive"] = [a for a in choices["additive"]
                               if not chloride.contains_cl("solvent", a)]
    if config.coating_classes:
        choices["coating"] = [c for c in choices["coating"]
                              if _coating_class(library, c) in config.coating_classes]
    for kind in ("anion", "solvent", "additive", "coating"):
        if not choices[kind]:
            raise ConfigError(f"{where}: no {kind} left after the lists and filters "
                              "(include/exclude, chloride_free, coating_classes)")
    return CandidateSpace(
        metal=config.metals,
        anion=tuple(choices["anion"]),
        salt_conc_M=config.salt_conc_M,
        solvent=solvent_systems(choices["solvent"], choices["cosolvent"], config.ratios,
                                library),
        additive=_with_amounts(choices["additive"], config.additive_conc_M),
        coating=_with_amounts(choices["coating"], config.coating_thickness_um),
        cell_type=config.cell_type,
        current_density_mA_cm2=config.current_density_mA_cm2,
        areal_capacity_mAh_cm2=config.areal_capacity_mAh_cm2,
        temperature_C=config.temperature_C,
        source=where,
    )


def check_space(space: CandidateSpace, library: ComponentLibrary,
                component_check=None) -> list[str]:
    """Check every value of the axes with the candidate check of ``rank``
    (:class:`~screen.data.candidate_checks.CandidateChecker`) before anything is generated:
    raises :class:`EnumerationError` listing each refused value; returns the warnings (e.g. a
    Mg alloy coating offered for a Ca anode) as lines."""
    from screen.data.candidate_checks import CandidateChecker

    checker = CandidateChecker(library, component_check=component_check)
    columns = {column: [] for column, _, _ in space._columns}
    for column, _, lookup in space._columns:
        values = lookup.dtype.categories if isinstance(lookup, _Categorical) else lookup
        columns[column] = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    errors = [f"{space.source}: {column} {value!r}: {message}"
              for column, values in columns.items()
              for value, message in checker.value_problems(column, values)]
    if errors:
        raise EnumerationError("the candidate library would hold candidates that rank "
                               "refuses:\n  " + "\n  ".join(errors))
    pairs = pd.DataFrame([(m, c, t) for m in space.metal for c, t in space.coating],
                         columns=["metal", "coating", "coating_thickness_um"])
    found = checker.check(pairs.assign(anion=space.anion[0], solvent=space.solvent[0][0]),
                          space.source)
    warned = found[found["severity"] == "warning"].drop_duplicates(["row", "reason"])
    return list(dict.fromkeys(
        f"{space.source}: metal {pairs.loc[p.row - 1, 'metal']}, {p.column} {p.value!r}: "
        f"{p.reason}" for p in warned.itertuples()))


def _coating_class(library: ComponentLibrary, name: str) -> str:
    return "none" if name == NONE_VALUE else library.resolve("coating", name).category


def _with_amounts(names: list[str], amounts: tuple[float, ...]
                  ) -> tuple[tuple[str, float | None], ...]:
    """``none`` first with a blank amount, then every other name at every amount."""
    head = [(NONE_VALUE, None)] if NONE_VALUE in names else []
    return tuple(head + [(n, a) for n in names if n != NONE_VALUE for a in amounts])


def solvent_systems(solvents: list[str], cosolvents: list[str], ratios: tuple[str, ...],
                    library: ComponentLibrary) -> tuple[tuple[str, str], ...]:
    """Single solvents (ratio ``''``), then each distinct binary mixture as
    (``'A:B'``, ``'a:b'``): ``A`` before ``B`` in the library's file order, ratio reduced.
    A co-solvent equal to the solvent is skipped."""
    order = {name: i for i, name in enumerate(library.names("solvent"))}
    reduced = [normalize_ratio(r) for r in ratios]
    out = dict.fromkeys((s, "") for s in solvents)
    for a in solvents:
        for b in cosolvents:
            if a == b:
                continue
            swap = (order.get(a, len(order)), a) > (order.get(b, len(order)), b)
            first, second = (b, a) if swap else (a, b)
            for p, q in reduced:
                p, q = (q, p) if swap else (p, q)
                out.setdefault((f"{first}:{second}", f"{p}:{q}"))
    return tuple(out)


# ---------------------------------------------------------------------------- writing
def write_candidates(space: CandidateSpace, out: str | Path, *,
                     chunk_rows: int = ROW_GROUP_ROWS,
                     rows_per_file: int = DEFAULT_ROWS_PER_FILE,
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Write every candidate as Parquet (zstd, dictionary-encoded strings, one row group per
    chunk of ``chunk_rows``) and return ``out``.

    One file ``out`` (+ sidecar ``out.json``) when the library fits in ``rows_per_file``
    rows, else a directory ``out/`` of ``part-00000.parquet``, ... (+ ``out/_library.json``).
    Everything is written to a temporary sibling and renamed into place at the end: an
    interrupted run leaves no ``out`` and no temporary files, and an existing output is only
    replaced once the new one is complete. ``progress(rows_written, total)`` is called after
    each chunk.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if chunk_rows < 1 or rows_per_file < 1:
        raise ValueError("chunk_rows and rows_per_file must be >= 1")
    out = Path(out)
    check_output_path(out)
    total = space.count()
    bounds = [(s, min(s + rows_per_file, total)) for s in range(0, total, rows_per_file)]
    partitioned = len(bounds) > 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        files = []
        done = 0
        for i, (start, stop) in enumerate(bounds):
            path = tmp / (f"part-{i:05d}.parquet" if partitioned else "data.parquet")
            writer = None
            try:
                for chunk in space.iter_chunks(chunk_rows, start, stop):
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                    writer.write_table(table, row_group_size=chunk_rows)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            finally:
                if writer is not None:
                    writer.close()
            files.append({"name": path.name if partitioned else out.name,
                          "rows": stop - start, "sha256": _sha256(path)})
        meta = {**space.describe(), "files": files, "rows_per_file": rows_per_file,
                "row_group_rows": chunk_rows}
        sidecar = tmp / (SIDECAR_NAME if partitioned else "data.json")
        sidecar.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if partitioned:
            _move_into_place(tmp, out)
        else:
            _move_into_place(tmp / "data.parquet", out)
            os.replace(sidecar, sidecar_path(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def sidecar_path(out: str | Path) -> Path:
    """The JSON sidecar of a library: ``out/_library.json`` or ``out.json``."""
    out = Path(out)
    return out / SIDECAR_NAME if out.is_dir() else out.with_name(out.name + ".json")


def check_output_path(out: Path) -> None:
    """Refuse to replace a directory that is not a library written by this module."""
    if out.is_dir() and not _is_library_dir(out):
        raise EnumerationError(
            f"{out}: is an existing directory that is not a candidate library written by "
            f"`mgscreen enumerate` (no {SIDECAR_NAME}); refusing to replace it. Choose another "
            "--out or remove the directory.")


def _move_into_place(new: Path, out: Path) -> None:
    """Rename ``new`` (file or directory) onto ``out``. A file replaces a file atomically;
    otherwise the old output is first renamed aside (never half deleted), then removed, with
    the sidecar of a replaced single-file library."""
    check_output_path(out)
    if new.is_file() and (out.is_file() or not out.exists()):
        os.replace(new, out)
        return
    old_sidecar = out.with_name(out.name + ".json")
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    try:
        if out.exists():
            os.replace(out, trash / "old")
        os.replace(new, out)
        if out.is_dir() and _is_sidecar(old_sidecar):
            os.replace(old_sidecar, trash / "old.json")
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _is_library_dir(path: Path) -> bool:
    return _is_sidecar(path / SIDECAR_NAME)


def _is_sidecar(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == LIBRARY_FORMAT


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
