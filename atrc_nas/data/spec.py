"""Dataset specifications: which tasks a dataset has and the constants its tasks need (each
dataset defines its spec beside its loader; its entry in :mod:`atrc_nas.data.registry`
holds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import get_args

from atrc_nas.tasks import (
    EDGE_BOUNDARY_GT,
    EVAL_TARGETS,
    BoundaryGroundTruth,
    TaskSpec,
    get_task,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetSpec:
    """Constants of one dataset. ``num_classes`` covers its classification tasks.

    ``eval_targets`` are the evaluation-only keys (``atrc_nas.tasks.EVAL_TARGETS``) that the
    dataset's samples carry; ``boundary_ground_truth`` is what the edge metric scores
    against unless its metric options choose (``"seg2bmap"`` needs ``EDGE_BOUNDARY_GT``).
    """

    name: str
    tasks: tuple[str, ...]
    num_classes: Mapping[str, int]
    crop_size: tuple[int, int]  # (H, W) of training crops and of padded validation inputs
    edge_pos_weight: float
    boundary_tolerance: float  # maxDist as a fraction of the image diagonal
    boundary_ground_truth: BoundaryGroundTruth = "label"
    eval_targets: tuple[str, ...] = ()
    depth_bins: int = 40
    depth_range: tuple[float, float] = (0.7, 10.0)  # metres, for the log-spaced aux bins
    normals_clusters: int = 40
    lr: float = 0.01  # reference learning rate of the recipe
    scale_range: tuple[float, float] = (0.5, 2.0)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for task in self.tasks:
            spec = get_task(task)
            for ch in (spec.final_channels, spec.aux_channels):
                if ch == "classes" and task not in self.num_classes:
                    raise ValueError(f"dataset {self.name!r}: num_classes lacks task {task!r}")
        for key in self.eval_targets:
            if EVAL_TARGETS.get(key) not in self.tasks:
                raise ValueError(f"dataset {self.name!r}: evaluation target {key!r} is not "
                                 f"one of {sorted(EVAL_TARGETS)} or its task is missing")
        if self.boundary_ground_truth not in get_args(BoundaryGroundTruth):
            raise ValueError(f"dataset {self.name!r}: boundary_ground_truth must be one of "
                             f"{get_args(BoundaryGroundTruth)}, got {self.boundary_ground_truth!r}")
        if (self.boundary_ground_truth == "seg2bmap" and "edge" in self.tasks
                and EDGE_BOUNDARY_GT not in self.eval_targets):
            raise ValueError(f"dataset {self.name!r}: boundary_ground_truth 'seg2bmap' needs "
                             f"the evaluation target {EDGE_BOUNDARY_GT!r}")

    def task_specs(self) -> list[TaskSpec]:
        return [get_task(t) for t in self.tasks]

    def require_task(self, task: str) -> TaskSpec:
        """The registry entry of ``task``, which must be one of this dataset's tasks."""
        spec = get_task(task)
        if task not in self.tasks:
            raise KeyError(
                f"task {task!r} is not part of dataset {self.name!r} (tasks: {list(self.tasks)})"
            )
        return spec

    def channels(self, task: str, which: str = "final") -> int:
        """Output channels of a task's final (``which="final"``) or aux prediction."""
        spec = self.require_task(task)
        if which not in ("final", "aux"):
            raise ValueError(f"which must be 'final' or 'aux', got {which!r}")
        value = spec.final_channels if which == "final" else spec.aux_channels
        if isinstance(value, int):
            return value
        if value == "classes":
            return int(self.num_classes[task])
        return int(getattr(self, value))

    def with_tasks(self, tasks: tuple[str, ...] | list[str]) -> DatasetSpec:
        """The same dataset restricted to a subset of its tasks (in the given order)."""
        unknown = [t for t in tasks if t not in self.tasks]
        if unknown:
            raise KeyError(
                f"dataset {self.name!r} has no task(s) {unknown}; available: {list(self.tasks)}"
            )
        kept = tuple(k for k in self.eval_targets if EVAL_TARGETS[k] in tasks)
        return replace(self, tasks=tuple(tasks), eval_targets=kept)

