"""Training configs (``experiments/<target>.toml``): the keys every target shares plus the ones
its registry entry declares, read by the one loader (:mod:`screen.data.config`) into a checked,
frozen :class:`TrainConfig`.

Defaults live in the TOML files; this module only knows which keys exist and their types.
``model.params`` is free-form here and checked by the target's model factory; ``[tune]`` is
checked by :mod:`screen.learn.tune`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from screen.data.config import (
    ConfigError,
    apply_override,
    check_nested,
    default_config_path,
    frozen,
    read_toml,
    thawed,
)

__all__ = ["CV_SCHEMES", "ConfigError", "TrainConfig", "apply_override", "check_config",
           "default_config_path", "load_config", "schema"]

CV_SCHEMES = ("random", "anion_family", "source")

# key -> type (dict = nested table, None = free-form table checked elsewhere)
_COMMON: dict[str, Any] = {
    "target": str, "seed": int,
    "data": {"min_rows": int},
    "features": {"blocks": list, "include": list},
    "model": {"family": str, "params": None},
    "cv": {"schemes": list, "primary": str, "n_splits": int},
    "domain": {"k": int, "quantile": float, "tolerance": float},
    "tune": None,  # search space and study settings, checked by screen.learn.tune
}
_REQUIRED = ("data", "features", "model", "cv", "domain")


def schema(target: str) -> dict[str, Any]:
    """Allowed keys and types for one target (the common ones plus its registry entry's
    ``config_tables``)."""
    from screen.learn.registry import get_target

    merged = copy.deepcopy(_COMMON)
    for key, value in get_target(target).config_tables.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class TrainConfig(Mapping):
    """A checked, read-only training config. Tables are read-only mappings; it reads like the
    TOML it came from (``config["cv"]["primary"]``, ``config.get("tune")``), and
    :meth:`to_dict` gives a plain nested dict (for TOML, JSON and MLflow parameters)."""

    tables: Mapping[str, Any]
    source: str = "<config>"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<config>") -> TrainConfig:
        """Check ``data`` (ConfigError naming ``where`` and the key) and freeze it."""
        plain = thawed(data)
        check_config(plain, where)
        return cls(frozen(plain), where)

    # Mapping protocol: the top-level keys of the TOML document
    def __getitem__(self, key: str) -> Any:
        return self.tables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    @property
    def target(self) -> str:
        """The target this config trains."""
        return self.tables["target"]

    @property
    def seed(self) -> int:
        """Seed of every random choice of a run."""
        return int(self.tables["seed"])

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable nested copy."""
        return thawed(self.tables)

    def with_overrides(self, items: list[str], where: str | None = None) -> TrainConfig:
        """A new config with ``key.sub=value`` overrides applied and checked."""
        data = self.to_dict()
        for item in items:
            apply_override(data, item, where or self.source)
        return TrainConfig.from_dict(data, where or self.source)


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML config, apply ``key.sub=value`` overrides and check it."""
    path = Path(path)
    data = read_toml(path, "config file")
    for item in overrides or []:
        apply_override(data, item, str(path))
    return TrainConfig.from_dict(data, str(path))


def check_config(config: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` for an unknown key, a wrong type or a bad value."""
    from featurizers.blocks import block_names
    from screen.learn.registry import target_names

    target = config.get("target")
    if target not in target_names():
        raise ConfigError(f"{where}: target {target!r}; accepted: "
                          f"{', '.join(target_names())}")
    check_nested(config, schema(target), where)
    for key in _REQUIRED:
        if key not in config:
            raise ConfigError(f"{where}: missing table [{key}]")
    known = block_names()
    blocks = list(config["features"].get("blocks", []))
    bad = [b for b in blocks if b not in known]
    if bad or not blocks:
        raise ConfigError(f"{where}: features.blocks {bad or '[]'}; accepted: "
                          f"{', '.join(known)}")
    schemes = list(config["cv"].get("schemes", []))
    bad = [s for s in schemes if s not in CV_SCHEMES]
    if bad or not schemes:
        raise ConfigError(f"{where}: cv.schemes {bad or '[]'}; accepted: {', '.join(CV_SCHEMES)}")
    if config["cv"].get("primary") not in schemes:
        raise ConfigError(f"{where}: cv.primary {config['cv'].get('primary')!r} must be one of "
                          f"cv.schemes {schemes}")
    conformity = config.get("uncertainty", {}).get("conformity")
    if conformity is not None:
        from screen.learn.models.overpotential import CONFORMITY_SCORES

        if conformity not in CONFORMITY_SCORES:
            raise ConfigError(f"{where}: uncertainty.conformity {conformity!r}; accepted: "
                              f"{', '.join(CONFORMITY_SCORES)}")
