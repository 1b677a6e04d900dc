import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from atrc_nas.metrics.boundary import BoundaryFMeasure, edge_thresholds
from atrc_nas.tasks import EDGE_BOUNDARY_GT

IGNORE = 255


def _reference_matching(pred: np.ndarray, gt: np.ndarray, radius: float) -> int:
    """Kuhn's augmenting paths over all pairs within radius (plain loops)."""
    preds = [tuple(p) for p in np.argwhere(pred)]
    gts = [tuple(g) for g in np.argwhere(gt)]
    near = [[j for j, g in enumerate(gts) if math.dist(p, g) <= radius] for p in preds]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in near[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(preds)))


def _f(mp: float, p: float, mg: float, g: float) -> float:
    precision = mp / p if p else 0.0
    recall = mg / g if g else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _reference(probs, labels, thresholds, tolerance, thin):
    """Pooled per-threshold counts, odsF and OIS F computed image by image."""
    total = np.zeros((4, len(thresholds)))
    best = np.zeros(4)
    for prob, label in zip(probs, labels, strict=True):
        valid = label != IGNORE
        if not valid.any():
            continue
        rows, cols = np.nonzero(valid)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        valid, prob, label = valid[box], prob[box], label[box]
        radius = tolerance * math.sqrt(valid.shape[0] ** 2 + valid.shape[1] ** 2)
        gt = valid & (label == 1)
        counts = np.zeros((4, len(thresholds)))
        for k, t in enumerate(thresholds):
            pred = thin(valid & (prob >= t))
            m = _reference_matching(pred, gt, radius)
            counts[:, k] = (m, pred.sum(), m, gt.sum())
        total += counts
        scores = [_f(*counts[:, k]) for k in range(len(thresholds))]
        best += counts[:, int(np.argmax(scores))]
    ods = max(_f(*total[:, k]) for k in range(len(thresholds)))
    return total, 100 * ods, 100 * _f(*best)


def _random_batch(seed: int):
    rng = np.random.default_rng(seed)
    probs = ndimage.gaussian_filter(rng.random((4, 16, 18)), (0, 1, 1))
    probs = (probs - probs.min()) / (probs.max() - probs.min())
    labels = (rng.random((4, 16, 18)) < 0.12).astype(np.float32)
    labels[1, :3] = IGNORE  # padding above and left of the content
    labels[1, :, :5] = IGNORE
    labels[2, 6:8, 6:9] = IGNORE  # an ignore region inside the image
    labels[3] = IGNORE  # nothing valid at all
    return probs.astype(np.float32), labels


def _tensors(probs, labels):
    return torch.from_numpy(probs)[:, None], torch.from_numpy(labels)[:, None]


@pytest.mark.parametrize(("seed", "tolerance"), [(0, 0.06), (1, 0.12), (2, 0.2)])
def test_matches_brute_force_reference(seed, tolerance, brute_thin):
    probs, labels = _random_batch(seed)
    metric = BoundaryFMeasure(tolerance, num_thresholds=6)
    metric.update(*_tensors(probs, labels))
    total, ods, ois = _reference(probs, labels, metric.thresholds, tolerance, brute_thin)
    got = torch.stack([metric.matched_pred, metric.pred, metric.matched_gt, metric.gt]).numpy()
    np.testing.assert_array_equal(got, total)
    result = metric.compute()
    assert result["odsf"].item() == pytest.approx(ods)
    assert result["oisf"].item() == pytest.approx(ois)


def test_states_merge_across_ranks(merged_compute):
    probs, labels = _random_batch(3)
    preds, target = _tensors(probs, labels)

    def make():
        return BoundaryFMeasure(0.1, num_thresholds=5)

    whole = make()
    whole.update(preds, target)
    merged = merged_compute(make, [(preds[:1], target[:1]), (preds[1:], target[1:])])
    for key, value in whole.compute().items():
        assert merged[key].item() == pytest.approx(value.item())


