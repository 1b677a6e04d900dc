"""Task losses, keyed by ``TaskSpec.loss`` / ``TaskSpec.aux_loss``.

Every loss takes a prediction ``[B, K, H, W]`` at label resolution and the task's label
tensor (layout in ``atrc_nas/tasks.py``) and returns a scalar: a sum over valid pixels
divided by the number of valid pixels (at least 1), so a batch without valid pixels gives
0 with a gradient path instead of NaN. Valid pixels come from the task's ``valid_mask``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from atrc_nas.data.aux_targets import depth_to_bin
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.tasks import IGNORE_INDEX, TaskSpec, get_task


def _masked_mean(per_pixel: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Sum of ``per_pixel`` over ``valid`` divided by max(#valid, 1)."""
    total = torch.where(valid, per_pixel, torch.zeros_like(per_pixel)).sum()
    return total / valid.sum().clamp_min(1)


class _TaskLoss(nn.Module):
    """A loss for one task; ``check`` insists on predictions at label resolution."""

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task: TaskSpec = get_task(task)

    @property
    def description(self) -> str:
        return f"{type(self).__name__} ({self.task.name})"

    def check(self, pred: torch.Tensor, label: torch.Tensor) -> None:
        if pred.dim() != 4 or pred.shape[0] != label.shape[0] \
                or pred.shape[-2:] != label.shape[-2:]:
            raise ValueError(
                f"{self.description}: prediction must be [B, K, H, W] at label resolution; got "
                f"prediction {tuple(pred.shape)} for label {tuple(label.shape)}"
            )

    def require_layout(self, label: torch.Tensor, channels: int | None) -> None:
        """Raise unless ``label`` is ``[B, H, W]`` (channels None) or ``[B, channels, H, W]``."""
        if channels is None and label.dim() == 3:
            return
        if channels is not None and label.dim() == 4 and label.shape[1] == channels:
            return
        layout = "[B, H, W]" if channels is None else f"[B, {channels}, H, W]"
        raise ValueError(f"{self.description}: label must be {layout}, got {tuple(label.shape)}")


class CrossEntropy(_TaskLoss):
    """Cross-entropy over a class map, ``IGNORE_INDEX`` pixels ignored.

    Subclasses derive the class map from other labels in ``targets``. With class weights
    each pixel's term is multiplied by the weight of its true class; the sum is still
    divided by the number of valid pixels.
    """

    def __init__(self, task: str, class_weights: tuple[float, ...] | None = None) -> None:
        super().__init__(task)
        weights = torch.tensor(class_weights) if class_weights is not None else None
        self.register_buffer("class_weights", weights, persistent=False)

    def targets(self, label: torch.Tensor) -> torch.Tensor:
        self.require_layout(label, None)
        return label.long()

    def weights(self, target: torch.Tensor) -> torch.Tensor | None:
        return self.class_weights

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        target = self.targets(label)
        self.check(pred, target)
        loss = F.cross_entropy(pred.float(), target, weight=self.weights(target),
                               ignore_index=IGNORE_INDEX, reduction="sum")
        return loss / (target != IGNORE_INDEX).sum().clamp_min(1)


class BalancedCrossEntropy(CrossEntropy):
    """2-class cross-entropy weighted per batch: class 1 by w_pos = #negative / #valid,
    class 0 by 1 - w_pos."""

    def weights(self, target: torch.Tensor) -> torch.Tensor:
        valid = target != IGNORE_INDEX
        w_pos = (target == 0).sum() / valid.sum().clamp_min(1)
        return torch.stack([1 - w_pos, w_pos]).float()


class EdgeCrossEntropy(CrossEntropy):
    """2-class cross-entropy on edge labels ``[B, 1, H, W]``, class weights ``[1 - p, p]``
    with p the dataset's edge positive weight."""

    def __init__(self, spec: DatasetSpec, task: str) -> None:
        super().__init__(task, class_weights=(1.0 - spec.edge_pos_weight, spec.edge_pos_weight))

    def targets(self, label: torch.Tensor) -> torch.Tensor:
        self.require_layout(label, 1)
        edge = (label[:, 0] > 0.5).long()
        valid = self.task.valid_mask(label)[:, 0]
        return torch.where(valid, edge, torch.full_like(edge, IGNORE_INDEX))


