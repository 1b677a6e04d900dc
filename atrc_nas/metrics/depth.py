"""Depth RMSE pooled over every valid pixel of the set."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from atrc_nas.metrics.base import check_inputs
from atrc_nas.tasks import get_task


class DepthRMSE(Metric):
    """sqrt(sum of squared errors / number of valid pixels) over the whole set, in metres.

    ``update(preds, target)``: ``[B, 1, H, W]`` each. Predictions are clamped at 0; valid
    pixels are those of the depth task's mask (not 255 and depth > 0). Not a mean of
    per-image RMSEs. NaN before any valid pixel was seen.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    sum_squared_error: torch.Tensor
    count: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.valid_mask = get_task("depth").valid_mask
        self.add_state("sum_squared_error", default=torch.tensor(0.0, dtype=torch.float64),
                       dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, 1, 1)
        valid = self.valid_mask(target)
        error = preds.clamp_min(0)[valid].double() - target[valid].double()
        self.sum_squared_error += error.square().sum()
        self.count += valid.sum()

    def compute(self) -> torch.Tensor:
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return torch.sqrt(self.sum_squared_error / self.count)
