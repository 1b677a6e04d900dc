"""The trivial predictor: what a network that learned nothing but the training split's label
statistics scores on the test split, so a leaderboard shows how far above "learned
nothing" every network is.

Per task one constant prediction from the training split (the carve-out for validation left
out): the most frequent class (semseg, human_parts, sal), the mean depth and the mean normal
direction over valid pixels, and an all-background edge map. It is scored with the run's own
test metrics (the same options, the same pooled sums).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics.evaluator import MultiTaskEvaluator
from atrc_nas.tasks import IGNORE_INDEX
from atrc_nas.training.config import TrainConfig

MARGIN = 30.0  # logits that make a constant choice certain (softmax/sigmoid saturate)


def label_statistics(dataset: Any, indices: list[int], spec: DatasetSpec
                     ) -> dict[str, Any]:
    """Per task, the constant a trivial predictor outputs (see the module docstring)."""
    counts: dict[str, np.ndarray] = {}
    depth_sum, depth_n = 0.0, 0
    normal_sum = np.zeros(3)
    for index in indices:
        sample = dataset.load_raw(index)
        for task in spec.tasks:
            label = np.asarray(sample[task])
            if task in ("semseg", "human_parts", "sal"):
                valid = label[label != IGNORE_INDEX].astype(np.int64)
                counts[task] = counts.get(task, 0) + np.bincount(
                    valid, minlength=spec.num_classes.get(task, 2))
            elif task == "depth":
                valid = label[(label != IGNORE_INDEX) & (label > 0)]
                depth_sum += float(valid.sum(dtype=np.float64))
                depth_n += valid.size
            elif task == "normals":
                ok = (label != IGNORE_INDEX).all(axis=-1) & (np.abs(label).sum(axis=-1) > 0)
                normal_sum += label[ok].sum(axis=0, dtype=np.float64)
    stats: dict[str, Any] = {}
    for task in spec.tasks:
        if task in counts:
            stats[task] = {"class": int(np.argmax(counts[task]))}
        elif task == "depth":
            stats[task] = {"depth": depth_sum / max(depth_n, 1)}
        elif task == "normals":
            stats[task] = {"normal": (normal_sum / max(np.linalg.norm(normal_sum), 1e-12)
                                      ).tolist()}
        elif task == "edge":
            stats[task] = {"edge": "background everywhere"}
    return stats


def constant_outputs(stats: dict[str, Any], spec: DatasetSpec, batch: dict[str, Any]
                     ) -> dict[str, torch.Tensor]:
    """The trivial predictor's raw outputs for one batch, at label resolution."""
    images = batch["image"]
    b, _, h, w = images.shape
    outputs: dict[str, torch.Tensor] = {}
    for task in spec.tasks:
        channels = spec.channels(task)
        value = stats[task]
        if "class" in value:
            out = torch.zeros(b, channels, h, w)
            out[:, value["class"]] = MARGIN
        elif "depth" in value:
            out = torch.full((b, 1, h, w), float(value["depth"]))
        elif "normal" in value:
            out = torch.tensor(value["normal"], dtype=torch.float32).view(1, 3, 1, 1).expand(
                b, 3, h, w).clone()
        else:  # edge: no boundary anywhere
            out = torch.full((b, channels, h, w), -MARGIN)
        outputs[task] = out
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
