"""Helpers shared by the metric tests: a simulated DDP merge and a seeded generator."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
