"""Helpers shared by the metric tests: a simulated DDP merge and a brute-force thinning."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
from torchmetrics import Metric


def _merged_compute(make: Callable[[], Metric], batches: Sequence[tuple]) -> object:
    """Update one metric per batch ("rank"), add their states into a fresh metric, compute.

    Adding the states is what the sum reduction of ``dist_reduce_fx="sum"`` does across
    DDP ranks.
    """
    ranks = [make() for _ in batches]
    for metric, batch in zip(ranks, batches, strict=True):
        metric.update(*batch)
    merged = make()
    for name in merged.metric_state:
        setattr(merged, name, sum(getattr(m, name) for m in ranks))
    merged._update_count = len(ranks)  # the sync of a real run counts the updates too
    return merged.compute()


@pytest.fixture
def merged_compute() -> Callable[[Callable[[], Metric], Sequence[tuple]], object]:
    return _merged_compute


def _brute_thin(mask: np.ndarray) -> np.ndarray:
    """Per-pixel loops over the bwmorph 'thin' conditions G1, G2, G3 / G3'."""
    image = np.pad(np.asarray(mask, dtype=bool), 1)
    around = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]

    def removable(r: int, c: int, second: bool) -> bool:
        x = {k + 1: bool(image[r + dr, c + dc]) for k, (dr, dc) in enumerate(around)}
        x[9] = x[1]
        b = [int(not x[2 * i - 1] and (x[2 * i] or x[2 * i + 1])) for i in range(1, 5)]
        n1 = sum(int(x[2 * k - 1] or x[2 * k]) for k in range(1, 5))
        n2 = sum(int(x[2 * k] or x[2 * k + 1]) for k in range(1, 5))
        if second:
            g3 = ((x[6] or x[7] or not x[4]) and x[5]) == 0
        else:
            g3 = ((x[2] or x[3] or not x[8]) and x[1]) == 0
        return sum(b) == 1 and 2 <= min(n1, n2) <= 3 and g3

    changed = True
    while changed:
        changed = False
        for second in (False, True):
            drop = [
                (r, c)
                for r in range(1, image.shape[0] - 1)
                for c in range(1, image.shape[1] - 1)
                if image[r, c] and removable(r, c, second)
            ]
            for r, c in drop:
                image[r, c] = False
            changed |= bool(drop)
    return image[1:-1, 1:-1]


@pytest.fixture
def brute_thin() -> Callable[[np.ndarray], np.ndarray]:
    return _brute_thin


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
