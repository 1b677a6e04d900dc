"""ConfigError, and pydantic validation errors turned into one line per bad setting."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A config file, override or value is invalid; the message says where and why."""


Loc = tuple[Any, ...]


def dotted(loc: Loc) -> str:
    """``("data", "crop_size", 0)`` -> ``data.crop_size[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def models_in(hint: Any) -> list[tuple[type[BaseModel], str]]:
    """The pydantic models a field annotation can hold (through Optional, Annotated, ...),
    each with the key suffix that reaches it: "" (the field itself), "[i]" (list items) or
    ".<key>" (mapping values)."""
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [(hint, "")]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return models_in(args[0])
    if origin in (list, tuple):
        return [(m, "[i]" + suffix) for m, suffix in models_in(args[0])]
    if origin is dict:
        return [(m, ".<key>" + suffix) for m, suffix in models_in(args[1])]
    if origin in (typing.Union, types.UnionType):
        return [found for arg in args for found in models_in(arg)]
    return []


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The config section class at ``loc`` under ``root`` (None past a plain mapping)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        found = [m for m, suffix in models_in(model.model_fields[part].annotation)
                 if not suffix]
        model = found[0] if found else None
    return model


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(root: type[BaseModel], error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        section = model_at(root, loc[:-1])
        if section is not None:
            keys = list(section.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown key{hint}; valid keys here: {', '.join(keys)}"
        return "unknown key"
    if kind == "missing":
        return "required key missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a section of keys (a mapping)"
    else:
        message = error["msg"].replace("Input should be", "must be")
        message = message.replace("Value error, ", "")
    value = error.get("input")
    if "input" in error and not isinstance(value, dict) and not (kind == "config"
                                                                   and value is None):
        message += f", got {_value(value)}"
    return message


_UNION_TAG = re.compile(r"^(?:constrained-|function-|literal\[|tagged-union|lax-|strict-|json-|"
                        r"(?:int|float|str|bool|list|tuple|dict|none|nullable)(?:\[|$))")


def _strip_union_tags(loc: Loc, root: type[BaseModel]) -> Loc:
    """Pydantic adds a member tag (``int``, ``literal['auto']``...) to errors inside a union;
    keep only the config keys."""
    kept: list[Any] = []
    for part in loc:
        inside_section = model_at(root, tuple(kept)) is not None
        if isinstance(part, str) and not inside_section and _UNION_TAG.match(part):
            continue
        kept.append(part)
    return tuple(kept)


def format_validation_error(
    root: type[BaseModel], err: ValidationError, source_of: Callable[[Loc], str]
) -> ConfigError:
    """One line per error: ``SOURCE: KEY: what is wrong, got VALUE``; a union's several
    complaints about one key are merged into one line."""
    lines: list[str] = []
    by_key: dict[str, list[str]] = {}
    order: list[tuple[str, Loc]] = []
    for error in err.errors():
        loc = _strip_union_tags(tuple(error["loc"]), root)
        key = dotted(loc)
        if key not in by_key:
            by_key[key] = []
            order.append((key, loc))
        message = _message(root, error)
        if message not in by_key[key]:
            by_key[key].append(message)
    for key, loc in order:
        messages = by_key[key]
        lines.append(f"{source_of(loc)}: {key}: {' or '.join(messages)}")
    return ConfigError("\n".join(lines))

