"""Read ``experiments/rank.toml`` into :class:`~screen.screening.ranking.RankSettings` plus run
options.

Unknown tables or keys, wrong types and bad values raise :class:`~screen.learn.config.ConfigError`
naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from screen.data.config import ConfigError, default_config_path, read_toml_tables
from screen.learn.registry import objectives
from screen.screening.ranking import RankSettings

_NUMBER = (int, float)


def _schema() -> dict[str, dict[str, tuple[tuple[type, ...], str]]]:
    """Accepted tables and keys; objective names come from the target registry."""
    names = list(objectives())
    return {
        "ranking": {"top": ((int,), "integer >= 1"),
                    "order": ((str,), "'pareto' or 'desirability'"),
                    "bound": ((str,), "'point', 'optimistic' or 'pessimistic'"),
                    "layers": ((int,), "integer >= 1"), "domain_last": ((bool,), "true/false"),
                    "objectives": ((list,), f"subset of {names}")},
        "weights": {o: (_NUMBER, "number >= 0") for o in names},
        "anchors": {o: ((list,), "[best, worst]") for o in names},
        "run": {"engine": ((str,), "'local' or 'dask'"),
                "partition_rows": ((int,), "integer >= 1000")},
    }


@dataclass(frozen=True)
class RankConfig:
    """Ranking settings and how to run them."""

    settings: RankSettings
    engine: str = "local"
    partition_rows: int = 100_000
    source: str = "<defaults>"


def default_rank_path() -> Path:
    """``experiments/rank.toml`` of the source tree, or the packaged copy."""
    return default_config_path("rank")


def load_rank_config(path: str | Path | None = None) -> RankConfig:
    """Read and check a rank TOML file (see the module docstring)."""
    path = Path(path) if path is not None else default_rank_path()
    where = str(path)
    data = read_toml_tables(path, _schema(), "rank config")
    ranking: dict[str, Any] = dict(data.get("ranking", {}))
    if "objectives" in ranking:
        ranking["objectives"] = tuple(ranking["objectives"])
    if "weights" in data:
        ranking["weights"] = {name: float(data["weights"].get(name, 0.0))
                              for name in objectives()}
    if "anchors" in data:
        anchors = {}
        for name, pair in data["anchors"].items():
            if len(pair) != 2 or not all(isinstance(v, _NUMBER) for v in pair):
                raise ConfigError(f"{where}: 'anchors.{name}' = {pair!r}: expected [best, worst]")
            anchors[name] = (float(pair[0]), float(pair[1]))
        ranking["anchors"] = anchors
    run = data.get("run", {})
    try:
        settings = RankSettings(**ranking)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    engine = run.get("engine", "local")
    if engine not in ("local", "dask"):
        raise ConfigError(f"{where}: 'run.engine' = {engine!r}: expected 'local' or 'dask'")
    rows = run.get("partition_rows", 100_000)
    if rows < 1000:
        raise ConfigError(f"{where}: 'run.partition_rows' = {rows}: expected >= 1000")
    return RankConfig(settings=settings, engine=engine, partition_rows=rows, source=where)
