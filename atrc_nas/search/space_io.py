"""Search-space files (``search_spaces/*.yaml``): declaration, loading and validation.

A file declares the candidate ops (names and parameters of ``CONTEXT_OPS`` entries), which
pairs are searched, and the defaults of the search schedule::

    name: atrc
    candidates: [none, global, "local(kernel_size=9)", t_label, s_label]
    pairs:
      diagonal: searched      # or an op that pins every (t, t) pair, e.g. t_label
      fixed: {}               # {target: {source: op}} pins single pairs (not searched)
    schedule: {temperature: [1.0, 0.05], entropy_weight: [-0.02, 0.06], fix_gap: 0.3}

An op is written ``name``, ``name(key=value, ...)`` or ``{name: {key: value}}``. Ops not
offered on the diagonal (s-label) are dropped there. Errors name the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from atrc_nas.config import ConfigError, Section, parse_config, read_yaml
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.space import SearchSpace, SearchSpaceError
from atrc_nas.resources import SEARCH_SPACES, resource_dir
from atrc_nas.search.schedules import ScheduleConfig

SEARCHED = "searched"


class PairsDeclaration(Section):
    diagonal: Any = SEARCHED
    """``searched``, or an op that pins every (t, t) pair."""
    fixed: dict[str, Any] = Field(default_factory=dict)
    """{target: {source: op}} pins single pairs (not searched)."""


class SpaceFile(Section):
    name: str
    candidates: list[Any]
    description: str = ""
    pairs: PairsDeclaration = Field(default_factory=PairsDeclaration)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class SpaceDeclaration:
    """A validated search-space file; :meth:`build` binds it to a dataset's tasks."""

    name: str
    path: Path
    candidates: tuple[OpChoice, ...]
    diagonal: OpChoice | None  # None: the diagonal is searched
    fixed: Mapping[tuple[str, str], OpChoice]
    schedule: ScheduleConfig
    description: str = ""

    def build(self, tasks: Sequence[str]) -> SearchSpace:
        """The :class:`SearchSpace` over ``tasks``; pins pairs as declared."""
        tasks = tuple(tasks)
        for (target, source) in self.fixed:
            for task in (target, source):
                if task not in tasks:
                    raise ConfigError(f"{self.path}: pairs.fixed.{target}.{source}: task "
                                      f"{task!r} is not one of the run's tasks {list(tasks)}")
        pinned = {(t, t): self.diagonal for t in tasks} if self.diagonal else {}
        pinned.update(self.fixed)
        try:
            return SearchSpace(tasks, self.candidates, pinned)
        except SearchSpaceError as err:
            raise ConfigError(f"{self.path}: {err}") from err


def parse_op(value: Any, where: str) -> OpChoice:
    """An op from ``"name"``, ``"name(k=v)"`` or ``{name: {k: v}}``; ConfigError otherwise."""
    try:
        if isinstance(value, str):
            return OpChoice.parse(value)
        if isinstance(value, Mapping) and len(value) == 1:
            (name, params), = value.items()
            if params is None:
                params = {}
            if isinstance(name, str) and isinstance(params, Mapping):
                return OpChoice(name, params)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    raise ConfigError(f"{where}: expected an op as NAME, 'NAME(key=value, ...)' or "
                      f"{{NAME: {{key: value}}}}, got {value!r}")


def resolve_space_path(ref: str | Path) -> Path:
    """``ref`` as a path if that file exists, else ``search_spaces/<ref>.yaml``."""
    path = Path(ref)
    if path.is_file():
        return path
    shipped = resource_dir(SEARCH_SPACES)
    named = shipped / f"{ref}.yaml"
    if named.is_file():
        return named
    known = ", ".join(shipped_spaces())
    raise ConfigError(f"search space {str(ref)!r}: no such file, and no search_spaces/{ref}.yaml "
                      f"(available: {known or 'none'})")


def shipped_spaces() -> list[str]:
    """Names of the search spaces that ship with the package."""
    return sorted(p.stem for p in resource_dir(SEARCH_SPACES).glob("*.yaml"))


def load_space(ref: str | Path) -> SpaceDeclaration:
    """Read and validate a search-space file (by path or by name in ``search_spaces/``)."""
    path = resolve_space_path(ref)
    raw = parse_config(SpaceFile, read_yaml(path), source=str(path))
    if not raw.candidates:
        raise ConfigError(f"{path}: candidates: the list is empty")
    candidates = tuple(parse_op(op, f"{path}: candidates[{i}]")
                       for i, op in enumerate(raw.candidates))
    diagonal = (None if raw.pairs.diagonal == SEARCHED
                else parse_op(raw.pairs.diagonal, f"{path}: pairs.diagonal"))
    fixed: dict[tuple[str, str], OpChoice] = {}
    for target, row in raw.pairs.fixed.items():
        if not isinstance(row, Mapping):
            raise ConfigError(f"{path}: pairs.fixed.{target}: expected {{source: op}}, "
                              f"got {row!r}")
        for source, op in row.items():
            fixed[(str(target), str(source))] = parse_op(
                op, f"{path}: pairs.fixed.{target}.{source}")
    for i, op in enumerate(candidates):
        if op in candidates[:i]:
            raise ConfigError(f"{path}: candidates[{i}]: {op} is listed twice (as "
                              f"candidates[{candidates.index(op)}])")
    if diagonal is None and not any(op.op.on_diagonal for op in candidates):
        raise ConfigError(f"{path}: candidates: no op is offered on the diagonal "
                          "(target == source); add one or pin pairs.diagonal")
    if diagonal is not None and not diagonal.op.on_diagonal:
        raise ConfigError(f"{path}: pairs.diagonal: {diagonal} is not allowed on the diagonal")
    return SpaceDeclaration(raw.name, path, candidates, diagonal, fixed, raw.schedule,
                            raw.description)