def _line_case(shift: int, tolerance: float, pad: int = 0):
    """GT: a vertical line in a 40x50 image (inside ``pad`` pixels of padding);
    prediction: the same line ``shift`` columns to the right, probability 1."""
    h, w = 40 + 2 * pad, 50 + 2 * pad
    label = np.full((h, w), IGNORE, dtype=np.float32)
    label[pad:pad + 40, pad:pad + 50] = 0
    label[pad + 5:pad + 30, pad + 20] = 1
    prob = np.zeros((h, w), dtype=np.float32)
    prob[pad + 5:pad + 30, pad + 20 + shift] = 1
    if pad:
        prob[:pad] = 1  # confident edges in the padding must not count
    metric = BoundaryFMeasure(tolerance, num_thresholds=9)
    metric.update(*_tensors(prob[None], label[None]))
    return metric.compute()


def test_exact_match_scores_100():
    result = _line_case(shift=0, tolerance=0.011)
    assert result["odsf"].item() == pytest.approx(100.0)
    assert result["oisf"].item() == pytest.approx(100.0)


def test_shift_within_tolerance_matches_and_beyond_does_not():
    # diagonal of 40x50 is 64.03: tolerance 0.02 gives a radius of 1.28 pixels
    assert _line_case(shift=1, tolerance=0.02)["odsf"].item() == pytest.approx(100.0)
    assert _line_case(shift=2, tolerance=0.02)["odsf"].item() == 0.0


def test_radius_comes_from_the_valid_extent_and_padding_is_ignored():
    # valid 40x50 (diagonal 64.03, radius 3.2) inside a 100x110 padded tensor
    # (diagonal 148.7, radius 7.4 if the padding were counted)
    assert _line_case(shift=0, tolerance=0.05, pad=30)["odsf"].item() == pytest.approx(100.0)
    assert _line_case(shift=3, tolerance=0.05, pad=30)["odsf"].item() == pytest.approx(100.0)
    assert _line_case(shift=4, tolerance=0.05, pad=30)["odsf"].item() == 0.0


def test_matching_is_one_to_one():
    label = np.zeros((1, 1, 30, 30), dtype=np.float32)
    label[0, 0, 10, 10] = 1
    prob = np.zeros_like(label)
    prob[0, 0, 10, 8] = prob[0, 0, 10, 12] = 1  # both within 2 px of the single GT pixel
    metric = BoundaryFMeasure(2.5 / math.hypot(30, 30), num_thresholds=3)
    metric.update(torch.from_numpy(prob), torch.from_numpy(label))
    assert metric.matched_pred.tolist() == [1, 1, 1]
    assert metric.pred.tolist() == [2, 2, 2]
    assert metric.compute()["odsf"].item() == pytest.approx(100 * 2 / 3)  # P 1/2, R 1


def test_all_ignore_batch_adds_nothing():
    metric = BoundaryFMeasure(0.011, num_thresholds=4)
    metric.update(torch.rand(2, 1, 8, 9), torch.full((2, 1, 8, 9), float(IGNORE)))
    assert metric.pred.sum() == 0 and metric.gt.sum() == 0 and metric.ois_counts.sum() == 0
    assert metric.compute()["odsf"].item() == 0.0


def test_thresholds_and_bad_input():
    assert edge_thresholds(99)[[0, 49, 98]] == pytest.approx([0.01, 0.5, 0.99])
    assert edge_thresholds(99)[1] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="threshold"):
        BoundaryFMeasure(0.011, num_thresholds=0)
    with pytest.raises(ValueError, match="resolution"):
        BoundaryFMeasure(0.011).update(torch.rand(1, 1, 8, 8), torch.zeros(1, 1, 4, 4))


def test_ground_truth_option_names_the_batch_key():
    assert BoundaryFMeasure(0.011).ground_truth == "label"
    assert BoundaryFMeasure(0.011).target_key is None  # the task's own label
    seg = BoundaryFMeasure(0.011, ground_truth="seg2bmap")
    assert seg.ground_truth == "seg2bmap" and seg.target_key == EDGE_BOUNDARY_GT
    with pytest.raises(ValueError, match="ground_truth must be one of"):
        BoundaryFMeasure(0.011, ground_truth="thinned")
