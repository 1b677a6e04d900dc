"""Mean angular error of surface normals, pooled over every valid pixel of the set."""

from __future__ import annotations

import math

import torch
from torch.nn.functional import normalize
from torchmetrics import Metric

from atrc_nas.metrics.base import check_inputs
from atrc_nas.tasks import get_task


class NormalsMeanAngle(Metric):
    """Mean angle in degrees between L2-normalised prediction and ground truth.

    ``update(preds, target)``: ``[B, 3, H, W]`` each. The angle is
    ``2 atan2(|p - g|, |p + g|)`` (accurate near 0 and 180 degrees); valid pixels are those
    of the normals task's mask (no channel 255, non-zero vector). NaN before any valid
    pixel was seen.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    sum_angle: torch.Tensor
    count: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.valid_mask = get_task("normals").valid_mask
        self.add_state("sum_angle", default=torch.tensor(0.0, dtype=torch.float64),
                       dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, 3, 3)
        valid = self.valid_mask(target)[:, 0]
        pred = normalize(preds.double(), dim=1)
        gt = normalize(target.double(), dim=1)
        angle = 2 * torch.atan2((pred - gt).norm(dim=1), (pred + gt).norm(dim=1))
        self.sum_angle += angle[valid].sum() * (180.0 / math.pi)
        self.count += valid.sum()

    def compute(self) -> torch.Tensor:
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return self.sum_angle / self.count
