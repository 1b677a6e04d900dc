"""One training run from a TrainConfig: data, network, Lightning trainer, test, metrics.json."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from atrc_nas.config import ConfigError, to_dict
from atrc_nas.data.datamodule import MultiTaskDataModule
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.fileio import atomic_write_json
from atrc_nas.models.cost import count_params_and_flops
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.registry import build_network
from atrc_nas.training.config import DataConfig, TrainConfig
from atrc_nas.training.module import MultiTaskModule


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]


def build_datamodule(data: DataConfig, seed: int,
                     steps_per_period: int | None = None) -> MultiTaskDataModule:
    """The data module of a config; ``steps_per_period``: see MultiTaskDataModule."""
    return MultiTaskDataModule(
        dataset=data.dataset, root=data.root, tasks=data.tasks, batch_size=data.batch_size,
        eval_batch_size=data.eval_batch_size, num_workers=data.num_workers,
        val_fraction=data.val_fraction, seed=seed, crop_size=data.crop_size,
        dataset_options=data.options, steps_per_period=steps_per_period,
    )


def build_model(cfg: TrainConfig, spec: DatasetSpec) -> nn.Module:
    """The network of ``cfg.model``; a bad name, option, genotype or weights file is a
    ConfigError naming the ``model`` section."""
    try:
        genotype = resolve_genotype(cfg.model.genotype) if cfg.model.genotype else None
        return build_network(
            cfg.model.network, spec, backbone=cfg.model.backbone,
            pretrained=cfg.model.pretrained, genotype=genotype, **cfg.model.options,
        )
    except (KeyError, ValueError, TypeError, OSError) as err:
        raise ConfigError(f"model: {err}") from err


def build_module(cfg: TrainConfig, datamodule: MultiTaskDataModule, network: nn.Module,
                 run_dir: Path | None) -> MultiTaskModule:
    """The LightningModule; ``datamodule`` must be set up (normals clusters). Metric
    options naming a task that is not evaluated (KeyError) or an argument its metric does
    not take (TypeError) are ConfigErrors."""
    try:
        return MultiTaskModule(
            network, datamodule.spec, cfg.optim,
            normals_centroids=datamodule.normals_centroids,
            edge_prediction_dir=(run_dir / "edge_predictions")
            if run_dir and cfg.trainer.save_edge_predictions else None,
            channels_last=cfg.trainer.channels_last,
            delta_m_references=cfg.trainer.single_task_references,
            seed=cfg.seed,
            val_metric_options=cfg.trainer.val_metric_options,
            test_metric_options=cfg.trainer.test_metric_options,
        )
    except (KeyError, TypeError) as err:
        raise ConfigError(f"trainer.val_metric_options / test_metric_options: {err}") from err


def _several_devices(devices: int | str) -> bool:
    """Whether ``Trainer(devices=...)`` asks for more than one device (then BN is synced).
    "auto" counts as one: name the device count to train data-parallel."""
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    return devices not in ("auto", "1") and (devices == "-1" or "," in devices
                                             or (devices.isdigit() and int(devices) > 1))


def checkpoint_monitor(cfg: TrainConfig, spec: DatasetSpec) -> tuple[str, str]:
    """The logged validation key that picks the best checkpoint, and its mode."""
    select = cfg.trainer.select_by
    if select == "loss":
        return "val/loss", "min"
    if select == "primary":
        if len(spec.tasks) != 1:
            raise ConfigError(
                f"trainer.select_by: 'primary' needs a single-task run, this one has tasks "
                f"{list(spec.tasks)}; use 'delta_m' with trainer.single_task_references"
            )
        task = spec.task_specs()[0]
        return f"val/{task.name}/{task.metric}", "max" if task.higher_is_better else "min"
    missing = [t for t in spec.tasks if t not in cfg.trainer.single_task_references]
    if missing:
        raise ConfigError(
            f"trainer.select_by: 'delta_m' needs trainer.single_task_references for every "
            f"task; missing {missing} (task -> primary validation metric of its single-task run)"
        )
    return "val/delta_m", "max"


def build_trainer(cfg: TrainConfig, run_dir: Path, spec: DatasetSpec,
                  callbacks: list | None = None, **overrides: Any) -> pl.Trainer:
    t = cfg.trainer
    monitor, mode = checkpoint_monitor(cfg, spec)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="step{step}", monitor=monitor, mode=mode,
        save_last=True, save_top_k=1, auto_insert_metric_name=False,
    )
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator, devices=t.devices, strategy=t.strategy,
        precision=t.precision, max_steps=cfg.optim.max_steps,
        max_epochs=-1, check_val_every_n_epoch=1,  # one epoch = one validation period
        log_every_n_steps=t.log_every_n_steps,
        limit_val_batches=t.limit_val_batches, gradient_clip_val=cfg.optim.grad_clip,
        logger=CSVLogger(run_dir, name="logs"),  # version_N per (re)start: nothing overwritten
        callbacks=[checkpoint, LearningRateMonitor("step"), *(callbacks or [])],
        enable_progress_bar=t.progress_bar, deterministic="warn",
        sync_batchnorm=_several_devices(t.devices), default_root_dir=run_dir,
        num_sanity_val_steps=0,
    )
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


def train(cfg: TrainConfig, resume: bool = False,
          callbacks: list[pl.Callback] | None = None) -> RunResult:
    """Train, validate, test and write ``<output_dir>/<name>/metrics.json``; ``callbacks``
    join the trainer's (e.g. a tuner's reporting callback)."""
    run_dir = Path(cfg.output_dir) / cfg.name
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.exists() and not resume:
        raise ConfigError(
            f"{run_dir} already holds a run (found {last}); pass --resume to continue it "
            "or choose another name (name=...)"
        )
    pl.seed_everything(cfg.seed, workers=True)
    started = time.time()
    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    checkpoint_monitor(cfg, datamodule.spec)  # a bad selection fails before any work
    network = build_model(cfg, datamodule.spec)
    datamodule.setup("fit")
    module = build_module(cfg, datamodule, network, run_dir)
    atomic_write_json(run_dir / "config.json", to_dict(cfg))
    trainer = build_trainer(cfg, run_dir, datamodule.spec, callbacks)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume and last.exists()
                else None)
    val_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("val/")}
    best = trainer.checkpoint_callback.best_model_path or None
    test_metrics = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]
    h, w = datamodule.crop_size  # costs at the training crop, as the search reports them
    params, flops = count_params_and_flops(module.network, (1, 3, h, w))
    metrics = {
        "name": cfg.name,
        "network": cfg.model.network,
        "backbone": cfg.model.backbone,
        "dataset": datamodule.spec.name,
        "dataset_fingerprint": datamodule.fingerprint(),
        "seed": cfg.seed,
        "steps": trainer.global_step,
        "best_checkpoint": best,
        "params": params,
        "gflops": flops / 1e9,
        "input_size": [h, w],
        "val": val_metrics,
        "test": {k: float(v) for k, v in test_metrics.items()},
        "wall_time_s": time.time() - started,
        "torch": torch.__version__,
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    return RunResult(run_dir, metrics)
