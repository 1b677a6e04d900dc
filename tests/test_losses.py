import math

import numpy as np
import pytest
import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.losses import LOSSES, build_loss
from atrc_nas.tasks import TASKS

IGNORE = 255
NYUD = get_dataset_spec("synthetic_nyud")
PASCAL = get_dataset_spec("synthetic_pascal")


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - math.log(np.exp(shifted).sum())


def _pixels(pred: torch.Tensor):
    """(b, y, x, logits of the pixel) for every pixel."""
    p = pred.detach().double().numpy()
    for b in range(p.shape[0]):
        for y in range(p.shape[2]):
            for x in range(p.shape[3]):
                yield b, y, x, p[b, :, y, x]


def _reference_ce(pred, target, weights=None) -> float:
    total, count = 0.0, 0
    for b, y, x, logits in _pixels(pred):
        t = int(target[b, y, x])
        if t == IGNORE:
            continue
        w = 1.0 if weights is None else weights[t]
        total += -w * _log_softmax(logits)[t]
        count += 1
    return total / max(count, 1)


def _with_ignore(label: torch.Tensor, g: torch.Generator, fraction=0.25) -> torch.Tensor:
    label = label.clone()
    label[torch.rand(label.shape, generator=g) < fraction] = IGNORE
    return label


def test_registry_covers_every_task_loss():
    names = {spec.loss for spec in TASKS.values()} | {spec.aux_loss for spec in TASKS.values()}
    assert names <= set(LOSSES)


def test_cross_entropy(generator):
    pred = torch.randn(2, 4, 3, 5, generator=generator)
    target = _with_ignore(torch.randint(0, 4, (2, 3, 5), generator=generator), generator)
    loss = build_loss("cross_entropy", PASCAL, "semseg")(pred, target)
    assert loss.item() == pytest.approx(_reference_ce(pred, target))


def test_balanced_cross_entropy(generator):
    pred = torch.randn(2, 2, 4, 5, generator=generator)
    target = _with_ignore(torch.randint(0, 2, (2, 4, 5), generator=generator), generator)
    valid = target[target != IGNORE]
    w_pos = (valid == 0).sum().item() / valid.numel()
    loss = build_loss("balanced_cross_entropy", PASCAL, "sal")(pred, target)
    assert loss.item() == pytest.approx(_reference_ce(pred, target, [1 - w_pos, w_pos]))


def test_edge_ce_uses_class_weights(generator):
    pred = torch.randn(2, 2, 4, 5, generator=generator)
    label = _with_ignore((torch.rand(2, 1, 4, 5, generator=generator) < 0.3).float(), generator)
    loss = build_loss("edge_ce", PASCAL, "edge")(pred, label)
    p = PASCAL.edge_pos_weight
    target = torch.where(label[:, 0] == IGNORE, IGNORE, label[:, 0]).long()
    assert loss.item() == pytest.approx(_reference_ce(pred, target, [1 - p, p]))


def test_edge_bce(generator):
    pred = torch.randn(2, 1, 4, 5, generator=generator) * 3
    label = _with_ignore((torch.rand(2, 1, 4, 5, generator=generator) < 0.3).float(), generator)
    p = NYUD.edge_pos_weight
    total, count = 0.0, 0
    for b, y, x, logits in _pixels(pred):
        t = float(label[b, 0, y, x])
        if t == IGNORE:
            continue
        s = 1 / (1 + math.exp(-logits[0]))
        total += -p * t * math.log(s) - (1 - p) * (1 - t) * math.log(1 - s)
        count += 1
    loss = build_loss("edge_bce", NYUD, "edge")(pred, label)
    assert loss.item() == pytest.approx(total / count)


def test_edge_bce_hand_value():
    loss = build_loss("edge_bce", PASCAL, "edge")
    value = loss(torch.zeros(1, 1, 1, 2), torch.tensor([1.0, 255.0]).view(1, 1, 1, 2))
    assert value.item() == pytest.approx(0.95 * math.log(2))


def test_normals_l1(generator):
    pred = torch.randn(2, 3, 3, 4, generator=generator) * 2
    label = torch.nn.functional.normalize(torch.randn(2, 3, 3, 4, generator=generator), dim=1)
    label[0, 1, 0, 0] = IGNORE  # one channel invalid
    label[1, :, 2, 3] = 0.0  # no normal
    total, count = 0.0, 0
    for b, y, x, p in _pixels(pred):
        g = label[b, :, y, x].double().numpy()
        if (g == IGNORE).any() or not g.any():
            continue
        total += np.abs(p / np.linalg.norm(p) - g).sum()
        count += 1
    loss = build_loss("normals_l1", NYUD, "normals")(pred, label)
    assert count == 22
    assert loss.item() == pytest.approx(total / count)


