"""Head parts shared by the ATRC networks (final and search) and the baselines.

All heads work on the head input: the 4 backbone maps upsampled to stride 4 and
concatenated (``C_in`` channels). Per-task features have ``C = C_in // 4`` channels and the
CP blocks attend in ``d = C // 2`` channels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.layers import ConvBNReLU, classifier, resize_outputs, upsample_concat

TaskOutputs = dict[str, torch.Tensor]
NetworkOutputs = dict[str, TaskOutputs]  # {"final": {task: ...}, "aux": {task: ...}}

FUSION_DROPOUT = 0.05


@dataclass(frozen=True)
class HeadDims:
    """Widths of an ATRC head for a backbone whose maps have ``in_channels`` in total."""

    in_channels: int

    @property
    def channels(self) -> int:  # C
        return self.in_channels // 4

    @property
    def attn_channels(self) -> int:  # d
        return self.channels // 2


class MultiTaskNetwork(nn.Module):
    """A backbone plus a multi-task head.

    ``forward(image)`` returns ``{"final": {task: logits}, "aux": {task: aux logits}}``,
    every map bilinearly resized to the input size; ``aux`` is empty for heads without aux
    predictions. Subclasses implement :meth:`forward_head` on the head input; extra
    arguments of ``forward`` (e.g. the search's architecture weights) go to it unchanged.
    """

    def __init__(self, backbone: nn.Module, tasks: Sequence[str]) -> None:
        super().__init__()
        self.backbone = backbone
        self.tasks = tuple(tasks)
        self.dims = HeadDims(sum(backbone.out_channels))

    def forward_head(self, x: torch.Tensor, *args: Any) -> tuple[TaskOutputs, TaskOutputs]:
        """(final, aux) predictions at the resolution of the head input ``x``."""
        raise NotImplementedError

    def forward(self, image: torch.Tensor, *head_args: Any) -> NetworkOutputs:
        final, aux = self.forward_head(upsample_concat(self.backbone(image)), *head_args)
        size = image.shape[-2:]
        return {"final": resize_outputs(final, size), "aux": resize_outputs(aux, size)}


class AuxHead(nn.Module):
    """Initial prediction: Conv1x1(C_in -> K, bias) on ConvBNReLU(C_in -> C_in, 1x1).

    With ``detach=True`` (ATRC) the input is detached, so aux losses never reach the
    backbone.
    """

    def __init__(self, in_channels: int, out_channels: int, *, detach: bool = True) -> None:
        super().__init__()
        self.detach = detach
        self.proj = ConvBNReLU(in_channels, in_channels, 1)
        self.classifier = classifier(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.proj(x.detach() if self.detach else x))


def task_features(in_channels: int, channels: int, tasks: Iterable[str]) -> nn.ModuleDict:
    """Per-task features F_t = ConvBNReLU(in_channels -> channels, 3x3)."""
    return nn.ModuleDict({t: ConvBNReLU(in_channels, channels, 3) for t in tasks})


def aux_heads(in_channels: int, spec: DatasetSpec, tasks: Iterable[str], *,
              detach: bool = True) -> nn.ModuleDict:
    """An :class:`AuxHead` per task with the task's aux channel count."""
    return nn.ModuleDict({t: AuxHead(in_channels, spec.channels(t, "aux"), detach=detach)
                          for t in tasks})


def final_classifiers(channels: int, spec: DatasetSpec, tasks: Iterable[str]) -> nn.ModuleDict:
    """The per-task 1x1 prediction layers with the task's final channel count."""
    return nn.ModuleDict({t: classifier(channels, spec.channels(t, "final")) for t in tasks})


class ContextFusion(nn.Module):
    """Fuses a target's features with its CP block outputs.

    ``out_proj = ConvBN(d * n -> C, 1x1)`` with BN weight and bias 0, so the distilled
    branch starts at exactly 0; ``out = Dropout2d(ConvBNReLU(2C -> C, 1x1)(concat(F_t,
    out_proj(concat(contexts)))))``. With ``num_sources == 0`` there is no distilled branch:
    ``out = Dropout2d(ConvBNReLU(C -> C, 1x1)(F_t))``.
    """

    def __init__(self, channels: int, attn_channels: int, num_sources: int,
                 dropout: float = FUSION_DROPOUT) -> None:
        super().__init__()
        self.num_sources = num_sources
        self.out_proj: nn.Module | None = None
        if num_sources:
            self.out_proj = ConvBNReLU(attn_channels * num_sources, channels, relu=False)
            bn = self.out_proj[1]
            nn.init.zeros_(bn.weight)
            nn.init.zeros_(bn.bias)
        self.fuse = ConvBNReLU(channels * (2 if num_sources else 1), channels)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, features: torch.Tensor, contexts: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(contexts) != self.num_sources:
            raise ValueError(f"expected {self.num_sources} context maps, got {len(contexts)}")
        if self.out_proj is not None:
            features = torch.cat([features, self.out_proj(torch.cat(list(contexts), 1))], 1)
        return self.dropout(self.fuse(features))
