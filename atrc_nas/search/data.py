"""Search data: batches that depend only on (seed, step), so a resumed search sees exactly
the batches of an uninterrupted one.

One Lightning epoch of the search is one validation period (``steps_per_epoch`` steps).
Each pass over the loader starts at the trainer's global step and runs to the end of the
period, so a search resumed from any checkpoint continues with the batch it would have
seen next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Sampler

from atrc_nas.data.datamodule import MultiTaskDataModule


class StepSampler(Sampler[tuple[int, int]]):
    """Keys ``(position, data_epoch)`` from search step ``current_step()`` to the end of its
    period of ``steps_per_epoch`` steps (by default from the start of period ``epoch``).

    Search step ``k`` takes the ``k``-th batch of consecutive permutations of the
    ``size`` positions (a permutation per data epoch, seeded by (seed, data_epoch),
    incomplete tail batches dropped) — the keys ``TransformedSubset`` seeds its
    augmentation from.
    """

    def __init__(self, size: int, batch_size: int, steps_per_epoch: int, seed: int = 0,
                 current_step: Callable[[], int] | None = None) -> None:
        if size < batch_size:
            raise ValueError(f"the training split has {size} samples, fewer than one batch "
                             f"of {batch_size}")
        self.size = size
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.current_step = current_step
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:  # nominal: a whole period
        return self.steps_per_epoch * self.batch_size

    def batch_keys(self, step: int) -> list[tuple[int, int]]:
        """The keys of search step ``step``."""
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
            yield from self.batch_keys(step)


class SearchDataModule(pl.LightningDataModule):
    """Wraps a :class:`MultiTaskDataModule`: its validation split as is, its training split
    through a :class:`StepSampler` with ``steps_per_epoch`` (the validation period)."""

    def __init__(self, data: MultiTaskDataModule, steps_per_epoch: int) -> None:
        super().__init__()
        self.data = data
        self.steps_per_epoch = steps_per_epoch

    def setup(self, stage: str | None = None) -> None:
        self.data.setup(stage)

    def train_dataloader(self) -> DataLoader:
        train = self.data.train_set
        if train is None:
            raise RuntimeError("training split not set up; call setup('fit') first")
        sampler = StepSampler(len(train), self.data.batch_size, self.steps_per_epoch,
                              self.data.seed, current_step=lambda: self.trainer.global_step)
        # the data module's loader settings (workers, collate, pinning), our sampler
        return self.data.loader(train, "train", batch_size=self.data.batch_size,
                                 sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self.data.val_dataloader()
