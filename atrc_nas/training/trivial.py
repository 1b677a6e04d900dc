"""The trivial predictor: what a network that learned nothing but the training split's label
statistics scores on the test split, so a leaderboard shows how far above "learned
nothing" every network is.

Per task one constant prediction from the training split (the carve-out for validation left
out), chosen by the task's output kind in the registry (``atrc_nas.tasks``) over the pixels
its ``valid_mask`` keeps: the most frequent class (class maps), the mean value (``clamp``:
depth), the mean direction (``l2norm``: normals), no positive pixel anywhere
(``sigmoid``: edges). It is scored with the run's own test metrics (the same options, the
same pooled sums).
"""

from __future__ import annotations

from typing import Any

import torch

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.data.transforms import label_tensor
from atrc_nas.metrics.evaluator import MultiTaskEvaluator
from atrc_nas.tasks import get_task
from atrc_nas.training.config import TrainConfig

MARGIN = 30.0  # logits that make a constant choice certain (softmax/sigmoid saturate)


def label_statistics(dataset: Any, indices: list[int], spec: DatasetSpec
                     ) -> dict[str, Any]:
    """Per task, the constant a trivial predictor outputs (see the module docstring)."""
    sums: dict[str, torch.Tensor] = {}
    pixels: dict[str, int] = {}
    for index in indices:
        sample = dataset.load_raw(index)
        for name in spec.tasks:
            task = get_task(name)
            label = label_tensor(name, task, sample[name],
                                 sample.get("meta", {}).get("id", str(index)))
            valid = task.valid_mask(label)
            if task.is_classification:
                total = torch.bincount(label[valid].long(), minlength=spec.channels(name))
            else:
                total = label.double()[:, valid[0]].sum(dim=1)  # [C]
            sums[name] = sums[name] + total if name in sums else total
            pixels[name] = pixels.get(name, 0) + int(valid.sum())
    stats: dict[str, Any] = {}
    for name in spec.tasks:
        task = get_task(name)
        if task.is_classification:
            stats[name] = {"class": int(torch.argmax(sums[name]))}
        elif task.output == "clamp":
            stats[name] = {"mean": float(sums[name][0]) / max(pixels[name], 1)}
        elif task.output == "l2norm":
            stats[name] = {"direction": (sums[name] / sums[name].norm().clamp_min(1e-12)
                                         ).tolist()}
        else:  # sigmoid
            stats[name] = {"every pixel": "background"}
    return stats


def constant_outputs(stats: dict[str, Any], spec: DatasetSpec, batch: dict[str, Any]
                     ) -> dict[str, torch.Tensor]:
    """The trivial predictor's raw outputs for one batch, at label resolution."""
    b, _, h, w = batch["image"].shape
    outputs: dict[str, torch.Tensor] = {}
    for name in spec.tasks:
        value = stats[name]
        channels = spec.channels(name)
        if "class" in value:
            out = torch.zeros(b, channels, h, w)
            out[:, value["class"]] = MARGIN
        elif "mean" in value:
            out = torch.full((b, channels, h, w), float(value["mean"]))
        elif "direction" in value:
            out = torch.tensor(value["direction"], dtype=torch.float32).view(
                1, channels, 1, 1).expand(b, channels, h, w).clone()
        else:  # no positive pixel anywhere
            out = torch.full((b, channels, h, w), -MARGIN)
        outputs[name] = out
    return outputs


def trivial_test_metrics(cfg: TrainConfig) -> dict[str, Any]:
    """The trivial predictor of ``cfg``'s data and tasks, and its test metrics."""
    from atrc_nas.training.run import build_datamodule

    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    datamodule.setup("test")
    spec = datamodule.spec
    train = datamodule.train_set
    stats = label_statistics(train.dataset, train.indices, spec)
    evaluator = MultiTaskEvaluator(spec, metric_options=cfg.trainer.test_metric_options)
    for batch in datamodule.test_dataloader():
        evaluator.update(constant_outputs(stats, spec, batch), batch)
    h, w = datamodule.crop_size
    return {"dataset": spec.name, "tasks": list(spec.tasks), "input_size": [h, w],
            "predictor": stats,
            "test": {f"test/{k}": v for k, v in evaluator.compute().items()}}
