"""Typed YAML configs: nested dataclasses filled from a mapping, with errors naming file and key.

A config class is a dataclass whose fields are plain values, lists, dicts or other config
dataclasses. ``load_config(path, cls)`` reads YAML, ``from_dict`` checks every key against
the class, and ``to_dict`` turns a config back into plain data (for logging and hashing).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping does not match its schema."""


def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _convert(value: Any, hint: Any, key: str, source: str | None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, source)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else "; ".join(errors))
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source=source, prefix=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_where(source, key)}: expected a list, got {value!r}")
        item = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(
                    f"{_where(source, key)}: expected {len(args)} values, got {list(value)!r}"
                )
            pairs = enumerate(zip(value, args, strict=True))
            return tuple(_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in pairs)
        converted = [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple else converted
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_where(source, key)}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                f"{_where(source, key)}: {value!r} is not one of {', '.join(map(repr, args))}"
            )
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(
                f"{_where(source, key)}: expected {hint.__name__}, got {value!r}"
            )
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, source: str | None = None,
              prefix: str = "") -> T:
    """Build config ``cls`` from ``data``; unknown or ill-typed keys raise ConfigError."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where(source, prefix or '<root>')}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else k for k in unknown)
        raise ConfigError(
            f"{_where(source, dotted)}: unknown key(s); valid keys here: {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(value, hints[name], key, source)
    missing = [
        n for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else k for k in missing)
        raise ConfigError(f"{_where(source, dotted)}: required key(s) missing")
    try:
        return cls(**kwargs)
    except (ValueError, KeyError) as err:
        raise ConfigError(f"{_where(source, prefix or '<root>')}: {err}") from err


def to_dict(config: Any) -> Any:
    """Plain-data view of a config (dataclasses -> dicts, tuples -> lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested dict in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. optim.max_steps=100")
        dotted, raw = item.split("=", 1)
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path, cls: type[T], overrides: list[str] | None = None) -> T:
    data = apply_overrides(read_yaml(path), overrides or [])
    return from_dict(cls, data, source=str(path))
