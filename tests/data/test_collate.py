"""Batching tensor samples."""

from __future__ import annotations

import pytest
import torch

from atrc_nas.data.collate import collate
from atrc_nas.tasks import EDGE_BOUNDARY_GT


def tensor_sample(h: int, w: int, fill: float = 1.0, index: int = 0) -> dict:
    return {
        "image": torch.full((3, h, w), fill),
        "semseg": torch.full((h, w), 2, dtype=torch.long),
        "depth": torch.full((1, h, w), 3.0),
        "normals": torch.full((3, h, w), 0.5),
        "edge": torch.ones(1, h, w),
        "meta": {"id": str(index), "pad": (0, 0, h, w)},
    }


def test_same_size_stacks():
    batch = collate([tensor_sample(4, 5, index=i) for i in range(3)])
    assert batch["image"].shape == (3, 3, 4, 5)
    assert batch["semseg"].shape == (3, 4, 5) and batch["semseg"].dtype == torch.long
    assert batch["depth"].shape == (3, 1, 4, 5)
    assert batch["normals"].shape == (3, 3, 4, 5)
    assert [m["id"] for m in batch["meta"]] == ["0", "1", "2"]


def test_different_sizes_pad_with_ignore_values():
    batch = collate([tensor_sample(4, 5), tensor_sample(6, 3)])
    assert batch["image"].shape == (2, 3, 6, 5)
    small = (0, slice(4, 6))  # rows added below the first sample
    assert (batch["image"][0, :, 4:] == 0).all()
    assert (batch["semseg"][small] == 255).all()
    assert (batch["depth"][0, :, 4:] == 0).all()
    assert (batch["normals"][0, :, 4:] == 255).all()
    assert (batch["edge"][0, :, 4:] == 255).all()
    assert (batch["semseg"][1, :, 3:] == 255).all()  # columns added right of the second
    assert (batch["semseg"][0, :4] == 2).all() and (batch["semseg"][1, :, :3] == 2).all()
    assert batch["meta"][1]["pad"] == (0, 0, 6, 3)


def test_evaluation_targets_are_stacked_and_padded_with_ignore():
    samples = [tensor_sample(4, 5) | {EDGE_BOUNDARY_GT: torch.zeros(1, 4, 5)},
               tensor_sample(6, 3) | {EDGE_BOUNDARY_GT: torch.ones(1, 6, 3)}]
    batch = collate(samples)
    assert batch[EDGE_BOUNDARY_GT].shape == (2, 1, 6, 5)
    assert (batch[EDGE_BOUNDARY_GT][0, :, 4:] == 255).all()
    assert (batch[EDGE_BOUNDARY_GT][1, :, :, 3:] == 255).all()
    assert (batch[EDGE_BOUNDARY_GT][0, :, :4] == 0).all()


def test_mismatched_keys_and_unknown_keys_raise():
    a, b = tensor_sample(4, 4), tensor_sample(4, 4)
    del b["edge"]
    with pytest.raises(ValueError, match="sample 1"):
        collate([a, b])
    with pytest.raises(ValueError, match="unknown"):
        collate([tensor_sample(4, 4) | {"extra": torch.zeros(1)}])
    with pytest.raises(ValueError, match="empty"):
        collate([])
