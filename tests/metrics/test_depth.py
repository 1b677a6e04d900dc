import math

import numpy as np
import pytest
import torch

from atrc_nas.metrics import DepthRMSE


def _reference(batches) -> float:
    total, count = 0.0, 0
    for pred, target in batches:
        for p, t in zip(pred.numpy().ravel(), target.numpy().ravel(), strict=True):
            if t == 255 or t <= 0:
                continue
            total += (max(float(p), 0.0) - float(t)) ** 2
            count += 1
    return math.sqrt(total / count)


def _batches(seed: int):
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(3):
        target = torch.rand(2, 1, 5, 6, generator=g) * 9 + 0.5
        u = torch.rand(target.shape, generator=g)
        target[u < 0.15] = 0.0  # padding / missing depth
        target[u > 0.9] = 255.0
        if b == 1:
            target[0] = 0.0  # an image without valid pixels
        if b == 2:
            target[:] = 255.0  # a batch without valid pixels
        pred = torch.randn(2, 1, 5, 6, generator=g) * 3 + 4  # some negative: clamped to 0
        out.append((pred, target))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_rmse_pooled_over_all_valid_pixels(seed):
    batches = _batches(seed)
    metric = DepthRMSE()
    for batch in batches:
        metric.update(*batch)
    assert metric.compute().item() == pytest.approx(_reference(batches))


def test_rmse_is_not_mean_of_per_image_rmse():
    target = torch.tensor([1.0, 1.0, 1.0, 1.0]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    pred = target.clone()
    pred[0, 0, 0, 0] = 3.0  # image 0: one error of 2 over 4 pixels, image 1 perfect
    metric = DepthRMSE()
    metric.update(pred, target)
    assert metric.compute().item() == pytest.approx(math.sqrt(4 / 8))


def test_rmse_merge(merged_compute):
    batches = _batches(5)
    whole = DepthRMSE()
    for batch in batches:
        whole.update(*batch)
    assert merged_compute(DepthRMSE, batches).item() == pytest.approx(whole.compute().item())


def test_rmse_without_valid_pixels_is_nan_and_shapes_are_checked():
    metric = DepthRMSE()
    metric.update(torch.rand(2, 1, 3, 3), torch.zeros(2, 1, 3, 3))
    assert metric.count == 0 and np.isnan(metric.compute().item())
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        metric.update(torch.rand(2, 3, 3), torch.rand(2, 1, 3, 3))
