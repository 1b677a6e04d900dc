"""Pooled evaluation across data-parallel ranks: every image once, the same metrics."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest

from atrc_nas.config import parse_config
from atrc_nas.data.samplers import ShardSampler
from atrc_nas.training.config import TrainConfig
from atrc_nas.training.run import build_datamodule, build_model, build_module

CONFIG = {
    "name": "eval", "seed": 0,
    "data": {"dataset": "synthetic_nyud", "batch_size": 2, "eval_batch_size": 1,
             "crop_size": [32, 40],
             "options": {"num_images": 9, "image_size": [32, 40]}},  # 9 test images: odd
    "model": {"network": "multi_task", "backbone": "hrnet_tiny"},
    "optim": {"max_steps": 2},
    "trainer": {"val_every_n_steps": 2, "progress_bar": False, "accelerator": "cpu"},
}


@pytest.mark.parametrize(("size", "world"), [(9, 2), (9, 4), (2, 4), (10, 1)])
def test_shards_cover_every_sample_once(size, world):
    seen = [i for rank in range(world) for i in ShardSampler(size, rank, world)]
    assert sorted(seen) == list(range(size))
    assert sum(len(ShardSampler(size, r, world)) for r in range(world)) == size


def _test_metrics(cfg: TrainConfig, checkpoint: str, **trainer: object) -> dict[str, float]:
    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    module = build_module(cfg, datamodule, build_model(cfg, datamodule.spec), None)
    runner = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False, **trainer)
    return runner.test(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False,
                       weights_only=True)[0]


def test_one_and_two_workers_give_the_same_test_metrics(tmp_path):
    cfg = parse_config(TrainConfig, {**CONFIG, "output_dir": str(tmp_path)})
    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    module = build_module(cfg, datamodule, build_model(cfg, datamodule.spec), None)
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, limit_val_batches=0,
                         enable_progress_bar=False, enable_checkpointing=False,
                         use_distributed_sampler=False)
    trainer.fit(module, datamodule=datamodule)
    checkpoint = str(tmp_path / "trained.ckpt")
    trainer.save_checkpoint(checkpoint)
    one = _test_metrics(cfg, checkpoint, devices=1)
    two = _test_metrics(cfg, checkpoint, devices=2, strategy="ddp_spawn")
    assert one.keys() == two.keys()
    for key, value in one.items():
        # float32 sums merged in another order may differ in the last bit (the loss's mean);
        # an image counted twice or lost would move a metric by a ninth
        assert two[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
