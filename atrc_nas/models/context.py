"""Context pooling (CP) blocks: the ``nn.Module`` of each context op.

Every block maps ``(F_t, F_s, A_t, A_s) -> [B, d, H, W]``: the target and source task
features ``[B, C, H, W]`` and the target and source auxiliary logits ``[B, K, H, W]``
(``None`` where the task has no aux head; only the label contexts read them). The ops
table that names them, their parameters and what they read is
:mod:`atrc_nas.models.context_ops` (no torch needed to read it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from atrc_nas.models.context_ops import AuxReader, OpChoice
from atrc_nas.models.layers import ConvBNReLU
from atrc_nas.ops import local_attention

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


BlockFactory = Callable[..., ContextBlock]


def _none(in_channels: int, attn_channels: int, *, searching: bool = False) -> ContextBlock:
    return NoContext(attn_channels)


def _label(reads: AuxReader) -> BlockFactory:
    def build(in_channels: int, attn_channels: int, *, searching: bool = False) -> ContextBlock:
        return LabelContext(in_channels, attn_channels, reads=reads, searching=searching)

    return build


BLOCKS: dict[str, BlockFactory] = {
    "none": _none,
    "global": GlobalContext,
    "local": LocalContext,
    "t_label": _label("target"),
    "s_label": _label("source"),
}
"""op name (``context_ops.CONTEXT_OPS``) -> ``factory(in_channels, attn_channels, *,
searching, **params)``."""


def build_block(op: OpChoice, in_channels: int, attn_channels: int, *,
                searching: bool = False) -> ContextBlock:
    """The block of ``op`` (its parameters already resolved) for ``C = in_channels`` task
    features and attention width ``d = attn_channels``."""
    return BLOCKS[op.name](in_channels, attn_channels, searching=searching, **op.kwargs)
