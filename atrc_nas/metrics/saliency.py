"""Saliency maxF: the best F_beta over a threshold grid, with counts pooled over the set."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from atrc_nas.metrics.base import check_inputs, f_measure
from atrc_nas.tasks import IGNORE_INDEX

SALIENCY_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


class MaxFMeasure(Metric):
    """maxF x100 with beta^2 = 0.3.

    ``update(preds, target)``: positive-class probabilities ``[B, 1, H, W]`` (already
    probabilities: no sigmoid is applied here) and labels ``[B, H, W]`` in {0, 1, ignore}.
    A pixel is predicted positive at threshold t when its probability is >= t.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    true_positives: torch.Tensor
    predicted_positives: torch.Tensor
    actual_positives: torch.Tensor

    def __init__(
        self,
        thresholds: Sequence[float] = SALIENCY_THRESHOLDS,
        beta_squared: float = 0.3,
        ignore_index: int = IGNORE_INDEX,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if len(thresholds) == 0 or list(thresholds) != sorted(thresholds):
            raise ValueError(f"MaxFMeasure: thresholds must be non-empty and ascending, got "
                             f"{list(thresholds)}")
        self.thresholds = tuple(float(t) for t in thresholds)
        self.beta_squared = beta_squared
        self.ignore_index = ignore_index
        n = len(self.thresholds)
        self.add_state("true_positives", default=torch.zeros(n, dtype=torch.long),
                       dist_reduce_fx="sum")
        self.add_state("predicted_positives", default=torch.zeros(n, dtype=torch.long),
                       dist_reduce_fx="sum")
        self.add_state("actual_positives", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, 1, None)
        valid = target != self.ignore_index
        prob = preds[:, 0][valid].double()
        label = target[valid]
        if label.numel() and not ((label == 0) | (label == 1)).all():
            bad = label[(label != 0) & (label != 1)].unique()[:5].tolist()
            raise ValueError(f"MaxFMeasure: target values {bad} are not 0, 1 or "
                             f"{self.ignore_index} (ignore)")
        if prob.numel() and (prob.min() < 0 or prob.max() > 1):
            raise ValueError(
                "MaxFMeasure: preds must be probabilities in [0, 1] (TaskSpec.to_output of the "
                f"logits), got values in [{prob.min().item():.3g}, {prob.max().item():.3g}]"
            )
        thresholds = torch.tensor(self.thresholds, dtype=torch.float64, device=prob.device)
        # number of thresholds <= p, i.e. at how many thresholds the pixel is positive
        level = torch.bucketize(prob, thresholds, right=True)
        n = len(self.thresholds)
        self.predicted_positives += _count_at_least(level, n)
        self.true_positives += _count_at_least(level[label == 1], n)
        self.actual_positives += (label == 1).sum()

    def compute(self) -> torch.Tensor:
        f = f_measure(self.true_positives, self.predicted_positives, self.true_positives,
                      self.actual_positives, self.beta_squared)
        return f.max() * 100


def _count_at_least(level: torch.Tensor, n: int) -> torch.Tensor:
    """``out[k]`` = number of entries of ``level`` greater than ``k``, for k < n."""
    counts = torch.bincount(level, minlength=n + 1)
    return counts.flip(0).cumsum(0).flip(0)[1:]
