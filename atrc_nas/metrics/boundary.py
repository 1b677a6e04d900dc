"""Boundary F-measure (odsF and OIS) without MATLAB; docs/boundary_metric.md compares it
with SEISM."""

from __future__ import annotations

import math
from typing import Annotated, get_args

import numpy as np
import torch
from pydantic import Field
from torchmetrics import Metric

from atrc_nas.metrics.base import check_inputs, f_measure
from atrc_nas.ops.boundary import boundary_counts
from atrc_nas.tasks import EDGE_BOUNDARY_GT, IGNORE_INDEX, BoundaryGroundTruth


def edge_thresholds(count: int) -> np.ndarray:
    """``count`` thresholds evenly spaced over [0.01, 0.99] (99 gives a step of 0.01)."""
    if count < 1:
        raise ValueError(f"the boundary metric needs >= 1 threshold, got {count}")
    return np.linspace(0.01, 0.99, count)


def image_counts(
    prob: np.ndarray, label: np.ndarray, thresholds: np.ndarray, tolerance: float
) -> np.ndarray | None:
    """Counts ``[4, T]`` (matched pred, pred, matched GT, GT) of one image per threshold.

    ``prob`` and ``label`` are ``[H, W]``; pixels labelled ``IGNORE_INDEX`` (padding,
    ignore regions) are neither GT nor predicted edges. The image is the bounding box of
    its valid pixels, whose diagonal sets the matching radius ``tolerance x diagonal``.
    None when the image has no valid pixel.
    """
    valid = label != IGNORE_INDEX
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return None
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    valid, prob, label = valid[box], prob[box], label[box]
    gt = valid & (label > 0.5)
    prob = np.where(valid, prob, -np.inf)
    matched, predicted = boundary_counts(prob, gt, thresholds,
                                         tolerance * math.hypot(*valid.shape))
    n_gt = int(gt.sum())
    return np.stack([matched, predicted, matched, np.full_like(matched, n_gt)])


class BoundaryFMeasure(Metric):
    """odsF x100 (one threshold for the whole set) and OIS F x100 (best per image).

    ``update(preds, target)``: edge probabilities ``[B, 1, H, W]`` and GT boundary maps
    ``[B, 1, H, W]`` in {0, 1, 255}. At each threshold t the map ``p >= t`` is thinned
    and matched one-to-one to the GT edge pixels within ``tolerance x diagonal``.
    States are per-threshold counts (and the counts of each image's best threshold for
    OIS), so they sum across processes. Runs on the CPU.

    ``ground_truth`` says which map of the batch is the GT; ``MultiTaskEvaluator`` feeds
    ``batch[target_key or task]``. ``"label"``: the task's label (for PASCAL the thinned
    Laplacian edges the network trains on); ``"seg2bmap"``: ``EDGE_BOUNDARY_GT``, the
    seg2bmap boundaries of the label map that SEISM scores against. ``build_metric``
    passes the dataset's choice (``DatasetSpec.boundary_ground_truth``) unless the metric
    options name one.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    matched_pred: torch.Tensor
    pred: torch.Tensor
    matched_gt: torch.Tensor
    gt: torch.Tensor
    ois_counts: torch.Tensor

    def __init__(
        self,
        tolerance: float,
        num_thresholds: Annotated[int, Field(ge=1)] = 99,
        ground_truth: BoundaryGroundTruth = "label",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if tolerance <= 0:
            raise ValueError(f"BoundaryFMeasure: tolerance must be > 0, got {tolerance}")
        if ground_truth not in get_args(BoundaryGroundTruth):
            raise ValueError(f"BoundaryFMeasure: ground_truth must be one of "
                             f"{get_args(BoundaryGroundTruth)}, got {ground_truth!r}")
        self.tolerance = tolerance
        self.ground_truth = ground_truth
        # the batch key of the GT maps; None: the task's own label
        self.target_key: str | None = EDGE_BOUNDARY_GT if ground_truth == "seg2bmap" else None
        self.thresholds = edge_thresholds(num_thresholds)
        n = len(self.thresholds)
        for name in ("matched_pred", "pred", "matched_gt", "gt"):
            self.add_state(name, default=torch.zeros(n, dtype=torch.long), dist_reduce_fx="sum")
        # matched pred, pred, matched GT, GT at each image's best threshold, summed
        self.add_state("ois_counts", default=torch.zeros(4, dtype=torch.long),
                       dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        check_inputs(type(self).__name__, preds, target, 1, 1)
        probs = preds[:, 0].detach().float().cpu().numpy()
        labels = target[:, 0].detach().float().cpu().numpy()
        total = np.zeros((4, len(self.thresholds)), dtype=np.int64)
        best = np.zeros(4, dtype=np.int64)
        for prob, label in zip(probs, labels, strict=True):
            counts = image_counts(prob, label, self.thresholds, self.tolerance)
            if counts is None:
                continue
            total += counts
            best += counts[:, int(f_measure(*torch.from_numpy(counts)).argmax())]
        device = self.pred.device
        for name, row in zip(("matched_pred", "pred", "matched_gt", "gt"), total, strict=True):
            getattr(self, name).add_(torch.from_numpy(row).to(device))
        self.ois_counts += torch.from_numpy(best).to(device)

    def compute(self) -> dict[str, torch.Tensor]:
        ods = f_measure(self.matched_pred, self.pred, self.matched_gt, self.gt).max()
        ois = f_measure(*self.ois_counts)
        return {"odsf": ods * 100, "oisf": ois * 100}
