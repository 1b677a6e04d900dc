"""Reading config YAML strictly, and ``KEY=VALUE`` command-line overrides.

PyYAML resolves scalars by YAML 1.1, where ``1e-3`` (no dot) is a string; here it is a
float, as in YAML 1.2 and JSON. A key repeated in one mapping is an error, not a silent
"last one wins".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from atrc_nas.config.errors import ConfigError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                first = seen[key]
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first given "
                    f"on line {first.line + 1}); give each key once"
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_FLOAT_1_2 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789."))


def parse_yaml(text: str, where: str) -> Any:
    """``text`` parsed with :class:`StrictLoader`; errors name ``where``."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{where}: not valid YAML: {at}{err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {' '.join(str(err).split())}") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file is an empty mapping)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a YAML file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}: "
                          f"{raw[err.start:err.start + 1]!r}); save the file as UTF-8") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got "
                          f"{type(data).__name__}")
    return data


@dataclass(frozen=True)
class Override:
    """One ``a.b.c=value`` from the command line; ``value`` is parsed as YAML."""

    text: str
    path: tuple[str, ...]
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        dotted, sep, raw = text.partition("=")
        parts = tuple(dotted.split("."))
        if not sep or not all(p.strip() == p and p for p in parts):
            raise ConfigError(f"override {text!r}: expected KEY=VALUE with a dotted key, "
                              "e.g. optim.max_steps=100")
        return cls(text, parts, parse_yaml(raw, f"override {text!r}"))

    def covers(self, loc: tuple[Any, ...]) -> bool:
        """Whether an error at ``loc`` concerns the value this override set: it lies inside
        it, or it is about a (non top-level) section the override wrote into."""
        keys = tuple(str(p) for p in loc)
        inside = keys[:len(self.path)] == self.path
        holds = len(keys) > 1 and self.path[:len(keys)] == keys
        return inside or holds


def apply_overrides(data: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """Set every override in the nested mapping ``data`` (in place); a section left empty
    (``None``) in the file becomes a mapping."""
    for override in overrides:
        node = data
        for depth, part in enumerate(override.path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(override.path[:depth + 1])
                raise ConfigError(f"override {override.text!r}: {where} holds {child!r}, not "
                                  "a section of keys")
            node = child
        node[override.path[-1]] = override.value
    return data
