import math

import numpy as np
import pytest
import torch

from atrc_nas.metrics import NormalsMeanAngle


def _reference(batches) -> float:
    """arccos of the dot product of unit vectors, pixel by pixel."""
    angles = []
    for pred, target in batches:
        p_all, t_all = pred.double().numpy(), target.double().numpy()
        for b in range(p_all.shape[0]):
            for y in range(p_all.shape[2]):
                for x in range(p_all.shape[3]):
                    g = t_all[b, :, y, x]
                    if (g == 255).any() or not g.any():
                        continue
                    p = p_all[b, :, y, x]
                    cos = np.dot(p / np.linalg.norm(p), g / np.linalg.norm(g))
                    angles.append(math.degrees(math.acos(np.clip(cos, -1.0, 1.0))))
    return float(np.mean(angles))


def _batches(seed: int):
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(3):
        target = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5, generator=g), dim=1)
        u = torch.rand(2, 4, 5, generator=g)
        target[:, 0][u < 0.15] = 255.0  # one channel invalid is enough
        target.permute(0, 2, 3, 1)[u > 0.85] = 0.0  # zero vector: no normal
        if b == 2:
            target[:] = 255.0
        pred = torch.randn(2, 3, 4, 5, generator=g) * 2  # not unit: normalised by the metric
        out.append((pred, target))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_mean_angle_matches_reference(seed):
    batches = _batches(seed)
    metric = NormalsMeanAngle()
    for batch in batches:
        metric.update(*batch)
    assert metric.compute().item() == pytest.approx(_reference(batches), abs=1e-6)


def test_known_angles():
    target = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).repeat(1, 1, 1, 3)
    pred = torch.tensor([[0.0, 0.0, 5.0], [1.0, 0.0, 0.0], [0.0, 0.0, -2.0]]).T.reshape(1, 3, 1, 3)
    metric = NormalsMeanAngle()
    metric.update(pred, target)
    assert metric.compute().item() == pytest.approx((0 + 90 + 180) / 3)


def test_merge_and_empty(merged_compute):
    batches = _batches(4)
    whole = NormalsMeanAngle()
    for batch in batches:
        whole.update(*batch)
    assert merged_compute(NormalsMeanAngle, batches).item() == pytest.approx(
        whole.compute().item())
    empty = NormalsMeanAngle()
    empty.update(torch.rand(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    assert math.isnan(empty.compute().item())
