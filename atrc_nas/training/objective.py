"""The multi-task objective: weighted final and auxiliary losses, all from the task registry."""

from __future__ import annotations

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.errors import DivergenceError
from atrc_nas.losses import build_loss


def ensure_finite(step: int, total: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
    """Raise DivergenceError naming ``step`` and the non-finite terms if ``total`` is not
    finite (one device sync per step; the terms are only inspected on failure)."""
    if bool(torch.isfinite(total.detach())):
        return
    bad = {name: float(value.detach().float()) for name, value in terms.items()
           if not bool(torch.isfinite(torch.as_tensor(value).detach()))}
    named = ", ".join(f"{name}={value}" for name, value in bad.items()) or "none of its terms"
    raise DivergenceError(f"the loss diverged at step {step}: loss={float(total.detach())}; "
                          f"non-finite terms: {named}. Lower the learning rate (optim.lr), "
                          "clip gradients (optim.grad_clip) or check the data")


class MultiTaskObjective(nn.Module):
    """Sum over tasks of ``weight * (final loss + aux loss)``; aux only where a head exists.

    The normals centroids (for the normals aux loss) are a buffer, so they travel with
    checkpoints and a resumed run uses the same clusters.
    """

    def __init__(self, spec: DatasetSpec, normals_centroids: torch.Tensor | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.weights = {t.name: t.loss_weight for t in spec.task_specs()}
        self.final = nn.ModuleDict({
            t.name: build_loss(t.loss, spec, t.name, normals_centroids=normals_centroids)
            for t in spec.task_specs()
        })
        self.aux = nn.ModuleDict({
            t.name: build_loss(t.aux_loss, spec, t.name, normals_centroids=normals_centroids)
            for t in spec.task_specs()
        })

    def forward(
        self, outputs: dict[str, dict[str, torch.Tensor]], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        predicted = {*outputs["final"], *outputs.get("aux", {})}
        unknown = sorted(predicted - set(self.final))
        if unknown:
            raise KeyError(f"MultiTaskObjective: outputs for task(s) {unknown} that dataset "
                           f"{self.spec.name!r} lacks (tasks: {list(self.spec.tasks)})")
        missing = sorted(predicted - set(batch))
        if missing:
            raise KeyError(f"MultiTaskObjective: the batch lacks the labels of task(s) "
                           f"{missing} (it holds {sorted(batch)})")
        parts: dict[str, torch.Tensor] = {}
        for task, pred in outputs["final"].items():
            parts[f"{task}/final"] = self.weights[task] * self.final[task](pred, batch[task])
        for task, pred in outputs.get("aux", {}).items():
            parts[f"{task}/aux"] = self.weights[task] * self.aux[task](pred, batch[task])
        total = torch.stack(list(parts.values())).sum()
        return total, parts
