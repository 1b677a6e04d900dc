"""A few hundred steps on synthetic data must beat the untrained network on every metric."""

import lightning.pytorch as pl

from atrc_nas.data.datamodule import MultiTaskDataModule
from atrc_nas.models.registry import build_network
from atrc_nas.tasks import get_task
from atrc_nas.training.config import OptimConfig
from atrc_nas.training.module import MultiTaskModule

STEPS = 300


def _test_metrics(trainer: pl.Trainer, module, datamodule) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.test(module, datamodule, verbose=False)[0].items()}


def test_training_beats_untrained_on_every_metric(tmp_path):
    pl.seed_everything(0, workers=True)
    datamodule = MultiTaskDataModule(
        "synthetic_nyud", batch_size=8, crop_size=(48, 64), seed=0,
        dataset_options={"num_images": 64, "image_size": [48, 64]},
    )
    datamodule.setup("fit")
    network = build_network("atrc", datamodule.spec, backbone="hrnet_tiny",
                            genotype="published:nyud_hrnet18s")
    module = MultiTaskModule(network, datamodule.spec, OptimConfig(max_steps=STEPS, lr=0.02),
                             normals_centroids=datamodule.normals_centroids)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    before = _test_metrics(trainer, module, datamodule)
    trainer.fit(module, datamodule)
    after = _test_metrics(trainer, module, datamodule)
    for task in datamodule.spec.tasks:
        spec = get_task(task)
        key = f"test/{task}/{spec.metric}"
        improved = after[key] > before[key] if spec.higher_is_better else after[key] < before[key]
        assert improved, f"{key}: untrained {before[key]:.3f}, trained {after[key]:.3f}"
    assert after["test/loss"] < before["test/loss"]