class NormalsClusterCrossEntropy(CrossEntropy):
    """Cross-entropy to the nearest (Euclidean) of the normals centroids ``[K, 3]``."""

    def __init__(self, task: str, centroids: torch.Tensor | None) -> None:
        super().__init__(task)
        if centroids is not None and (centroids.dim() != 2 or centroids.shape[1] != 3):
            raise ValueError(f"normals centroids must be [K, 3], got {tuple(centroids.shape)}")
        self.register_buffer("centroids", centroids)

    def targets(self, label: torch.Tensor) -> torch.Tensor:
        if self.centroids is None:
            raise RuntimeError(
                "the normals_cluster_ce loss needs the normals centroids: pass "
                "normals_centroids [K, 3] to build_loss"
            )
        self.require_layout(label, 3)
        centroids = self.centroids.to(label.dtype)
        # argmin_k |g - c_k|^2 = argmin_k (|c_k|^2 - 2 g.c_k)
        distance = (centroids * centroids).sum(1)[None, :, None, None] \
            - 2 * torch.einsum("bchw,kc->bkhw", label, centroids)
        nearest = distance.argmin(dim=1)
        valid = self.task.valid_mask(label)[:, 0]
        return torch.where(valid, nearest, torch.full_like(nearest, IGNORE_INDEX))


class DepthBinCrossEntropy(CrossEntropy):
    """Cross-entropy over the dataset's log-spaced depth bins (see ``depth_to_bin``)."""

    def __init__(self, spec: DatasetSpec, task: str) -> None:
        super().__init__(task)
        self.spec = spec

    def targets(self, label: torch.Tensor) -> torch.Tensor:
        self.require_layout(label, 1)
        return depth_to_bin(label[:, 0], self.spec)


class EdgeBCE(_TaskLoss):
    """Weighted BCE with logits ``[B, 1, H, W]``: ``-p y log s - (1 - p)(1 - y) log(1 - s)``
    with p the dataset's edge positive weight."""

    def __init__(self, spec: DatasetSpec, task: str) -> None:
        super().__init__(task)
        self.pos_weight = spec.edge_pos_weight

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        self.require_layout(label, 1)
        self.check(pred, label)
        valid = self.task.valid_mask(label)
        y = torch.where(valid, label, torch.zeros_like(label))
        logits = pred.float()
        p = self.pos_weight
        per_pixel = -p * y * F.logsigmoid(logits) - (1 - p) * (1 - y) * F.logsigmoid(-logits)
        return _masked_mean(per_pixel, valid)


class MaskedL1(_TaskLoss):
    """Mean over valid pixels of the L1 distance summed over channels; with
    ``normalize`` the prediction is L2-normalised first (surface normals)."""

    def __init__(self, task: str, normalize: bool = False) -> None:
        super().__init__(task)
        self.normalize = normalize

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        self.require_layout(label, self.task.label_channels)
        self.check(pred, label)
        if pred.shape != label.shape:
            raise ValueError(f"{self.description}: prediction {tuple(pred.shape)} and label "
                             f"{tuple(label.shape)} differ")
        pred = pred.float()
        if self.normalize:
            pred = F.normalize(pred, p=2, dim=1)
        valid = self.task.valid_mask(label)
        gt = torch.where(valid, label, torch.zeros_like(label))
        per_pixel = (pred - gt).abs().sum(dim=1, keepdim=True)
        return _masked_mean(per_pixel, valid)


# (dataset spec, task, normals centroids or None) -> loss module
LossFactory = Callable[[DatasetSpec, str, torch.Tensor | None], nn.Module]

LOSSES: dict[str, LossFactory] = {
    "cross_entropy": lambda spec, task, centroids: CrossEntropy(task),
    "balanced_cross_entropy": lambda spec, task, centroids: BalancedCrossEntropy(task),
    "normals_l1": lambda spec, task, centroids: MaskedL1(task, normalize=True),
    "normals_cluster_ce": lambda spec, task, centroids: NormalsClusterCrossEntropy(
        task, centroids
    ),
    "depth_l1": lambda spec, task, centroids: MaskedL1(task),
    "depth_bin_ce": lambda spec, task, centroids: DepthBinCrossEntropy(spec, task),
    "edge_bce": lambda spec, task, centroids: EdgeBCE(spec, task),
    "edge_ce": lambda spec, task, centroids: EdgeCrossEntropy(spec, task),
}


def build_loss(
    name: str,
    dataset_spec: DatasetSpec,
    task: str,
    normals_centroids: torch.Tensor | None = None,
) -> nn.Module:
    """The loss ``name`` for ``task``: ``forward(pred [B, K, H, W], label) -> scalar``.

    ``normals_centroids`` ``[K, 3]`` is needed by ``normals_cluster_ce`` only; without it
    that loss raises when called.
    """
    try:
        factory = LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}") from None
    dataset_spec.require_task(task)
    return factory(dataset_spec, task, normals_centroids)
