"""The one TOML config loader of mgscreen: files, strict key/type checks, overrides, writing.

Every config kind (a target's training config, ``tune``, ``enumerate``, ``rank``, ``design``)
is read here and turned into a checked frozen dataclass by its own module, which only declares
its keys. Errors are :class:`ConfigError` naming the file, the key and what is accepted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: table -> key -> (accepted Python types, description for errors)
TableSchema = dict[str, dict[str, tuple[tuple[type, ...], str]]]


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and key."""


def default_config_path(name: str) -> Path:
    """``experiments/<name>.toml`` (a target, or ``design``/``enumerate``/``rank``) of the
    source tree, or the packaged copy."""
    from screen.data.paths import dataset_dir

    for base in (Path(__file__).resolve().parents[2] / "experiments",
                 dataset_dir().parent / "experiments"):
        if (base / f"{name}.toml").is_file():
            return base / f"{name}.toml"
    raise ConfigError(f"experiments/{name}.toml not found; pass --config PATH")


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The TOML document at ``path`` (ConfigError: missing, unreadable or invalid)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def read_toml_tables(path: Path, schema: TableSchema, what: str) -> dict[str, dict[str, Any]]:
    """Read a TOML file of ``[table]``s whose keys and value types are given by ``schema``.
    Returns {table: {key: value}}; an unknown table or key, or a value of the wrong type,
    raises :class:`ConfigError` naming the file, the key and what is accepted."""
    where = str(path)
    data = read_toml(path, what)
    out: dict[str, dict[str, Any]] = {}
    for table, content in data.items():
        if table not in schema:
            raise ConfigError(f"{where}: unknown key {table!r}; accepted tables: "
                              f"{', '.join(schema)}")
        if not isinstance(content, dict):
            raise ConfigError(f"{where}: {table!r} must be a table ([{table}])")
        for key, value in content.items():
            if key not in schema[table]:
                raise ConfigError(f"{where}: unknown key '{table}.{key}'; accepted in "
                                  f"[{table}]: {', '.join(schema[table])}")
            types, text = schema[table][key]
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                raise ConfigError(f"{where}: '{table}.{key}' = {value!r}: expected {text}")
            out.setdefault(table, {})[key] = value
    return out


def check_nested(table: Mapping[str, Any], spec: Mapping[str, Any], where: str,
                 prefix: str = "") -> None:
    """Check a nested table against ``spec`` (key -> type, a nested spec dict, or None for a
    free-form table checked elsewhere); ConfigError names the first bad key."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key not in spec:
            raise ConfigError(f"{where}: unknown key {name!r}; accepted here: "
                              f"{', '.join(prefix + k for k in spec)}")
        expected = spec[key]
        if expected is None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {name!r} must be a table")
        elif isinstance(expected, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {name!r} must be a table")
            check_nested(value, expected, where, f"{name}.")
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{where}: {name!r} = {value!r} must be {expected.__name__}")


def apply_override(config: dict, item: str, where: str = "<override>") -> None:
    """Set ``a.b.c=value`` in a nested dict (value parsed as a TOML literal, else kept as a
    string)."""
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


class FrozenDict(dict):
    """A dict that refuses changes (a config table after checking): it still is a ``dict``
    for JSON, TOML and the model factories, but ``d[k] = v`` raises TypeError."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a checked config is read-only; use its with_overrides() or "
                        "to_dict() to change a copy")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse  # type: ignore[assignment]

    def __reduce__(self):  # copy / deepcopy / pickle rebuild from a plain dict
        return (type(self), (dict(self),))


class FrozenList(list):
    """A list that refuses changes (the list values of a checked config)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a checked config is read-only; use its with_overrides() or "
                        "to_dict() to change a copy")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]

    def __reduce__(self):  # copy / deepcopy / pickle rebuild from a plain list
        return (type(self), (list(self),))


def frozen(value: Any) -> Any:
    """A read-only deep copy: dicts become :class:`FrozenDict`, lists :class:`FrozenList`."""
    if isinstance(value, Mapping):
        return FrozenDict({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return FrozenList(frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """Plain dicts and lists again (for TOML, JSON and MLflow parameters)."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thawed(v) for v in value]
    return value


def toml_literal(value: Any) -> str:
    """``value`` as a TOML literal (what :func:`apply_override` parses back)."""
    import tomli_w

    return tomli_w.dumps({"v": thawed(value)}).split("=", 1)[1].strip()


def write_toml(config: Mapping[str, Any], path: str | Path, header: str = "") -> Path:
    """Write a nested config as TOML, atomically (a reader never sees half a file);
    ``header`` lines become ``#`` comments at the top."""
    import tomli_w

    from screen.data.io import atomic_path

    comment = "".join(f"# {line}\n" for line in header.splitlines())
    text = comment + tomli_w.dumps(thawed(config))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
