"""The trivial predictor against statistics and metrics computed by hand with numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from atrc_nas.config import parse_config
from atrc_nas.tasks import IGNORE_INDEX
from atrc_nas.training.config import TrainConfig
from atrc_nas.training.run import build_datamodule
from atrc_nas.training.trivial import trivial_test_metrics


def test_trivial_predictor_against_hand_computed_metrics(tmp_path):
    cfg = parse_config(TrainConfig, {
        "seed": 0, "output_dir": str(tmp_path),
        "data": {"dataset": "synthetic_nyud", "batch_size": 4, "crop_size": [32, 40],
                 "options": {"num_images": 12, "image_size": [32, 40]}},
        "model": {"network": "multi_task", "backbone": "hrnet_tiny"}})
    found = trivial_test_metrics(cfg)

    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    datamodule.setup("test")
    train = [datamodule.train_set.dataset.load_raw(i) for i in datamodule.train_set.indices]
    test = [datamodule.test_set.dataset.load_raw(i) for i in range(len(datamodule.test_set))]
    assert len(train) < 12  # the validation carve-out is not used

    classes = datamodule.spec.num_classes["semseg"]
    counts = sum(np.bincount(s["semseg"][s["semseg"] != IGNORE_INDEX].ravel(),
                             minlength=classes) for s in train)
    majority = int(np.argmax(counts))
    depths = np.concatenate([s["depth"][(s["depth"] != IGNORE_INDEX) & (s["depth"] > 0)]
                             for s in train])
    normals = np.concatenate([s["normals"][np.abs(s["normals"]).sum(-1) > 0] for s in train]
                             ).astype(np.float64)
    mean_normal = normals.sum(0) / np.linalg.norm(normals.sum(0))
    assert found["predictor"]["semseg"] == {"class": majority}
    assert found["predictor"]["depth"]["mean"] == pytest.approx(depths.mean(dtype=np.float64),
                                                                 rel=1e-9)
    assert found["predictor"]["normals"]["direction"] == pytest.approx(mean_normal.tolist())
    assert found["predictor"]["edge"] == {"every pixel": "background"}

    # mIoU of a constant class: its IoU is its share of the valid pixels, every other's 0
    labels = np.concatenate([s["semseg"].ravel() for s in test])
    labels = labels[labels != IGNORE_INDEX]
    miou = 100 * np.mean(labels == majority) / classes
    gt_depth = np.concatenate([s["depth"][s["depth"] > 0] for s in test])
    rmse = math.sqrt(np.mean((depths.mean() - gt_depth) ** 2))
    gt_normals = np.concatenate([s["normals"][np.abs(s["normals"]).sum(-1) > 0] for s in test])
    gt_normals = gt_normals / np.linalg.norm(gt_normals, axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(gt_normals @ mean_normal, -1, 1))).mean()
    test_metrics = found["test"]
    assert test_metrics["test/semseg/miou"] == pytest.approx(miou, rel=1e-9)
    assert test_metrics["test/depth/rmse"] == pytest.approx(rmse, rel=1e-6)
    assert test_metrics["test/normals/mean_angle"] == pytest.approx(angle, rel=1e-5)
    assert test_metrics["test/edge/odsf"] == 0.0
