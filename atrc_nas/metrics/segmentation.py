"""Pooled mean IoU for semantic segmentation and human parts."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from atrc_nas.metrics.base import check_inputs
from atrc_nas.tasks import IGNORE_INDEX


class MeanIoU(Metric):
    """mIoU x100 from a confusion matrix pooled over the whole set.

    ``update(preds, target)``: class maps ``[B, H, W]`` (argmax of the logits) and labels
    ``[B, H, W]`` with ``ignore_index`` for invalid pixels. A class with zero union has
    IoU 0 and still enters the mean.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    confmat: torch.Tensor

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # rows: ground truth, columns: prediction
        self.add_state(
            "confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.long),
            dist_reduce_fx="sum",
        )

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, None, None)
        valid = target != self.ignore_index
        self._accumulate(preds[valid].long(), target[valid].long())

    def _accumulate(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        classes = self.num_classes
        for what, values in (("target", target), ("preds", preds)):
            if values.numel() and (values.min() < 0 or values.max() >= classes):
                bad = values[(values < 0) | (values >= classes)].unique()[:5].tolist()
                raise ValueError(
                    f"{type(self).__name__}: {what} holds class(es) {bad} outside 0..{classes - 1}"
                    f" (and {self.ignore_index} = ignore in target)"
                )
        counts = torch.bincount(target * classes + preds, minlength=classes * classes)
        self.confmat += counts.view(classes, classes)

    def compute(self) -> torch.Tensor:
        confmat = self.confmat.double()
        hits = confmat.diagonal()
        union = confmat.sum(0) + confmat.sum(1) - hits
        iou = torch.where(union > 0, hits / union.clamp_min(1), 0.0)
        return iou.mean() * 100


class PartsMeanIoU(MeanIoU):
    """MeanIoU that skips images without any part annotation (all pixels 0 or ignore).

    Counting them would add only background hits and inflate the background IoU.
    """

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, None, None)
        annotated = ((target != 0) & (target != self.ignore_index)).flatten(1).any(dim=1)
        super().update(preds[annotated], target[annotated])
