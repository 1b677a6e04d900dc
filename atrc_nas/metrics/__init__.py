"""Dataset-pooled metrics whose states are sums, plus the multi-task evaluator and Delta_m.

Every metric is a ``torchmetrics.Metric`` with ``dist_reduce_fx="sum"`` states only, so
results merge across DDP ranks by addition.
"""

from atrc_nas.metrics.boundary import BoundaryFMeasure
from atrc_nas.metrics.delta import delta_m
from atrc_nas.metrics.depth import DepthRMSE
from atrc_nas.metrics.evaluator import MultiTaskEvaluator, primary_metrics
from atrc_nas.metrics.normals import NormalsMeanAngle
from atrc_nas.metrics.registry import METRICS, build_metric
from atrc_nas.metrics.saliency import MaxFMeasure
from atrc_nas.metrics.segmentation import MeanIoU, PartsMeanIoU

__all__ = [
    "METRICS",
    "BoundaryFMeasure",
    "DepthRMSE",
    "MaxFMeasure",
    "MeanIoU",
    "MultiTaskEvaluator",
    "NormalsMeanAngle",
    "PartsMeanIoU",
    "build_metric",
    "delta_m",
    "primary_metrics",
]
