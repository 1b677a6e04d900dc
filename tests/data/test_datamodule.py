"""The LightningDataModule on tiny synthetic presets and a NYUD fixture."""

from __future__ import annotations

import pickle

import pytest
import torch
from fixtures import NYUD_VAL, PASCAL_VAL, build_nyud, build_pascal
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

from atrc_nas.data.datamodule import MultiTaskDataModule, split_indices
from atrc_nas.data.samplers import EpochSeededSampler
from atrc_nas.tasks import TASKS

TINY = {"num_images": 12, "image_size": (32, 40)}


def make_module(tmp_path, dataset="synthetic_nyud", **kwargs) -> MultiTaskDataModule:
    options = {"dataset_options": TINY} if dataset.startswith("synthetic") else {}
    defaults = dict(batch_size=2, crop_size=(32, 40), val_fraction=0.25, cache_dir=str(tmp_path))
    module = MultiTaskDataModule(dataset, **(defaults | options | kwargs))
    module.prepare_data()
    module.setup()
    return module


def assert_batch(batch: dict, tasks: tuple[str, ...], size: int, hw: tuple[int, int],
                 eval_targets: tuple[str, ...] = ()) -> None:
    assert set(batch) == {"image", "meta", *tasks, *eval_targets}
    assert batch["image"].shape == (size, 3, *hw) and batch["image"].dtype == torch.float32
    for task in tasks:
        channels = TASKS[task].label_channels
        shape = (size, *hw) if channels == 0 else (size, channels, *hw)
        assert batch[task].shape == shape, task
        assert batch[task].dtype == (torch.int64 if channels == 0 else torch.float32), task
        assert TASKS[task].valid_mask(batch[task]).any(), task
    assert len(batch["meta"]) == size and all("pad" in m for m in batch["meta"])


@pytest.mark.parametrize("dataset", ["synthetic_nyud", "synthetic_pascal"])
def test_batches_hold_every_task(tmp_path, dataset):
    module = make_module(tmp_path, dataset)
    tasks = module.spec.tasks
    assert_batch(next(iter(module.train_dataloader())), tasks, 2, (32, 40))
    assert_batch(next(iter(module.val_dataloader())), tasks, 2, (32, 40))
    assert_batch(next(iter(module.test_dataloader())), tasks, 2, (32, 40))
    assert len(module.train_dataloader()) == 9 // 2  # drop_last
    centroids = module.normals_centroids
    assert centroids.shape == (module.spec.normals_clusters, 3)
    torch.testing.assert_close(centroids.norm(dim=1), torch.ones(len(centroids)))


@pytest.mark.parametrize(
    ("dataset", "build", "held_out"),
    [("nyud", build_nyud, NYUD_VAL), ("pascal", build_pascal, PASCAL_VAL)],
)
def test_real_dataset_fixture_batches(tmp_path, dataset, build, held_out):
    root = tmp_path / dataset
    build(root)
    module = make_module(tmp_path, dataset, root=str(root), val_fraction=0.3)
    assert len(module.train_set) == 2 and len(module.val_set) == 1
    # evaluation targets (PASCAL: edge_boundary_gt) reach validation and test, not training
    extra = module.spec.eval_targets
    assert_batch(next(iter(module.train_dataloader())), module.spec.tasks, 2, (32, 40))
    assert_batch(next(iter(module.val_dataloader())), module.spec.tasks, 1, (32, 40), extra)
    test = next(iter(module.test_dataloader()))
    assert_batch(test, module.spec.tasks, len(held_out), (32, 40), extra)
    assert [m["id"] for m in test["meta"]] == list(held_out)
    assert test["meta"][0]["pad"] == (4, 4, 24, 32)
    assert module.normals_centroids.shape == (40, 3)


def test_normals_clusters_are_cached_per_dataset_folder(tmp_path):
    build_nyud(tmp_path / "a", seed=0)
    build_nyud(tmp_path / "b", seed=1)  # same ids, other normals
    first = make_module(tmp_path, "nyud", root=str(tmp_path / "a"), val_fraction=0.3)
    second = make_module(tmp_path, "nyud", root=str(tmp_path / "b"), val_fraction=0.3)
    assert not torch.allclose(first.normals_centroids, second.normals_centroids)


