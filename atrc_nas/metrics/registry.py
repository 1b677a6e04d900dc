"""METRICS: the primary metric of each task, keyed by ``TaskSpec.metric``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchmetrics import Metric

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics.boundary import BoundaryFMeasure
from atrc_nas.metrics.depth import DepthRMSE
from atrc_nas.metrics.normals import NormalsMeanAngle
from atrc_nas.metrics.saliency import MaxFMeasure
from atrc_nas.metrics.segmentation import MeanIoU, PartsMeanIoU

MetricFactory = Callable[..., Metric]  # (dataset_spec, task, **options) -> Metric


def _miou(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return MeanIoU(spec.channels(task), **options)


def _parts_miou(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return PartsMeanIoU(spec.channels(task), **options)


def _rmse(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return DepthRMSE(**options)


def _mean_angle(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return NormalsMeanAngle(**options)


def _maxf(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return MaxFMeasure(**options)


def _odsf(spec: DatasetSpec, task: str, **options: Any) -> Metric:
    return BoundaryFMeasure(spec.boundary_tolerance, **options)


METRICS: dict[str, MetricFactory] = {
    "miou": _miou,
    "parts_miou": _parts_miou,
    "rmse": _rmse,
    "mean_angle": _mean_angle,
    "maxf": _maxf,
    "odsf": _odsf,
}


def build_metric(dataset_spec: DatasetSpec, task: str, **options: Any) -> Metric:
    """The primary metric of ``task`` on ``dataset_spec``; ``options`` go to its class
    (e.g. ``num_thresholds`` for the boundary metric)."""
    name = dataset_spec.require_task(task).metric
    try:
        factory = METRICS[name]
    except KeyError:
        raise KeyError(f"task {task!r} names metric {name!r}, which METRICS lacks; "
                       f"known metrics: {', '.join(METRICS)}") from None
    return factory(dataset_spec, task, **options)
