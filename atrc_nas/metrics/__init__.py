"""Dataset-pooled metrics whose states are sums, plus the multi-task evaluator and Delta_m.

Every metric is a ``torchmetrics.Metric`` with ``dist_reduce_fx="sum"`` states only, so
results merge across DDP ranks by addition. ``delta.py`` (Delta_m, primary metrics) needs
no torch; the names below are imported from their modules on first use.
"""

from atrc_nas.lazy import lazy_exports

_EXPORTS = {
    "BoundaryFMeasure": "boundary", "DepthRMSE": "depth", "MaxFMeasure": "saliency",
    "MeanIoU": "segmentation", "PartsMeanIoU": "segmentation", "NormalsMeanAngle": "normals",
    "MultiTaskEvaluator": "evaluator", "METRICS": "registry", "build_metric": "registry",
    "delta_m": "delta", "primary_metrics": "delta",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
