"""Context pooling (CP) blocks, one per ordered (target, source) task pair, as an ops table.

``CONTEXT_OPS`` maps an op name to a :class:`ContextOp`: a factory for the block plus what
the search and the networks need to know about it (its parameters, whose auxiliary
predictions it reads, whether it is offered on the diagonal). An :class:`OpChoice` names
one op with all its parameters; it is plain, hashable data, so search spaces and genotypes
are built from it. Adding a candidate op means adding an entry here.

Every block maps ``(F_t, F_s, A_t, A_s) -> [B, d, H, W]``: the target and source task
features ``[B, C, H, W]`` and the target and source auxiliary logits ``[B, K, H, W]``
(``None`` where the task has no aux head; only the label contexts read them).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from atrc_nas.models.layers import ConvBNReLU
from atrc_nas.ops import local_attention

ParamValue = int | float | str | bool
AuxReader = Literal["target", "source"]

LINEAR_ATTENTION_EPS = 1e-12


def _xavier_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)


def _query_key(in_channels: int, attn_channels: int, *, last_relu: bool = True) -> nn.Sequential:
    """ConvBNReLU(C -> d) then ConvBN[ReLU](d -> d), both 1x1."""
    return nn.Sequential(
        ConvBNReLU(in_channels, attn_channels),
        ConvBNReLU(attn_channels, attn_channels, relu=last_relu),
    )


class ContextBlock(nn.Module):
    """Base of the CP blocks: ``forward(F_t, F_s, A_t, A_s) -> [B, d, H, W]``."""

    def __init__(self, attn_channels: int) -> None:
        super().__init__()
        self.attn_channels = attn_channels

    def forward(
        self, target: torch.Tensor, source: torch.Tensor,
        target_aux: torch.Tensor | None = None, source_aux: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


class NoContext(ContextBlock):
    """The severed connection: contributes nothing (zeros, for uniform supernet code)."""

    def forward(self, target, source, target_aux=None, source_aux=None):
        b, _, h, w = target.shape
        return target.new_zeros(b, self.attn_channels, h, w)


class GlobalContext(ContextBlock):
    """Linear (kernelised) attention over all source pixels; no softmax, no 1/sqrt(d).

    ``out_i = sum_j v_j (k_j . q_i) / max(sum_j k_j . q_i, 1e-12)``, computed as
    ``(V K^T) q_i`` so the cost is linear in H*W.
    """

    def __init__(self, in_channels: int, attn_channels: int, *, searching: bool = False) -> None:
        super().__init__(attn_channels)
        self.query = nn.Sequential(_query_key(in_channels, attn_channels, last_relu=False),
                                   nn.Softplus())
        self.key = nn.Sequential(_query_key(in_channels, attn_channels, last_relu=False),
                                 nn.Softplus())
        self.value = ConvBNReLU(in_channels, attn_channels, bn_affine=not searching)
        _xavier_init(self)

    def forward(self, target, source, target_aux=None, source_aux=None):
        b, _, h, w = target.shape
        q = self.query(target).flatten(2)  # [B, d, N]
        k = self.key(source).flatten(2)  # [B, d, M]
        v = self.value(source).flatten(2)  # [B, d, M]
        kv = torch.bmm(v, k.transpose(1, 2))  # [B, d_v, d_k] = sum_j v_j k_j^T
        numerator = torch.bmm(kv, q)  # [B, d_v, N]
        denominator = torch.bmm(k.sum(dim=2, keepdim=True).transpose(1, 2), q)  # [B, 1, N]
        out = numerator / denominator.clamp_min(LINEAR_ATTENTION_EPS)
        return out.view(b, self.attn_channels, h, w)


class LocalContext(ContextBlock):
    """Softmax attention over a k x k (dilated) window of source pixels around each pixel."""

    def __init__(
        self, in_channels: int, attn_channels: int, *, searching: bool = False,
        kernel_size: int = 9, dilation: int = 1,
    ) -> None:
        super().__init__(attn_channels)
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.query = _query_key(in_channels, attn_channels)
        self.key = _query_key(in_channels, attn_channels)
        self.value = ConvBNReLU(in_channels, attn_channels, bn_affine=not searching)
        _xavier_init(self)

    def forward(self, target, source, target_aux=None, source_aux=None):
        q = self.query(target) * (self.attn_channels ** -0.5)
        return local_attention(q, self.key(source), self.value(source),
                               kernel_size=self.kernel_size, dilation=self.dilation)


class LabelContext(ContextBlock):
    """Attention over K class-region descriptors of the source features.

    The regions come from a spatial softmax (over H*W, per class) of the target's
    (``reads="target"``, t-label) or the source's (``reads="source"``, s-label) aux logits.
    Keys and values are 1x1 convs over the K descriptors, laid out as a K x 1 image.
    """

    def __init__(
        self, in_channels: int, attn_channels: int, *, reads: AuxReader,
        searching: bool = False,
    ) -> None:
        super().__init__(attn_channels)
        self.reads = reads
        self.query = _query_key(in_channels, attn_channels)
        self.key = _query_key(in_channels, attn_channels)
        self.value = ConvBNReLU(in_channels, attn_channels, bn_affine=not searching)
        _xavier_init(self)

    def forward(self, target, source, target_aux=None, source_aux=None):
        logits = target_aux if self.reads == "target" else source_aux
        if logits is None:
            raise ValueError(f"{type(self).__name__} (reads={self.reads!r}) needs the "
                             f"{self.reads} task's aux logits, got None")
        b, _, h, w = target.shape
        regions = torch.softmax(logits.flatten(2), dim=2)  # [B, K, HW]
        descriptors = torch.bmm(regions, source.flatten(2).transpose(1, 2))  # [B, K, C]
        descriptors = descriptors.transpose(1, 2).unsqueeze(-1)  # [B, C, K, 1]
        k = self.key(descriptors).flatten(2)  # [B, d, K]
        v = self.value(descriptors).flatten(2)  # [B, d, K]
        q = self.query(target).flatten(2)  # [B, d, HW]
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) * (self.attn_channels ** -0.5),
                             dim=2)  # [B, HW, K]
        return torch.bmm(v, attn.transpose(1, 2)).view(b, self.attn_channels, h, w)


# ---------------------------------------------------------------------------------------
# The ops table


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


BlockFactory = Callable[..., ContextBlock]


@dataclass(frozen=True)
class ContextOp:
    """A CP block type. Calling it builds one block:
    ``op(in_channels, attn_channels, searching=False, **params)``.

    ``reads_aux`` says whose aux logits the block needs (so which tasks get aux heads);
    ``on_diagonal`` whether it is offered for target == source; ``contributes`` is False
    only for the severed connection, which the final networks leave out entirely.
    """

    name: str
    factory: BlockFactory
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    reads_aux: AuxReader | None = None
    on_diagonal: bool = True
    contributes: bool = True

    def __call__(
        self, in_channels: int, attn_channels: int, *, searching: bool = False,
        **params: ParamValue,
    ) -> ContextBlock:
        return self.factory(in_channels, attn_channels, searching=searching,
                            **self.resolve_params(params))

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


def _none(in_channels: int, attn_channels: int, *, searching: bool = False) -> ContextBlock:
    return NoContext(attn_channels)


def _label(reads: AuxReader) -> BlockFactory:
    def build(in_channels: int, attn_channels: int, *, searching: bool = False) -> ContextBlock:
        return LabelContext(in_channels, attn_channels, reads=reads, searching=searching)

    return build


CONTEXT_OPS: dict[str, ContextOp] = {
    op.name: op
    for op in (
        ContextOp("none", _none, contributes=False),
        ContextOp("global", GlobalContext),
        ContextOp(
            "local", LocalContext,
            params={
                "kernel_size": ParamSpec(9, _odd_positive_int, "an odd int >= 1"),
                "dilation": ParamSpec(1, _positive_int, "an int >= 1"),
            },
        ),
        ContextOp("t_label", _label("target"), reads_aux="target"),
        # On the diagonal s-label reads the same predictions as t-label: not offered there.
        ContextOp("s_label", _label("source"), reads_aux="source", on_diagonal=False),
    )
}


def get_context_op(name: str) -> ContextOp:
    try:
        return CONTEXT_OPS[name]
    except KeyError:
        raise ValueError(
            f"unknown context op {name!r}; known ops: {', '.join(CONTEXT_OPS)}"
        ) from None


# ---------------------------------------------------------------------------------------
# OpChoice: one op with all its parameters

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

    def build(self, in_channels: int, attn_channels: int, *,
              searching: bool = False) -> ContextBlock:
        return self.op(in_channels, attn_channels, searching=searching, **self.kwargs)

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

