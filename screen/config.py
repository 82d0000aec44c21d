"""Experiment configs: read ``experiments/*.toml``, check every key, apply overrides.

Defaults live in the TOML files; this module only knows which keys exist and their types.
``model.params`` is free-form here and checked by the model factory of the target.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

TARGETS = ("overpotential", "cycle_life", "passivation")
CV_SCHEMES = ("random", "anion_family", "source")
FEATURE_BLOCKS = ("anion", "solvent", "additive", "coating", "system")

# key -> type (dict = nested table, None = free-form table checked elsewhere)
_COMMON: dict[str, Any] = {
    "target": str, "seed": int,
    "data": {"min_rows": int},
    "features": {"blocks": list},
    "model": {"family": str, "params": None},
    "cv": {"schemes": list, "primary": str, "n_splits": int},
    "domain": {"k": int, "quantile": float},
    "tune": None,  # search space and study settings, checked by screen.tune
}
_PER_TARGET: dict[str, dict[str, Any]] = {
    "overpotential": {"data": {"kinds": list}, "uncertainty": {"confidence": float, "cv": int}},
    "cycle_life": {"data": {"unit": str}, "evaluation": {"horizon": float}},
    "passivation": {"data": {"partial_as": str}},
}


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and key."""


def schema(target: str) -> dict[str, Any]:
    """Allowed keys and types for one target."""
    merged = copy.deepcopy(_COMMON)
    for key, value in _PER_TARGET[target].items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def default_config_path(target: str) -> Path:
    """``experiments/<target>.toml`` (a target, or ``design``) of the source tree, or the
    packaged copy."""
    from screen.paths import dataset_dir

    for base in (Path(__file__).resolve().parent.parent / "experiments",
                 dataset_dir().parent / "experiments"):
        if (base / f"{target}.toml").is_file():
            return base / f"{target}.toml"
    raise ConfigError(f"experiments/{target}.toml not found; pass --config PATH")


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a TOML config, apply ``key.sub=value`` overrides, check it; return a dict."""
    path = Path(path)
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides or []:
        apply_override(config, item, str(path))
    check_config(config, str(path))
    return config


def apply_override(config: dict, item: str, where: str = "<override>") -> None:
    """Set ``a.b.c=value`` (value parsed as a TOML literal, else kept as a string)."""
    if "=" not in item:
        raise ConfigError(f"{where}: override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = key.strip().split(".")
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: override {key!r}: {part!r} is not a table")
    node[parts[-1]] = value


def check_config(config: dict, where: str) -> None:
    """Raise :class:`ConfigError` for an unknown key, a wrong type or a bad value."""
    target = config.get("target")
    if target not in TARGETS:
        raise ConfigError(f"{where}: target {target!r}; accepted: {', '.join(TARGETS)}")
    _check_table(config, schema(target), where, "")
    for key in ("data", "features", "model", "cv", "domain"):
        if key not in config:
            raise ConfigError(f"{where}: missing table [{key}]")
    bad = [b for b in config["features"].get("blocks", []) if b not in FEATURE_BLOCKS]
    if bad or not config["features"].get("blocks"):
        raise ConfigError(f"{where}: features.blocks {bad or '[]'}; accepted: "
                          f"{', '.join(FEATURE_BLOCKS)}")
    schemes = config["cv"].get("schemes", [])
    bad = [s for s in schemes if s not in CV_SCHEMES]
    if bad or not schemes:
        raise ConfigError(f"{where}: cv.schemes {bad or '[]'}; accepted: {', '.join(CV_SCHEMES)}")
    if config["cv"].get("primary") not in schemes:
        raise ConfigError(f"{where}: cv.primary {config['cv'].get('primary')!r} must be one of "
                          f"cv.schemes {schemes}")


def _check_table(table: dict, spec: dict, where: str, prefix: str) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key not in spec:
            raise ConfigError(f"{where}: unknown key {name!r}; accepted here: "
                              f"{', '.join(prefix + k for k in spec)}")
        expected = spec[key]
        if expected is None:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {name!r} must be a table")
        elif isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {name!r} must be a table")
            _check_table(value, expected, where, f"{name}.")
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{where}: {name!r} = {value!r} must be {expected.__name__}")
