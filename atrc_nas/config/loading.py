"""Load a config (YAML file + overrides) into its schema, export the schema, compare configs."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from atrc_nas.config.errors import ConfigError, Loc, dotted, format_validation_error, model_at
from atrc_nas.config.schema import TRUSTED, Issue, ResultNeutral, issues_error
from atrc_nas.config.yaml_io import Override, apply_overrides, read_yaml

M = TypeVar("M", bound=BaseModel)


Checks = Callable[[Any], list[Issue]]


def parse_config(cls: type[M], data: Mapping[str, Any] | None, *, source: str = "config",
                 overrides: Sequence[Override] = (), checks: Checks | None = None) -> M:
    """Validate ``data`` against ``cls``, then run ``checks`` on the config (problems its
    schema cannot see, e.g. the configs an experiment composes); a ConfigError names
    ``source`` (or the override that set the bad value), the key, the value and what is
    valid."""

    def source_of(loc: Loc) -> str:
        for override in reversed(overrides):
            if override.covers(loc):
                return f"override {override.text!r}"
        return source

    try:
        config = cls.model_validate(dict(data or {}))
        issues = checks(config) if checks is not None else []
        if issues:
            raise issues_error(cls.__name__, issues)
    except ValidationError as err:
        raise format_validation_error(cls, err, source_of) from None
    return config


def trusted_config(cls: type[M], data: Mapping[str, Any]) -> M:
    """A config validated before (on the driver), rebuilt from its JSON where it runs: types
    are parsed, the cross-field checks (which read files, registries and search spaces) are
    not run again."""
    return cls.model_validate(dict(data), context={TRUSTED: True})


def load_config(path: str | Path, cls: type[M], overrides: Sequence[str] = (),
                checks: Checks | None = None) -> M:
    """Read the YAML file ``path`` (an empty one is refused: a config names at least one
    setting), apply ``KEY=VALUE`` overrides, validate and run ``checks``."""
    parsed = [Override.parse(text) for text in overrides]
    data = read_yaml(path)
    if not data:
        raise ConfigError(f"{path}: the file holds no settings; a config names at least "
                          "what it runs (see --print-schema, or the files in experiments/)")
    data = apply_overrides(data, parsed)
    return parse_config(cls, data, source=str(path), overrides=parsed, checks=checks)


def config_dict(cfg: BaseModel) -> dict[str, Any]:
    """The plain-JSON view of a config (what ``config.json`` holds)."""
    return cfg.model_dump(mode="json")


def json_schema(cls: type[BaseModel]) -> str:
    """The JSON Schema of ``cls`` (for editors completing and checking YAML files)."""
    schema = cls.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2)


def _flatten(data: Any, prefix: Loc = ()) -> dict[Loc, Any]:
    if isinstance(data, Mapping) and data:
        out: dict[Loc, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, (*prefix, key)))
        return out
    return {prefix: data}


def _neutral(cls: type[BaseModel], loc: Loc) -> bool:
    """Whether the field at ``loc`` (or a section holding it) is marked ResultNeutral."""
    for depth in range(1, len(loc) + 1):
        section = model_at(cls, loc[:depth - 1])
        if section is None or loc[depth - 1] not in section.model_fields:
            return False
        field = section.model_fields[loc[depth - 1]]
        marks = [*field.metadata, *typing.get_args(field.annotation)[1:]]
        if any(isinstance(m, ResultNeutral) for m in marks):
            return True
    return False


def result_changes(cls: type[BaseModel], saved: Mapping[str, Any],
                   current: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two plain configs of ``cls``, leaving out
    fields marked ResultNeutral; each as ``key: saved -> current``."""
    old, new = _flatten(saved), _flatten(current)
    changes = []
    for loc in sorted(set(old) | set(new), key=lambda loc: tuple(map(str, loc))):
        missing = "<absent>"
        before, after = old.get(loc, missing), new.get(loc, missing)
        if before != after and not _neutral(cls, loc):
            changes.append(f"{dotted(loc)}: {before!r} -> {after!r}")
    return changes


def check_resumable(cls: type[BaseModel], config_file: Path, cfg: BaseModel) -> None:
    """Refuse to resume the run whose ``config.json`` is ``config_file`` with settings that
    would change its results."""
    try:
        saved = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{config_file}: cannot read the saved config of the run to resume "
                          f"({err})") from None
    changes = result_changes(cls, saved, config_dict(cfg))
    if changes:
        raise ConfigError(
            f"--resume: the config differs from the run's saved {config_file} in settings "
            f"that change results: {'; '.join(changes)}. Resume with the saved settings, "
            "or start a new run under another name"
        )
