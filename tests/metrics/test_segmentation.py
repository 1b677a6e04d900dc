import numpy as np
import pytest
import torch

from atrc_nas.metrics import MeanIoU, PartsMeanIoU

IGNORE = 255


def _reference_miou(preds: list[np.ndarray], targets: list[np.ndarray], classes: int) -> float:
    """Per-class intersection and union counted pixel by pixel over all images."""
    inter = np.zeros(classes)
    union = np.zeros(classes)
    for pred, target in zip(preds, targets, strict=True):
        for p, t in zip(pred.ravel(), target.ravel(), strict=True):
            if t == IGNORE:
                continue
            if p == t:
                inter[t] += 1
                union[t] += 1
            else:
                union[t] += 1
                union[p] += 1
    iou = [inter[c] / union[c] if union[c] else 0.0 for c in range(classes)]
    return 100 * float(np.mean(iou))


def _batches(seed: int, classes: int, used: int):
    """Three batches; classes >= ``used`` never occur, the last batch is all ignore."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(3):
        target = torch.randint(0, used, (2, 6, 7), generator=g)
        target[torch.rand(target.shape, generator=g) < 0.2] = IGNORE
        if b == 2:
            target[:] = IGNORE
        pred = torch.randint(0, used, (2, 6, 7), generator=g)
        out.append((pred, target))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_miou_matches_reference_pooled_over_batches(seed):
    batches = _batches(seed, classes=6, used=5)  # class 5 has zero union: IoU 0, averaged
    metric = MeanIoU(6)
    for pred, target in batches:
        metric.update(pred, target)
    expected = _reference_miou([p.numpy() for p, _ in batches],
                               [t.numpy() for _, t in batches], 6)
    assert metric.compute().item() == pytest.approx(expected)


def test_miou_is_pooled_not_averaged_over_images():
    target = torch.tensor([[[0, 0, 1, 1]], [[0, 0, 0, 0]]])
    pred = torch.tensor([[[0, 1, 1, 1]], [[0, 0, 0, 0]]])
    metric = MeanIoU(2)
    metric.update(pred, target)
    # class 0: 5 hits of union 6; class 1: 2 of 3
    assert metric.compute().item() == pytest.approx(100 * (5 / 6 + 2 / 3) / 2)


def test_miou_states_merge(merged_compute):
    batches = _batches(7, classes=5, used=5)
    whole = MeanIoU(5)
    for batch in batches:
        whole.update(*batch)
    assert merged_compute(lambda: MeanIoU(5), batches).item() == pytest.approx(
        whole.compute().item())


def test_empty_and_all_ignore():
    metric = MeanIoU(3)
    metric.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.full((2, 4, 4), IGNORE))
    metric.update(torch.zeros(0, 4, 4, dtype=torch.long), torch.zeros(0, 4, 4, dtype=torch.long))
    assert metric.confmat.sum() == 0
    assert metric.compute().item() == 0.0


def test_out_of_range_classes_are_errors():
    with pytest.raises(ValueError, match=r"target holds class\(es\) \[7\]"):
        MeanIoU(3).update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 7))
    with pytest.raises(ValueError, match="preds"):
        MeanIoU(3).update(torch.full((1, 2, 2), 3), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        MeanIoU(3).update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


@pytest.mark.parametrize("seed", range(3))
def test_parts_miou_skips_images_without_parts(seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 7, (4, 6, 7), generator=g)
    target[0] = 0  # background only
    target[1] = torch.where(torch.rand(6, 7, generator=g) < 0.5, 0, IGNORE)  # 0 / ignore only
    target[2, :2] = IGNORE
    pred = torch.randint(0, 7, (4, 6, 7), generator=g)
    metric = PartsMeanIoU(7)
    metric.update(pred, target)
    kept = [2, 3]
    expected = _reference_miou([pred[i].numpy() for i in kept], [target[i].numpy() for i in kept],
                               7)
    assert metric.compute().item() == pytest.approx(expected)
    plain = MeanIoU(7)  # counting them changes the number
    plain.update(pred, target)
    assert plain.compute().item() != pytest.approx(expected)


def test_parts_miou_merge_and_no_annotated_image(merged_compute):
    g = torch.Generator().manual_seed(4)
    target = torch.randint(0, 7, (4, 5, 5), generator=g)
    target[1] = 0
    pred = torch.randint(0, 7, (4, 5, 5), generator=g)
    whole = PartsMeanIoU(7)
    whole.update(pred, target)
    merged = merged_compute(lambda: PartsMeanIoU(7),
                            [(pred[:2], target[:2]), (pred[2:], target[2:])])
    assert merged.item() == pytest.approx(whole.compute().item())
    empty = PartsMeanIoU(7)
    empty.update(pred[1:2], target[1:2])
    assert empty.compute().item() == 0.0
