"""Building blocks of every config schema: the Section base model and shared field types.

Sections are strict pydantic models: unknown keys, wrong types (``true`` for a count,
``"8"`` for a number) and out-of-range values are errors with the key's location. A
section left empty in YAML (``data:``) means its defaults. Checks that need several
fields or a registry (a task of the dataset, a metric's options) live in a root config's
``issues()``; they run as part of validation and report the key they concern.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[Any, ...]
Issue = tuple[Loc, str, Any]  # (where, what is wrong, the value found there)
TRUSTED = "trusted"  # validation context: the config was checked before (see trusted_config)


class Section(BaseModel):
    """A config section: strict types, unknown keys refused, empty means defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True,
                              use_attribute_docstrings=True, validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_take_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            empty = [name for name, value in data.items() if value is None
                     and name in cls.model_fields
                     and _is_section(cls.model_fields[name].annotation)]
            if empty:
                data = {**data, **{name: {} for name in empty}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Section:
        if info.context and info.context.get(TRUSTED):
            return self
        issues = self.issues()
        if issues:
            raise issues_error(type(self).__name__, issues)
        return self

    def issues(self) -> list[Issue]:
        """Problems only visible across fields or through registries (root configs)."""
        return []


def issues_error(title: str, issues: Iterable[Issue]) -> ValidationError:
    """Issues as a pydantic ValidationError (reported like any other bad value)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=value)
        for loc, message, value in issues
    ])


def _is_section(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Section)


class ResultNeutral:
    """Marks a field that cannot change results (display, logging, data-loading
    parallelism): ``--resume`` accepts a change of it."""

    def __repr__(self) -> str:
        return "ResultNeutral()"


RESULT_NEUTRAL = ResultNeutral()


def _as_tuple(value: Any) -> Any:
    """A YAML list where a tuple is wanted (strict fields take tuples only)."""
    return tuple(value) if isinstance(value, list) else value


def _pair(value: Any) -> Any:
    """``[H, W]`` or ``"HxW"`` -> ``(H, W)``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
        if not match:
            raise PydanticCustomError("pair", "must be a pair [H, W] (or 'HxW'), e.g. [64, 80]")
        return int(match[1]), int(match[2])
    return _as_tuple(value)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
FiniteFloat = Annotated[float, AfterValidator(_finite)]
PositiveFloat = Annotated[float, Field(gt=0), AfterValidator(_finite)]
NonNegativeFloat = Annotated[float, Field(ge=0), AfterValidator(_finite)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # from 0, below 1
Momentum = Annotated[float, Field(ge=0, lt=1)]
Size = Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_pair)]  # (H, W)


def pair_of(item: Any) -> Any:
    """A ``(start, end)``-like pair of ``item`` values, written as a YAML list."""
    return Annotated[tuple[item, item], BeforeValidator(_as_tuple)]


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", value):
        raise PydanticCustomError("name", "must be a plain folder name (letters, digits, '.', "
                                  "'_', '-'; no path separators or spaces)")
    return value


def _batches(value: Any) -> Any:
    ok_int = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ok_float = isinstance(value, float) and 0 < value <= 1
    if not (ok_int or ok_float):
        raise PydanticCustomError("batches", "must be a batch count >= 1 or a fraction of the "
                                  "split in (0, 1]")
    return value


Name = Annotated[str, AfterValidator(_name)]
BatchLimit = Annotated[int | float, BeforeValidator(_batches)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


def one_of(kind: str, names: Callable[[], Iterable[str]]) -> Any:
    """A ``str`` field whose value must be a name in a live registry (``names()``); the
    JSON schema lists the names as an enum for editors."""

    def check(value: str) -> str:
        known = list(names())
        if value not in known:
            raise PydanticCustomError(
                "unknown_name", "unknown {kind}; valid: {known}",
                {"kind": kind, "known": ", ".join(known)},
            )
        return value

    def schema(js: dict[str, Any]) -> None:
        js["enum"] = list(names())

    return Annotated[str, AfterValidator(check), Field(json_schema_extra=schema)]


def _mentions_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple or any(
        _mentions_tuple(arg) for arg in typing.get_args(hint))


def signature_model(func: Callable[..., Any], name: str, exclude: Iterable[str] = ()) -> type:
    """A Section whose fields are the keyword parameters of ``func`` (type hints and
    defaults; ``Annotated[..., Field(...)]`` ranges included), minus ``exclude`` and
    ``**kwargs``: the options schema of a registry entry, read off its own signature."""
    hints = typing.get_type_hints(func, include_extras=True)
    skip = set(exclude) | {"self"}
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.name in skip or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        hint = hints.get(param.name, Any)
        if _mentions_tuple(hint):
            hint = Annotated[hint, BeforeValidator(_pair)]
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hint, default)
    return create_model(name, __base__=Section, **fields)
