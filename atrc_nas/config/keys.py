"""The key table of a config schema (every key, its type, default and meaning), read off the
pydantic models so that the documentation cannot drift from the code:
``python -m atrc_nas.config.keys`` prints the experiment file's (docs/experiment_keys.md)."""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from atrc_nas.config.errors import models_in


def _type_text(annotation: Any) -> str:
    """A readable type: constraints and validators left out, unions with ``|``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(_type_text(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every key of ``model``, sections recursively."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner, suffix = next(iter(models_in(field.annotation)), (None, ""))
        meaning = " ".join((field.description or "").split())
        if inner is not None and not meaning:
            meaning = " ".join((inner.__doc__ or "").split())
        if inner is not None and suffix == "":
            yield key, "section", _default_text(field), meaning
            yield from keys(inner, key + ".")
            continue
        yield key, _type_text(field.annotation), _default_text(field), meaning
        if inner is not None:
            yield from keys(inner, key + suffix + ".")


def key_table(model: type[BaseModel], title: str) -> str:
    """A Markdown page of :func:`keys`."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"# {title}", "",
             f"Generated from `{model.__module__}.{model.__name__}` by "
             "`python -m atrc_nas.config.keys`; a test keeps it equal to the schema.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {cell(t)} | `{cell(d)}` | {cell(m)} |" for k, t, d, m in keys(model)]
    return "\n".join(lines) + "\n"


def experiment_key_table() -> str:
    from atrc_nas.platform.config import ExperimentConfig

    return key_table(ExperimentConfig, "The experiment file: every key")


if __name__ == "__main__":
    sys.stdout.write(experiment_key_table())
