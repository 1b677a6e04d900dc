"""The task registry: the one place that says what each dense prediction task is.

Every other module (heads, losses, metrics, transforms, leaderboards) looks a task up here
instead of branching on its name.

Label conventions (after ``ToTensor``; raw numpy samples use HxW / HxWxC instead):

==============  ===============  ====================================================
task            tensor           invalid pixels
==============  ===============  ====================================================
semseg          long  [H, W]     255
human_parts     long  [H, W]     255
sal             long  [H, W]     255 (values 0 / 1 otherwise)
edge            float [1, H, W]  255 (values 0. / 1. otherwise)
depth           float [1, H, W]  255, or depth <= 0 (padding writes 0)
normals         float [3, H, W]  255 in any channel, or the zero vector
==============  ===============  ====================================================

Samples may also hold *evaluation targets* (``EVAL_TARGETS``): extra label maps that only
metrics read, e.g. ``edge_boundary_gt``, the seg2bmap boundaries that the PASCAL edge
metric scores against by default. Each has the layout, resizing and padding of a task's
label; the losses never see them (they read task keys only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # tensors pass through; the registry itself needs no torch
    from torch import Tensor

IGNORE_INDEX = 255

Direction = Literal["higher", "lower"]
OutputKind = Literal["argmax", "clamp", "l2norm", "sigmoid", "softmax"]


def _not_ignored(label: Tensor) -> Tensor:
    return label != IGNORE_INDEX


def _valid_depth(label: Tensor) -> Tensor:
    return (label != IGNORE_INDEX) & (label > 0)


def _valid_normals(label: Tensor) -> Tensor:
    ok = (label != IGNORE_INDEX).all(dim=-3, keepdim=True)
    return ok & (label.abs().sum(dim=-3, keepdim=True) > 0)


def _out_argmax(logits: Tensor) -> Tensor:
    return logits.argmax(dim=1)


def _out_clamp(pred: Tensor) -> Tensor:
    return pred.clamp_min(0.0)


def _out_l2norm(pred: Tensor) -> Tensor:
    # F.normalize: x / max(||x||, 1e-12)
    return pred / pred.norm(p=2, dim=1, keepdim=True).clamp_min(1e-12)


def _out_sigmoid(logits: Tensor) -> Tensor:
    return logits.sigmoid()


def _out_softmax_positive(logits: Tensor) -> Tensor:
    return logits.softmax(dim=1)[:, 1:2]


_OUTPUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "argmax": _out_argmax,
    "clamp": _out_clamp,
    "l2norm": _out_l2norm,
    "sigmoid": _out_sigmoid,
    "softmax": _out_softmax_positive,
}


@dataclass(frozen=True)
class TaskSpec:
    """What a task is, independent of the dataset; dataset constants come from DatasetSpec.

    ``final_channels`` / ``aux_channels`` are either a fixed int or a key that
    ``DatasetSpec.channels`` resolves: ``"classes"`` (the dataset's class count for this
    task), ``"depth_bins"`` or ``"normals_clusters"``.
    """

    name: str
    label_channels: int  # 0: a long class map [H, W]; else float [C, H, W]
    final_channels: int | str
    aux_channels: int | str
    loss_weight: float
    loss: str  # key of atrc_nas.losses.LOSSES
    aux_loss: str
    metric: str  # key of atrc_nas.metrics.METRICS; the task's primary metric
    direction: Direction
    output: OutputKind
    valid_mask: Callable[[Tensor], Tensor]
    ignore_value: int = IGNORE_INDEX
    interpolation: Literal["linear", "nearest"] = "nearest"  # how labels are resized

    @property
    def is_classification(self) -> bool:
        return self.label_channels == 0

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def to_output(self, final_logits: Tensor) -> Tensor:
        """Turn the network's final prediction [B, K, H, W] into the task's output."""
        return _OUTPUTS[self.output](final_logits)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="semseg", label_channels=0, final_channels="classes", aux_channels="classes",
            loss_weight=1.0, loss="cross_entropy", aux_loss="cross_entropy",
            metric="miou", direction="higher", output="argmax", valid_mask=_not_ignored,
        ),
        TaskSpec(
            name="human_parts", label_channels=0, final_channels="classes",
            aux_channels="classes", loss_weight=2.0, loss="cross_entropy",
            aux_loss="cross_entropy", metric="parts_miou", direction="higher",
            output="argmax", valid_mask=_not_ignored,
        ),
        TaskSpec(
            name="sal", label_channels=0, final_channels=2, aux_channels=2, loss_weight=5.0,
            loss="balanced_cross_entropy", aux_loss="balanced_cross_entropy",
            metric="maxf", direction="higher", output="softmax", valid_mask=_not_ignored,
        ),
        TaskSpec(
            name="normals", label_channels=3, final_channels=3,
            aux_channels="normals_clusters", loss_weight=10.0, loss="normals_l1",
            aux_loss="normals_cluster_ce", metric="mean_angle", direction="lower",
            output="l2norm", valid_mask=_valid_normals, interpolation="nearest",
        ),
        TaskSpec(
            name="depth", label_channels=1, final_channels=1, aux_channels="depth_bins",
            loss_weight=1.0, loss="depth_l1", aux_loss="depth_bin_ce", metric="rmse",
            direction="lower", output="clamp", valid_mask=_valid_depth,
        ),
        TaskSpec(
            name="edge", label_channels=1, final_channels=1, aux_channels=2,
            loss_weight=50.0, loss="edge_bce", aux_loss="edge_ce", metric="odsf",
            direction="higher", output="sigmoid", valid_mask=_not_ignored,
        ),
    )
}


EDGE_BOUNDARY_GT = "edge_boundary_gt"
"""Sample key of the seg2bmap boundaries of a dataset's label map (float 0. / 1., 255)."""

EVAL_TARGETS: dict[str, str] = {EDGE_BOUNDARY_GT: "edge"}
"""Evaluation-only sample keys -> the task whose label layout, resizing and padding they share."""

BoundaryGroundTruth = Literal["label", "seg2bmap"]
"""What the edge metric scores against: the edge label itself, or ``EDGE_BOUNDARY_GT``."""


def label_task(key: str) -> TaskSpec | None:
    """The task whose label rules apply to sample key ``key`` (a task label or an
    evaluation target), or None for other keys (image, meta)."""
    if key in TASKS:
        return TASKS[key]
    if key in EVAL_TARGETS:
        return TASKS[EVAL_TARGETS[key]]
    return None


def get_task(name: str) -> TaskSpec:
    """Look a task up by name, with an error that lists the known tasks."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
