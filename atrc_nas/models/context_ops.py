"""The context ops table: which context pooling (CP) blocks exist, their parameters, whose
auxiliary predictions they read and whether they are offered on the diagonal.

``CONTEXT_OPS`` maps an op name to a :class:`ContextOp`; an :class:`OpChoice` names one op
with all its parameters. Both are plain, hashable data (no torch: configs, search spaces,
genotypes and the leaderboard read them); :mod:`atrc_nas.models.context` builds their
blocks (``build_block``). Adding a candidate op means an entry here and its block factory
in ``context.BLOCKS``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

ParamValue = int | float | str | bool
AuxReader = Literal["target", "source"]


@dataclass(frozen=True)
class ParamSpec:
    """One op parameter: its default and a check with a readable description."""

    default: ParamValue
    check: Callable[[object], bool]
    expected: str


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _odd_positive_int(value: object) -> bool:
    return _positive_int(value) and value % 2 == 1  # type: ignore[operator]


@dataclass(frozen=True)
class ContextOp:
    """A CP block type (its block: ``atrc_nas.models.context.build_block``).

    ``reads_aux`` says whose aux logits the block needs (so which tasks get aux heads);
    ``on_diagonal`` whether it is offered for target == source; ``contributes`` is False
    only for the severed connection, which the final networks leave out entirely.
    """

    name: str
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    reads_aux: AuxReader | None = None
    on_diagonal: bool = True
    contributes: bool = True

    def resolve_params(self, params: Mapping[str, object]) -> dict[str, ParamValue]:
        """Validate ``params`` and fill in defaults; raises ValueError naming the bad key."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise ValueError(f"context op {self.name!r} has no parameter(s) {unknown}; "
                             f"its parameters: {known}")
        resolved: dict[str, ParamValue] = {}
        for key, spec in self.params.items():
            value = params.get(key, spec.default)
            if not spec.check(value):
                raise ValueError(f"context op {self.name!r}: parameter {key}={value!r} is "
                                 f"invalid, expected {spec.expected}")
            resolved[key] = value  # type: ignore[assignment]
        return resolved

    def aux_tasks(self, target: str, source: str) -> tuple[str, ...]:
        """The tasks whose aux logits this op reads for the pair (target, source)."""
        if self.reads_aux is None:
            return ()
        return (target,) if self.reads_aux == "target" else (source,)


CONTEXT_OPS: dict[str, ContextOp] = {
    op.name: op
    for op in (
        ContextOp("none", contributes=False),
        ContextOp("global"),
        ContextOp(
            "local",
            params={
                "kernel_size": ParamSpec(9, _odd_positive_int, "an odd int >= 1"),
                "dilation": ParamSpec(1, _positive_int, "an int >= 1"),
            },
        ),
        ContextOp("t_label", reads_aux="target"),
        # On the diagonal s-label reads the same predictions as t-label: not offered there.
        ContextOp("s_label", reads_aux="source", on_diagonal=False),
    )
}


def get_context_op(name: str) -> ContextOp:
    try:
        return CONTEXT_OPS[name]
    except KeyError:
        raise ValueError(
            f"unknown context op {name!r}; known ops: {', '.join(CONTEXT_OPS)}"
        ) from None


_OP_TEXT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\((?P<args>[^()]*)\))?\s*$")


@dataclass(frozen=True, init=False)
class OpChoice:
    """One context op with every parameter resolved (defaults filled in, sorted by key).

    ``OpChoice("local")`` equals ``OpChoice("local", kernel_size=9, dilation=1)``; the
    text form (``str``) omits defaults: ``"local"``, ``"local(dilation=2)"``.
    """

    name: str
    params: tuple[tuple[str, ParamValue], ...]

    def __init__(
        self, name: str,
        params: Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]] = (),
        **kwargs: ParamValue,
    ) -> None:
        op = get_context_op(name)
        resolved = op.resolve_params({**dict(params), **kwargs})
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", tuple(sorted(resolved.items())))

    @property
    def op(self) -> ContextOp:
        return CONTEXT_OPS[self.name]

    @property
    def kwargs(self) -> dict[str, ParamValue]:
        return dict(self.params)

    def canonical(self) -> str:
        """Text form with every parameter, e.g. ``local(dilation=1,kernel_size=9)``."""
        return self._text(self.params)

    def __str__(self) -> str:
        defaults = {k: spec.default for k, spec in self.op.params.items()}
        return self._text(tuple((k, v) for k, v in self.params if defaults[k] != v))

    def _text(self, params: tuple[tuple[str, ParamValue], ...]) -> str:
        if not params:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={v!r}" for k, v in params) + ")"

    def __repr__(self) -> str:
        return f"OpChoice({self.canonical()!r})"

    @classmethod
    def parse(cls, text: str) -> OpChoice:
        """Parse ``"local"``, ``"local(kernel_size=5, dilation=2)"``; ValueError otherwise."""
        match = _OP_TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"cannot parse context op {text!r}; expected NAME or "
                             "NAME(key=value, ...), e.g. 'local(kernel_size=5)'")
        params: dict[str, ParamValue] = {}
        for item in filter(None, (s.strip() for s in (match["args"] or "").split(","))):
            key, sep, raw = item.partition("=")
            if not sep or not key.strip().isidentifier():
                raise ValueError(f"cannot parse parameter {item!r} of context op {text!r}; "
                                 "expected key=value")
            try:
                params[key.strip()] = ast.literal_eval(raw.strip())
            except (ValueError, SyntaxError):
                params[key.strip()] = raw.strip()
        return cls(match["name"], params)

