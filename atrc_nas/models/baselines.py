"""Baselines: single-/multi-task networks without distillation, and PAD-Net.

Both use the ATRC head widths (``C = C_in // 4``) so they compare like for like.
"""

from __future__ import annotations

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.heads import (
    MultiTaskNetwork,
    TaskOutputs,
    final_classifiers,
    task_features,
)
from atrc_nas.models.layers import ConvBNReLU, classifier


class MultiTaskBaseline(MultiTaskNetwork):
    """Shared backbone, per task ConvBNReLU(C_in -> C, 3x3) and a 1x1 classifier.

    With a one-task ``spec`` (``spec.with_tasks([task])``) it is the single-task baseline.
    It has no aux predictions.
    """

    def __init__(self, backbone: nn.Module, spec: DatasetSpec) -> None:
        super().__init__(backbone, spec.tasks)
        self.features = task_features(self.dims.in_channels, self.dims.channels, self.tasks)
        self.classifiers = final_classifiers(self.dims.channels, spec, self.tasks)

    def forward_head(self, x: torch.Tensor) -> tuple[TaskOutputs, TaskOutputs]:
        return {t: self.classifiers[t](self.features[t](x)) for t in self.tasks}, {}


class SpatialAttentionMessage(nn.Module):
    """PAD-Net's attention-guided message from one source: ``sigmoid(G(F_s)) * M(F_s)``
    with G and M both ConvBN(C -> C, 3x3)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = ConvBNReLU(channels, channels, 3, relu=False)
        self.message = ConvBNReLU(channels, channels, 3, relu=False)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(source)) * self.message(source)


class PADNet(MultiTaskNetwork):
    """PAD-Net (Xu et al., CVPR 2018) on the shared head input, with attention-guided
    multi-modal distillation:

    - initial features ``F_t = ConvBNReLU(C_in -> C, 3x3)``;
    - initial predictions ``A_t = Conv1x1(C -> K_aux_t, bias)(F_t)``, returned as ``aux``
      (deep supervision with the aux losses; not detached: they train the backbone);
    - distillation ``D_t = F_t + sum_{s != t} sigmoid(G_ts(F_s)) * M_ts(F_s)``;
    - final ``P_t = Conv1x1(C -> K_t, bias)(ConvBNReLU(C -> C, 3x3)(D_t))``.
    """

    def __init__(self, backbone: nn.Module, spec: DatasetSpec) -> None:
        super().__init__(backbone, spec.tasks)
        if len(self.tasks) < 2:
            raise ValueError(f"PAD-Net needs at least 2 tasks, got {list(self.tasks)}")
        c_in, c = self.dims.in_channels, self.dims.channels
        self.features = task_features(c_in, c, self.tasks)
        self.initial = nn.ModuleDict({t: classifier(c, spec.channels(t, "aux"))
                                      for t in self.tasks})
        self.messages = nn.ModuleDict({
            t: nn.ModuleDict({s: SpatialAttentionMessage(c) for s in self.tasks if s != t})
            for t in self.tasks
        })
        self.decoders = nn.ModuleDict({t: ConvBNReLU(c, c, 3) for t in self.tasks})
        self.classifiers = final_classifiers(c, spec, self.tasks)

    def forward_head(self, x: torch.Tensor) -> tuple[TaskOutputs, TaskOutputs]:
        feats = {t: self.features[t](x) for t in self.tasks}
        initial = {t: self.initial[t](feats[t]) for t in self.tasks}
        final = {}
        for t in self.tasks:
            distilled = feats[t] + sum(msg(feats[s]) for s, msg in self.messages[t].items())
            final[t] = self.classifiers[t](self.decoders[t](distilled))
        return final, initial
