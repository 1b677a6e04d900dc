"""The LightningDataModule: train / validation carved from the train split, test kept apart.

Augmentation is reproducible regardless of worker count, rank or scheduling: the train
sampler yields (position, epoch) keys and each sample's generator is seeded from
(seed, epoch, dataset index). Lightning calls ``set_epoch`` on the sampler (also through its
distributed wrapper), so every epoch draws new augmentations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from atrc_nas.config import ConfigError
from atrc_nas.data.aux_targets import normals_clusters
from atrc_nas.data.collate import collate
from atrc_nas.data.registry import build_dataset, dataset_entry, get_dataset_spec
from atrc_nas.data.samplers import EpochSeededSampler, ShardSampler, StepSampler
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.data.synthetic import cache_root
from atrc_nas.data.transforms import Compose, Sample, eval_transform, train_transform

SampleKey = int | tuple[int, int]


class TransformedSubset(Dataset):
    """``transform(dataset.load_raw(indices[position]), rng)`` with a per-sample generator
    seeded from (seed, epoch, dataset index); a plain int key means epoch 0."""

    def __init__(
        self, dataset: Any, indices: Sequence[int], transform: Compose, seed: int = 0
    ) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: SampleKey) -> Sample:
        position, epoch = key if isinstance(key, tuple) else (key, 0)
        index = self.indices[position]
        rng = np.random.default_rng((self.seed, epoch, index))
        return self.transform(self.dataset.load_raw(index), rng)


def split_indices(size: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic disjoint (train, val) positions; val holds round(size * fraction), >= 1
    (none with ``val_fraction`` 0)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return list(range(size)), []
    n_val = max(1, round(size * val_fraction))
    if n_val >= size:
        raise ConfigError(
            f"data.val_fraction, data.options.num_images: a validation split of "
            f"{val_fraction} of {size} training sample(s) leaves nothing to train on; give "
            "the dataset more images or lower data.val_fraction")
    order = np.random.default_rng(seed).permutation(size)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


class MultiTaskDataModule(pl.LightningDataModule):
    """Batches of every task's labels for one dataset (see ``atrc_nas.data.builders``).

    ``val`` is a deterministic ``val_fraction`` of the train split (``split_seed``), used for
    architecture and checkpoint decisions; ``test`` is the dataset's held-out split.
    ``seed`` drives augmentation and shuffling. ``crop_size`` (H, W) sizes training crops
    and the padding of evaluation inputs (default: the spec's). ``normals_centroids``
    ([K, 3] float) is set in ``setup`` when a task's aux head classifies normals clusters;
    they are cached under ``cache_dir`` (default ``$ATRC_NAS_CACHE`` or ~/.cache/atrc_nas).
    ``dataset_options`` go to the dataset class (synthetic: num_images, image_size, seed,
    local_structure). With ``steps_per_period`` set, one training "epoch" is that many
    steps and each batch depends only on (seed, trainer.global_step), so resuming from a
    mid-period checkpoint is exact (``atrc_nas.data.samplers.StepSampler``).
    """

    def __init__(
        self,
        dataset: str = "synthetic_nyud",
        root: str | None = None,
        tasks: Sequence[str] | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        split_seed: int = 0,
        crop_size: tuple[int, int] | None = None,
        dataset_options: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        steps_per_period: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dataset_name = dataset
        self.entry = dataset_entry(dataset)
        self.root = root
        spec = get_dataset_spec(dataset)
        self.spec: DatasetSpec = spec if tasks is None else spec.with_tasks(tuple(tasks))
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.split_seed = split_seed
        self.crop_size = tuple(crop_size or self.spec.crop_size)
        self.dataset_options = dict(dataset_options or {})
        self.cache_dir = cache_root(cache_dir)
        self.steps_per_period = steps_per_period
        self.normals_centroids: torch.Tensor | None = None
        self.train_set: TransformedSubset | None = None
        self.val_set: TransformedSubset | None = None
        self.test_set: TransformedSubset | None = None
        self._datasets: dict[str, Any] = {}

    def _build(self, split: str) -> Any:
        """The raw dataset of a split, built once per process (prepare_data, setup and
        fingerprint share it)."""
        if split not in self._datasets:
            self._datasets[split] = build_dataset(
                self.dataset_name, split, self.root, self.spec.tasks, **self.dataset_options
            )
        return self._datasets[split]

    def prepare_data(self) -> None:
        """Generates / validates both splits once per node (synthetic data is cached)."""
        for split in self.entry.splits:
            self._build(split)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            full = self._build("train")
            train_idx, val_idx = split_indices(len(full), self.val_fraction, self.split_seed)
            self.train_set = TransformedSubset(
                full, train_idx, train_transform(self.spec, self.crop_size), self.seed
            )
            self.val_set = TransformedSubset(full, val_idx, self._eval_transform(), self.seed)
            if any(t.aux_channels == "normals_clusters" for t in self.spec.task_specs()):
                # two copies of a dataset (e.g. both NYUD layouts) share ids, not normals
                source = None if self.root is None else str(Path(self.root).resolve())
                self.normals_centroids = normals_clusters(
                    full,
                    self.cache_dir,
                    indices=train_idx,
                    fingerprint=json.dumps([source, self.dataset_options], sort_keys=True,
                                           default=str),
                )
        if stage in (None, "test") and self.test_set is None:
            held_out = self._build(self.entry.held_out_split)
            self.test_set = TransformedSubset(
                held_out, range(len(held_out)), self._eval_transform(), self.seed
            )

    def _global_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def _rank_and_world(self) -> tuple[int, int]:
        """This process's data-parallel rank and the number of ranks (1 outside DDP)."""
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def fingerprint(self) -> str:
        """A short hash naming the data a result was computed on (recorded with every
        result): dataset, tasks, the validation carve-out, and the content of the train and
        held-out splits (their files' bytes; a generated set's generator settings)."""
        contents = {split: self._build(split).content_fingerprint(self.cache_dir)
                    for split in self.entry.splits}
        payload = json.dumps(
            [self.dataset_name, self.spec.tasks, self.val_fraction, self.split_seed, contents],
            sort_keys=True, default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _eval_transform(self) -> Compose:
        return eval_transform(self.spec, self.crop_size)

    def loader(self, data: TransformedSubset | None, name: str, **kwargs: Any) -> DataLoader:
        """A DataLoader over ``data`` with this module's worker, collate and pinning settings;
        ``kwargs`` (batch size, sampler...) go to the DataLoader."""
        if data is None:
            raise RuntimeError(f"{name} split not set up; call setup() first")
        return DataLoader(
            data,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        """Batches of ``batch_size`` samples per step in all (each of the data-parallel
        ranks loads its share: the trainer must not add a distributed sampler)."""
        size = 0 if self.train_set is None else len(self.train_set)
        rank, world = self._rank_and_world()
        if self.steps_per_period is None:
            if world > 1:
                raise ValueError("data-parallel training needs steps_per_period (the "
                                 "step-keyed sampler shards each global batch)")
            sampler = EpochSeededSampler(size, self.seed)
        else:
            sampler = StepSampler(size, self.batch_size, self.steps_per_period, self.seed,
                                  current_step=self._global_step, rank=rank, world_size=world)
        return self.loader(
            self.train_set,
            "train",
            batch_size=self.batch_size // world,
            sampler=sampler,
            drop_last=True,
        )

    def _eval_loader(self, data: TransformedSubset | None, name: str) -> DataLoader:
        rank, world = self._rank_and_world()
        sampler = ShardSampler(len(data), rank, world) if data is not None and world > 1 else None
        return self.loader(data, name, batch_size=self.eval_batch_size, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set, "val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set, "test")
