"""Samplers whose keys ``(position, epoch)`` seed each sample's augmentation.

``EpochSeededSampler`` shuffles per epoch. ``StepSampler`` makes every batch a function
of (seed, step) alone, with one Lightning epoch per validation period: a run resumed from
any checkpoint, even one written mid-period, continues with exactly the batch an
uninterrupted run would have seen next. Data-parallel, each of ``world_size`` ranks takes
its share of every global batch. ``ShardSampler`` splits an evaluation split across ranks
without padding (Lightning's DistributedSampler repeats samples to even the shards, which
would count them twice in pooled metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[tuple[int, int]]):
    """Yields (position, epoch) over ``size`` positions, shuffled per epoch from ``seed``."""

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True) -> None:
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = (
            np.random.default_rng((self.seed, self.epoch)).permutation(self.size)
            if self.shuffle
            else range(self.size)
        )
        return ((int(i), self.epoch) for i in order)


class StepSampler(Sampler[tuple[int, int]]):
    """Keys ``(position, data_epoch)`` from step ``current_step()`` to the end of its period
    of ``steps_per_epoch`` steps (by default from the start of period ``epoch``).

    Step ``k`` takes the ``k``-th batch of consecutive permutations of the
    ``size`` positions (a permutation per data epoch, seeded by (seed, data_epoch),
    incomplete tail batches dropped) — the keys ``TransformedSubset`` seeds its
    augmentation from.
    """

    def __init__(self, size: int, batch_size: int, steps_per_epoch: int, seed: int = 0,
                 current_step: Callable[[], int] | None = None, rank: int = 0,
                 world_size: int = 1) -> None:
        if size < batch_size:
            raise ValueError(f"the training split has {size} samples, fewer than one batch "
                             f"of {batch_size}")
        if batch_size % world_size:
            raise ValueError(f"the global batch of {batch_size} does not split evenly over "
                             f"{world_size} data-parallel ranks")
        self.rank, self.world_size = rank, world_size
        self.size = size
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.current_step = current_step
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:  # nominal: a whole period
        return self.steps_per_epoch * self.batch_size // self.world_size

    def batch_keys(self, step: int) -> list[tuple[int, int]]:
        """The keys of training step ``step``."""
        per_data_epoch = self.size // self.batch_size
        data_epoch, index = divmod(step, per_data_epoch)
        order = np.random.default_rng((self.seed, data_epoch)).permutation(self.size)
        chunk = order[index * self.batch_size:(index + 1) * self.batch_size]
        return [(int(i), data_epoch) for i in chunk]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.current_step is None:
            first = self.epoch * self.steps_per_epoch
        else:
            first = self.current_step()
        end = (first // self.steps_per_epoch + 1) * self.steps_per_epoch
        for step in range(first, end):
            yield from self.batch_keys(step)[self.rank::self.world_size]


class ShardSampler(Sampler[int]):
    """Positions ``rank, rank + world_size, ...`` of ``size``: every sample on exactly one
    rank, none repeated."""

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))
