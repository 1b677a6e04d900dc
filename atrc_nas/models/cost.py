"""Cost model: parameters and FLOPs of networks, of their CP blocks, and of candidate ops.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as 2;
convolutions and matrix products are counted, elementwise ops, BN and softmax are not;
the local-attention op registers its own formula in :mod:`atrc_nas.ops`). Costs are per
image (batch 1) of the given size, forward pass only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.context import build_block
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import Pair
from atrc_nas.models.heads import AuxHead, HeadDims
from atrc_nas.models.space import SearchSpace


@dataclass(frozen=True)
class Cost:
    params: int
    flops: int

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.flops + other.flops)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _flop_counter(module: nn.Module, *inputs: torch.Tensor | None) -> FlopCounterMode:
    """Run ``module(*inputs)`` once in eval mode without grad under a FlopCounterMode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return counter


def count_flops(module: nn.Module, *inputs: torch.Tensor | None) -> int:
    return _flop_counter(module, *inputs).get_total_flops()


def _network_input(network: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    param = next(network.parameters(), None)
    return torch.zeros(tuple(input_shape),
                       device=param.device if param is not None else None,
                       dtype=param.dtype if param is not None else None)


def count_params_and_flops(network: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """(parameters, forward FLOPs) of ``network`` on a zero input of ``input_shape``."""
    return count_params(network), count_flops(network, _network_input(network, input_shape))


def flops_by_module(network: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """Forward FLOPs of every submodule, keyed by its qualified name ("" for the root)."""
    counter = _flop_counter(network, _network_input(network, input_shape))
    out = {}
    for name, counts in counter.get_flop_counts().items():
        if name == "Global":
            continue
        _, _, path = name.partition(".")  # drop the root's class name
        out[path] = sum(counts.values())
    return out


def block_costs(network: nn.Module, input_shape: Sequence[int]) -> dict[Pair, Cost]:
    """Cost of each CP block ``network.blocks[target][source]`` inside the network."""
    flops = flops_by_module(network, input_shape)
    return {
        (t, s): Cost(count_params(block), flops.get(f"blocks.{t}.{s}", 0))
        for t, row in network.blocks.items() for s, block in row.items()
    }


def feature_size(input_size: Sequence[int]) -> tuple[int, int]:
    """Size of the stride-4 head input for an input of ``(H, W)``: two stride-2 3x3 convs
    with padding 1 give ceil(H / 4) x ceil(W / 4)."""
    h, w = input_size
    return -(-h // 4), -(-w // 4)


def context_op_cost(
    op: OpChoice, dims: HeadDims, size: tuple[int, int],
    target_aux_channels: int | None = None, source_aux_channels: int | None = None,
) -> Cost:
    """Cost of one CP block of ``op`` on stride-4 maps of ``size``.

    The label ops need the aux channel count K of the task whose predictions they read.
    Shapes only matter, so the block runs on the meta device.
    """
    c, d = dims.channels, dims.attn_channels
    with torch.device("meta"):
        block = build_block(op, c, d)
        feats = torch.empty(1, c, *size)
        aux = [torch.empty(1, k, *size) if k else None
               for k in (target_aux_channels, source_aux_channels)]
    return Cost(count_params(block), count_flops(block, feats, feats, *aux))


def aux_head_cost(dims: HeadDims, aux_channels: int, size: tuple[int, int]) -> Cost:
    """Cost of one aux head (ConvBNReLU 1x1 + classifier) on the head input."""
    with torch.device("meta"):
        head = AuxHead(dims.in_channels, aux_channels)
        x = torch.empty(1, dims.in_channels, *size)
    return Cost(count_params(head), count_flops(head, x))


def op_cost_table(
    space: SearchSpace, spec: DatasetSpec, dims: HeadDims, input_size: Sequence[int],
) -> dict[Pair, dict[OpChoice, Cost]]:
    """Per pair, the cost of every candidate op at ``input_size`` (the training crop).

    Only the CP block is counted; the aux heads a label op needs are shared between pairs
    (see :func:`aux_head_cost`).
    """
    size = feature_size(input_size)
    cache: dict[tuple[OpChoice, int | None, int | None], Cost] = {}
    table: dict[Pair, dict[OpChoice, Cost]] = {}
    for target, source in space.pairs():
        row = table[(target, source)] = {}
        for op in space.candidates_for(target, source):
            reads = op.op.reads_aux
            key = (op,
                   spec.channels(target, "aux") if reads == "target" else None,
                   spec.channels(source, "aux") if reads == "source" else None)
            if key not in cache:
                cache[key] = context_op_cost(op, dims, size, key[1], key[2])
            row[op] = cache[key]
    return table
