"""The search network: every candidate op of every pair, mixed by architecture weights.

Built from the same :class:`SearchSpace` declaration (and the same ``CONTEXT_OPS`` blocks)
as the final network. Aux heads exist for the tasks some candidate reads (every task in
the reference space, as in the reference search model), the value projections' BN is not
affine, fusion concatenates all N sources (``d * N -> C``, zero-initialised projection)
and there is no dropout.

Blocks whose weight is exactly zero are not evaluated. That changes neither the output
nor any gradient: the product ``w_i * op_i(x)`` and ``d(w_i)/d(alpha)`` (a multiple of
``w_i`` for a softmax) are both zero. Fixed blocks (one-hot weights) so run only their op.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.context import build_block
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.heads import (
    ContextFusion,
    MultiTaskNetwork,
    TaskOutputs,
    aux_heads,
    final_classifiers,
    task_features,
)
from atrc_nas.models.space import SearchSpace


class MixedOp(nn.Module):
    """The candidate blocks of one pair; ``forward`` sums ``w_i * op_i`` over the
    contributing candidates whose weight is not exactly zero."""

    def __init__(self, candidates: Sequence[OpChoice], channels: int,
                 attn_channels: int) -> None:
        super().__init__()
        self.attn_channels = attn_channels
        self.contributes = [op.op.contributes for op in candidates]
        self.candidates = nn.ModuleList(build_block(op, channels, attn_channels, searching=True)
                                        for op in candidates)

    def forward(self, weights: torch.Tensor, active: Sequence[bool], target: torch.Tensor,
                source: torch.Tensor, target_aux: torch.Tensor | None,
                source_aux: torch.Tensor | None) -> torch.Tensor:
        out: torch.Tensor | None = None
        for i, block in enumerate(self.candidates):
            if not (active[i] and self.contributes[i]):
                continue
            term = weights[i] * block(target, source, target_aux, source_aux)
            out = term if out is None else out + term
        if out is None:
            b, _, h, w = target.shape
            return target.new_zeros(b, self.attn_channels, h, w)
        return out


class SearchNetwork(MultiTaskNetwork):
    """Backbone, per-task features, aux heads for ``space.aux_tasks()``, a :class:`MixedOp`
    per pair, fusion over all sources, final classifiers.

    ``forward(image, weights)`` takes the architecture weights [P, K] in
    ``space.pairs()`` row order and ``space.candidates_for`` column order.
    """

    def __init__(self, backbone: nn.Module, spec: DatasetSpec, space: SearchSpace) -> None:
        super().__init__(backbone, spec.tasks)
        if space.tasks != self.tasks:
            raise ValueError(f"search space tasks {list(space.tasks)} differ from the "
                             f"dataset {spec.name!r} tasks {list(self.tasks)} (same order)")
        self.space = space
        self.pairs = space.pairs()
        c_in, c, d = self.dims.in_channels, self.dims.channels, self.dims.attn_channels
        self.features = task_features(c_in, c, self.tasks)
        self.aux = aux_heads(c_in, spec, space.aux_tasks())
        self.blocks = nn.ModuleDict({
            t: nn.ModuleDict({s: MixedOp(space.candidates_for(t, s), c, d) for s in self.tasks})
            for t in self.tasks
        })
        self.fusion = nn.ModuleDict({t: ContextFusion(c, d, len(self.tasks), dropout=0.0)
                                     for t in self.tasks})
        self.classifiers = final_classifiers(c, spec, self.tasks)

    def forward_head(self, x: torch.Tensor,
                     weights: torch.Tensor) -> tuple[TaskOutputs, TaskOutputs]:
        if weights.shape[0] != len(self.pairs):
            raise ValueError(f"expected weights for {len(self.pairs)} pairs, "
                             f"got shape {tuple(weights.shape)}")
        active = (weights != 0).tolist()  # one host transfer for all blocks
        row = {pair: i for i, pair in enumerate(self.pairs)}
        feats = {t: self.features[t](x) for t in self.tasks}
        aux = {t: head(x) for t, head in self.aux.items()}
        final = {}
        for t in self.tasks:
            contexts = []
            for s in self.tasks:
                i = row[(t, s)]
                contexts.append(self.blocks[t][s](weights[i], active[i], feats[t], feats[s],
                                                  aux.get(t), aux.get(s)))
            final[t] = self.classifiers[t](self.fusion[t](feats[t], contexts))
        return final, aux