def test_task_subset(tmp_path):
    module = make_module(tmp_path, "synthetic_pascal", tasks=["sal", "edge"])
    assert module.spec.tasks == ("sal", "edge")
    assert module.normals_centroids is None
    assert_batch(next(iter(module.train_dataloader())), ("sal", "edge"), 2, (32, 40))


def test_val_and_test_are_kept_apart(tmp_path):
    module = make_module(tmp_path)
    train, val, test = module.train_set, module.val_set, module.test_set
    train_ids = {train.dataset.ids[i] for i in train.indices}
    val_ids = {val.dataset.ids[i] for i in val.indices}
    test_ids = {test.dataset.ids[i] for i in test.indices}
    assert len(val_ids) == 3 and len(train_ids) == 9
    assert not train_ids & val_ids and not (train_ids | val_ids) & test_ids
    assert train_ids | val_ids == set(train.dataset.ids)
    assert val.dataset.split == "train" and test.dataset.split == "test"


def test_split_indices_deterministic_and_validated():
    assert split_indices(20, 0.25, 0) == split_indices(20, 0.25, 0)
    assert split_indices(20, 0.25, 0) != split_indices(20, 0.25, 1)
    train, val = split_indices(20, 0.25, 0)
    assert len(val) == 5 and sorted(train + val) == list(range(20))
    assert split_indices(20, 0.0, 0) == (list(range(20)), [])  # no carve-out
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(20, 1.0, 0)
    with pytest.raises(ValueError, match="nothing to train"):
        split_indices(1, 0.5, 0)


def _first_batch(module: MultiTaskDataModule, epoch: int = 0) -> dict:
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return next(iter(loader))


def test_augmentation_deterministic_per_seed_and_epoch(tmp_path):
    a, b = make_module(tmp_path), make_module(tmp_path)
    first = _first_batch(a)
    torch.testing.assert_close(first["image"], _first_batch(b)["image"])
    assert [m["id"] for m in first["meta"]] == [m["id"] for m in _first_batch(b)["meta"]]
    assert not torch.equal(first["image"], _first_batch(a, epoch=1)["image"])
    other = make_module(tmp_path, seed=1)
    assert not torch.equal(first["image"], _first_batch(other)["image"])
    # the same (position, epoch) key gives the same sample whichever worker loads it
    key = next(iter(EpochSeededSampler(len(a.train_set), seed=0)))
    torch.testing.assert_close(a.train_set[key]["image"], b.train_set[key]["image"])


def test_workers_give_the_same_batches(tmp_path):
    serial = make_module(tmp_path)
    parallel = make_module(tmp_path, num_workers=1)
    torch.testing.assert_close(_first_batch(serial)["depth"], _first_batch(parallel)["depth"])


def test_sampler_shards_under_lightning_distributed_wrapper():
    sampler = EpochSeededSampler(10, seed=3)
    shards = [
        list(DistributedSamplerWrapper(sampler, num_replicas=2, rank=r, shuffle=False))
        for r in range(2)
    ]
    assert all(isinstance(k, tuple) and k[1] == 0 for shard in shards for k in shard)
    assert sorted(k[0] for shard in shards for k in shard) == list(range(10))
    wrapper = DistributedSamplerWrapper(sampler, num_replicas=2, rank=0, shuffle=False)
    wrapper.set_epoch(4)
    assert {k[1] for k in wrapper} == {4}


def test_module_pickles_after_setup(tmp_path):
    module = make_module(tmp_path)
    clone = pickle.loads(pickle.dumps(module))
    torch.testing.assert_close(clone.normals_centroids, module.normals_centroids)
    torch.testing.assert_close(_first_batch(clone)["image"], _first_batch(module)["image"])


def test_errors(tmp_path):
    with pytest.raises(KeyError, match="valid datasets"):
        MultiTaskDataModule("nope")
    with pytest.raises(RuntimeError, match="setup"):
        MultiTaskDataModule(cache_dir=str(tmp_path)).val_dataloader()