def test_normals_cluster_ce(generator):
    centroids = torch.nn.functional.normalize(torch.randn(6, 3, generator=generator), dim=1)
    pred = torch.randn(2, 6, 3, 4, generator=generator)
    label = torch.nn.functional.normalize(torch.randn(2, 3, 3, 4, generator=generator), dim=1)
    label[0, :, 1, 1] = IGNORE
    label[1, :, 0, 2] = 0.0
    target = torch.full((2, 3, 4), IGNORE)
    for b in range(2):
        for y in range(3):
            for x in range(4):
                g = label[b, :, y, x]
                if (g == IGNORE).any() or not g.any():
                    continue
                target[b, y, x] = int(np.argmin([float((g - c).norm()) for c in centroids]))
    loss = build_loss("normals_cluster_ce", NYUD, "normals", normals_centroids=centroids)
    assert loss(pred, label).item() == pytest.approx(_reference_ce(pred, target))


def test_depth_l1(generator):
    pred = torch.randn(2, 1, 3, 4, generator=generator) + 3
    label = torch.rand(2, 1, 3, 4, generator=generator) * 5 + 0.5
    label[0, 0, 0, :2] = 0.0
    label[1, 0, 2, 2] = IGNORE
    keep = (label != IGNORE) & (label > 0)
    expected = (pred[keep] - label[keep]).abs().mean().item()
    assert build_loss("depth_l1", NYUD, "depth")(pred, label).item() == pytest.approx(expected)


def test_depth_bin_ce(generator):
    pred = torch.randn(2, 40, 3, 4, generator=generator)
    label = torch.rand(2, 1, 3, 4, generator=generator) * 12 + 0.2
    label[0, 0, 1, 1] = 0.0
    label[1, 0, 0, 0] = IGNORE
    target = torch.full((2, 3, 4), IGNORE)
    for b in range(2):
        for y in range(3):
            for x in range(4):
                d = float(label[b, 0, y, x])
                if d == IGNORE or d <= 0:
                    continue
                target[b, y, x] = min(max(math.floor(40 * math.log(d / 0.7) / math.log(10 / 0.7)),
                                          0), 39)
    loss = build_loss("depth_bin_ce", NYUD, "depth")(pred, label)
    assert loss.item() == pytest.approx(_reference_ce(pred, target))


def _all_invalid_cases():
    for spec in (NYUD, PASCAL):
        for task in spec.tasks:
            for which, name in (("final", TASKS[task].loss), ("aux", TASKS[task].aux_loss)):
                yield pytest.param(spec, task, which, name, id=f"{spec.name}-{task}-{name}")


@pytest.mark.parametrize(("spec", "task", "which", "name"), list(_all_invalid_cases()))
def test_all_invalid_batch_gives_zero_with_gradient(spec, task, which, name):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, spec.channels(task, which), 4, 5, generator=g, requires_grad=True)
    channels = TASKS[task].label_channels
    shape = (2, 4, 5) if channels == 0 else (2, channels, 4, 5)
    label = torch.full(shape, IGNORE, dtype=torch.long if channels == 0 else torch.float32)
    centroids = torch.nn.functional.normalize(torch.randn(spec.normals_clusters, 3), dim=1)
    loss = build_loss(name, spec, task, normals_centroids=centroids)(pred, label)
    loss.backward()
    assert loss.item() == 0.0
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_errors():
    with pytest.raises(KeyError, match="known losses"):
        build_loss("focal", NYUD, "semseg")
    with pytest.raises(KeyError, match="not part of dataset"):
        build_loss("cross_entropy", NYUD, "sal")
    ce = build_loss("cross_entropy", NYUD, "semseg")
    with pytest.raises(ValueError, match="label resolution"):
        ce(torch.randn(1, 8, 4, 4), torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"MaskedL1 \(depth\): label must be \[B, 1, H, W\]"):
        build_loss("depth_l1", NYUD, "depth")(torch.randn(1, 1, 4, 4), torch.rand(1, 4, 4))
    without = build_loss("normals_cluster_ce", NYUD, "normals")
    with pytest.raises(RuntimeError, match="normals_centroids"):
        without(torch.randn(1, 40, 2, 2), torch.rand(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\[K, 3\]"):
        build_loss("normals_cluster_ce", NYUD, "normals", normals_centroids=torch.rand(4, 2))


def test_centroids_travel_with_the_state_dict():
    centroids = torch.nn.functional.normalize(torch.randn(40, 3), dim=1)
    loss = build_loss("normals_cluster_ce", NYUD, "normals", normals_centroids=centroids)
    assert torch.equal(loss.state_dict()["centroids"], centroids)
