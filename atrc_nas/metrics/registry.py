"""METRICS: the primary metric of each task, keyed by ``TaskSpec.metric``.

Each entry names the metric class and the constructor arguments that come from the
dataset (class count, boundary tolerance); the class's other keyword parameters are the
metric's user options, and their schema is read off the constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from torchmetrics import Metric

from atrc_nas.config import parse_config, signature_model
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics.boundary import BoundaryFMeasure
from atrc_nas.metrics.depth import DepthRMSE
from atrc_nas.metrics.normals import NormalsMeanAngle
from atrc_nas.metrics.saliency import MaxFMeasure
from atrc_nas.metrics.segmentation import MeanIoU, PartsMeanIoU

# Set from the task registry, not per run.
_NOT_OPTIONS = ("ignore_index",)


def _no_args(spec: DatasetSpec, task: str) -> dict[str, Any]:
    return {}


@cache
def _options_model(cls: type[Metric], supplied: tuple[str, ...]) -> type:
    return signature_model(cls.__init__, f"{cls.__name__}Options",
                           exclude=(*_NOT_OPTIONS, *supplied))


@dataclass(frozen=True)
class MetricEntry:
    """``cls(**dataset_args(spec, task), **options)``; ``supplied`` names the keys
    ``dataset_args`` returns (they are not user options); ``dataset_defaults`` gives
    option defaults that depend on the dataset (the user's options override them)."""

    cls: type[Metric]
    supplied: tuple[str, ...] = ()
    dataset_args: Callable[[DatasetSpec, str], dict[str, Any]] = _no_args
    dataset_defaults: Callable[[DatasetSpec, str], dict[str, Any]] = _no_args

    @property
    def options_model(self) -> type:
        """The schema of the metric's user options (its remaining keyword parameters)."""
        return _options_model(self.cls, self.supplied)


def _classes(spec: DatasetSpec, task: str) -> dict[str, Any]:
    return {"num_classes": spec.channels(task)}


def _tolerance(spec: DatasetSpec, task: str) -> dict[str, Any]:
    return {"tolerance": spec.boundary_tolerance}


def _boundary_ground_truth(spec: DatasetSpec, task: str) -> dict[str, Any]:
    return {"ground_truth": spec.boundary_ground_truth}


METRICS: dict[str, MetricEntry] = {
    "miou": MetricEntry(MeanIoU, ("num_classes",), _classes),
    "parts_miou": MetricEntry(PartsMeanIoU, ("num_classes",), _classes),
    "rmse": MetricEntry(DepthRMSE),
    "mean_angle": MetricEntry(NormalsMeanAngle),
    "maxf": MetricEntry(MaxFMeasure),
    "odsf": MetricEntry(BoundaryFMeasure, ("tolerance",), _tolerance, _boundary_ground_truth),
}


def metric_entry(dataset_spec: DatasetSpec, task: str) -> MetricEntry:
    """The METRICS entry of ``task``'s primary metric."""
    name = dataset_spec.require_task(task).metric
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"task {task!r} names metric {name!r}, which METRICS lacks; "
                       f"known metrics: {', '.join(METRICS)}") from None


def build_metric(dataset_spec: DatasetSpec, task: str, **options: Any) -> Metric:
    """The primary metric of ``task`` on ``dataset_spec``; ``options`` (validated against
    the metric's options schema) go to its class, e.g. ``num_thresholds`` of the boundary
    metric."""
    entry = metric_entry(dataset_spec, task)
    parsed = parse_config(entry.options_model, options, source=f"{task} metric options")
    chosen = {**entry.dataset_defaults(dataset_spec, task),
              **parsed.model_dump(exclude_unset=True)}
    return entry.cls(**entry.dataset_args(dataset_spec, task), **chosen)
