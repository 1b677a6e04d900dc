import numpy as np
import pytest
import torch

from atrc_nas.metrics import MaxFMeasure
from atrc_nas.metrics.saliency import SALIENCY_THRESHOLDS


def _reference(batches, beta2: float = 0.3) -> float:
    probs = np.concatenate([p.numpy()[:, 0].ravel() for p, _ in batches])
    labels = np.concatenate([t.numpy().ravel() for _, t in batches])
    keep = labels != 255
    probs, labels = probs[keep], labels[keep]
    best = 0.0
    for t in np.arange(1, 20) * 0.05:
        pred = probs >= t
        tp = np.sum(pred & (labels == 1))
        precision = tp / pred.sum() if pred.sum() else 0.0
        recall = tp / (labels == 1).sum() if (labels == 1).sum() else 0.0
        if precision + recall:
            best = max(best, (1 + beta2) * precision * recall / (beta2 * precision + recall))
    return 100 * best


def _batches(seed: int):
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(3):
        target = (torch.rand(2, 6, 7, generator=g) < 0.3).long()
        target[torch.rand(target.shape, generator=g) < 0.2] = 255
        if b == 2:
            target[:] = 255
        prob = (0.6 * torch.rand(2, 1, 6, 7, generator=g) + 0.4 * target[:, None].clamp(max=1))
        out.append((prob, target))
    return out


def test_thresholds_are_the_19_of_the_protocol():
    thresholds = list(SALIENCY_THRESHOLDS)
    assert thresholds == pytest.approx(list(np.arange(1, 20) * 0.05))


@pytest.mark.parametrize("seed", range(3))
def test_maxf_matches_reference(seed):
    batches = _batches(seed)
    metric = MaxFMeasure()
    for batch in batches:
        metric.update(*batch)
    assert metric.compute().item() == pytest.approx(_reference(batches))


def test_maxf_merge(merged_compute):
    batches = _batches(9)
    whole = MaxFMeasure()
    for batch in batches:
        whole.update(*batch)
    assert merged_compute(MaxFMeasure, batches).item() == pytest.approx(whole.compute().item())


def test_counts_at_threshold_boundaries():
    prob = torch.tensor([0.05, 0.5, 0.04, 0.95]).view(1, 1, 1, 4)
    target = torch.tensor([1, 1, 0, 255]).view(1, 1, 4)
    metric = MaxFMeasure()
    metric.update(prob, target)
    assert metric.predicted_positives.tolist() == [2] + [1] * 9 + [0] * 9
    assert metric.true_positives.tolist() == [2] + [1] * 9 + [0] * 9
    assert metric.actual_positives.item() == 2
    assert metric.compute().item() == pytest.approx(100.0)


def test_empty_and_bad_input():
    metric = MaxFMeasure()
    metric.update(torch.rand(1, 1, 3, 3), torch.full((1, 3, 3), 255))
    assert metric.compute().item() == 0.0
    with pytest.raises(ValueError, match="probabilities"):
        metric.update(torch.randn(1, 1, 3, 3) * 5, torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"target values \[2\]"):
        metric.update(torch.rand(1, 1, 3, 3), torch.full((1, 3, 3), 2))
