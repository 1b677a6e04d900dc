"""MultiTaskEvaluator: one primary metric per task, fed with raw network predictions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics.registry import build_metric
from atrc_nas.tasks import get_task


class MultiTaskEvaluator(nn.Module):
    """Holds the primary metric of each task (all tasks of the dataset by default).

    ``update(outputs, batch)`` takes the raw final predictions ``{task: [B, K, H, W]}`` at
    label resolution and the batch holding each task's labels; it applies
    ``TaskSpec.to_output`` itself. A metric whose ``target_key`` is set is fed that batch
    entry instead of the task's label (the boundary metric with ``ground_truth="seg2bmap"``
    reads ``edge_boundary_gt``); the dataset must list it in ``DatasetSpec.eval_targets``.
    ``compute()`` returns flat keys ``"<task>/<metric>"`` (the boundary metric adds
    ``"edge/oisf"`` next to ``"edge/odsf"``).
    ``metric_options`` maps a task to keyword arguments of its metric class.
    """

    def __init__(
        self,
        dataset_spec: DatasetSpec,
        tasks: Iterable[str] | None = None,
        metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.tasks = tuple(tasks) if tasks is not None else dataset_spec.tasks
        options = dict(metric_options or {})
        stray = sorted(set(options) - set(self.tasks))
        if stray:
            raise KeyError(f"metric_options name task(s) {stray} that are not evaluated "
                           f"(tasks: {list(self.tasks)})")
        self.metrics = nn.ModuleDict({
            task: build_metric(dataset_spec, task, **options.get(task, {}))
            for task in self.tasks
        })
        self.target_keys = {
            task: getattr(metric, "target_key", None) or task
            for task, metric in self.metrics.items()
        }
        for task, key in self.target_keys.items():
            if key != task and key not in dataset_spec.eval_targets:
                raise KeyError(
                    f"task {task!r}: its metric reads {key!r} from the batch, which dataset "
                    f"{dataset_spec.name!r} does not provide (its evaluation targets: "
                    f"{list(dataset_spec.eval_targets)}); choose another metric option"
                )

    @torch.no_grad()
    def update(self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]) -> None:
        for task, metric in self.metrics.items():
            key = self.target_keys[task]
            for what, holder, name in (("outputs", outputs, task), ("batch", batch, key)):
                if name not in holder:
                    what_name = f"task {task!r}" if name == task else f"{name!r} (task {task!r})"
                    raise KeyError(f"MultiTaskEvaluator: {what} lack {what_name} "
                                   f"(they hold {sorted(holder)})")
            try:
                metric.update(get_task(task).to_output(outputs[task]), batch[key])
            except ValueError as err:
                raise ValueError(f"task {task!r}: {err}") from err

    def compute(self) -> dict[str, float]:
        results: dict[str, float] = {}
        for task, metric in self.metrics.items():
            value = metric.compute()
            if isinstance(value, Mapping):
                results.update({f"{task}/{name}": float(v) for name, v in value.items()})
            else:
                results[f"{task}/{get_task(task).metric}"] = float(value)
        return results

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
