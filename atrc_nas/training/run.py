"""One training run from a TrainConfig: data, network, Lightning trainer, test, metrics.json."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from atrc_nas.config import ConfigError
from atrc_nas.data.datamodule import MultiTaskDataModule
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.fileio import atomic_write_json
from atrc_nas.models.cost import count_params_and_flops
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.registry import build_network
from atrc_nas.run_dir import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    check_run_dir,
    resume_checkpoint,
    write_config,
)
from atrc_nas.timing import Phases
from atrc_nas.training.callbacks import LoggingStepIsTrainingStep, ValidationRecord
from atrc_nas.training.config import DataConfig, TrainConfig
from atrc_nas.training.module import MultiTaskModule

log = logging.getLogger(__name__)


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
    """The LightningModule; ``datamodule`` must be set up (normals clusters)."""
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


def _several_devices(devices: int | str | list[int]) -> bool:
    """Whether ``Trainer(devices=...)`` asks for more than one device (then BN is synced).
    "auto" counts as one: name the device count to train data-parallel."""
    if isinstance(devices, list):
        return len(devices) > 1
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    return False


def checkpoint_monitor(cfg: TrainConfig, spec: DatasetSpec) -> tuple[str | None, str]:
    """The logged validation key that picks the best checkpoint, and its mode (the config
    has checked that the selection suits the run's tasks); None: the newest one."""
    select = cfg.trainer.select_by
    if select == "last":
        return None, "max"
    if select == "loss":
        return "val/loss", "min"
    if select == "primary":
        task = spec.task_specs()[0]
        return f"val/{task.name}/{task.metric}", "max" if task.higher_is_better else "min"
    return "val/delta_m", "max"


def lightning_trainer(**kwargs: Any) -> pl.Trainer:
    """``pl.Trainer(**kwargs)``; a setting this machine cannot honour (an accelerator that is
    not there, a strategy whose package is missing) is a ConfigError."""
    try:
        return pl.Trainer(**kwargs)
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {err}") from None


def build_trainer(cfg: TrainConfig, run_dir: Path, spec: DatasetSpec,
                  callbacks: list | None = None, **overrides: Any) -> pl.Trainer:
    t = cfg.trainer
    monitor, mode = checkpoint_monitor(cfg, spec)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR, filename="step{step}", monitor=monitor, mode=mode,
        save_last=True, save_top_k=1, auto_insert_metric_name=False,
    )
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator, devices=t.devices, strategy=t.strategy,
        precision=t.precision, max_steps=cfg.optim.max_steps,
        max_epochs=-1, check_val_every_n_epoch=1,  # one epoch = one validation period
        log_every_n_steps=t.log_every_n_steps,
        limit_val_batches=t.limit_val_batches if cfg.data.val_fraction else 0,
        gradient_clip_val=cfg.optim.grad_clip,
        logger=CSVLogger(run_dir, name="logs"),  # version_N per (re)start: nothing overwritten
        callbacks=[checkpoint, ValidationRecord(), LoggingStepIsTrainingStep(),
                   LearningRateMonitor("step"),
                   *(callbacks or [])],
        enable_progress_bar=t.progress_bar, deterministic="warn",
        sync_batchnorm=_several_devices(t.devices), default_root_dir=run_dir,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # the data module shards batches and splits itself
    )
    kwargs.update(overrides)
    trainer = lightning_trainer(**kwargs)
    if trainer.precision != t.precision:  # Lightning's fallback, e.g. no float16 AMP on CPU
        log.warning("trainer.precision %s cannot run on %s: %s runs instead", t.precision,
                    type(trainer.accelerator).__name__, trainer.precision)
    return trainer


def _launched_as_rank_zero() -> bool:
    """Whether this process is (or will be) global rank 0: the launchers of data-parallel
    workers (Ray Train, torchrun, Lightning) name the others' ranks in the environment."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def train(cfg: TrainConfig, resume: bool = False,
          callbacks: list[pl.Callback] | None = None, *,
          strategy: Any = None, plugins: list[Any] | None = None,
          prepare: Callable[[pl.Trainer], pl.Trainer] | None = None,
          resume_from: str | Path | None = None, **trainer_overrides: Any) -> RunResult:
    """Train, validate, test and write ``<output_dir>/<name>/metrics.json``.

    ``callbacks`` join the trainer's (e.g. a tuner's reporting callback); ``strategy``,
    ``plugins`` and ``trainer_overrides`` replace the config's trainer settings and
    ``prepare`` sees the trainer before it runs (data-parallel workers on Ray Train pass
    Ray's strategy, environment plugin and ``prepare_trainer``). ``resume_from`` names the
    checkpoint to continue from (e.g. one Ray restored), instead of the run folder's own.

    A run folder holding results is only continued with ``resume`` and the same
    result-changing settings; a loss that turns NaN/inf stops the run with a
    DivergenceError and writes no metrics. Data-parallel, every rank trains and evaluates
    its share; only rank 0 checks the folder and writes config.json and metrics.json.
    """
    run_dir = cfg.run_dir
    zero = _launched_as_rank_zero()
    if zero:
        checkpoint = check_run_dir(run_dir, cfg, resume or resume_from is not None)
    else:  # the folder is rank 0's to check; read which checkpoint it resumes from
        checkpoint = resume_checkpoint(run_dir) if resume else None
    if resume_from is not None:
        checkpoint = Path(resume_from)
    pl.seed_everything(cfg.seed, workers=True)
    started = time.time()
    phases = Phases()
    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    overrides = dict(trainer_overrides)
    if strategy is not None:
        overrides["strategy"] = strategy
    if plugins is not None:
        overrides["plugins"] = plugins
    trainer = build_trainer(cfg, run_dir, datamodule.spec, callbacks, **overrides)
    if prepare is not None:
        trainer = prepare(trainer)
    phases.lap("trainer")
    network = build_model(cfg, datamodule.spec)
    phases.lap("model")
    datamodule.setup("fit")
    module = build_module(cfg, datamodule, network, run_dir)
    phases.lap("data")
    if zero:
        write_config(run_dir, cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
    phases.lap("fit")
    record = next(c for c in trainer.callbacks if isinstance(c, ValidationRecord))
    best = trainer.checkpoint_callback.best_model_path or None
    test_metrics = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False,
                                weights_only=True)[0]
    phases.lap("test")
    h, w = datamodule.crop_size  # costs at the training crop, as the search reports them
    params, flops = count_params_and_flops(module.network, (1, 3, h, w))
    phases.lap("costs")
    # hashing the data is rank 0's (it writes metrics.json); the others would repeat it
    fingerprint = datamodule.fingerprint() if zero else None
    phases.lap("fingerprint")
    metrics = {
        "name": cfg.name,
        "network": cfg.model.network,
        "backbone": cfg.model.backbone,
        "dataset": datamodule.spec.name,
        "dataset_fingerprint": fingerprint,
        "seed": cfg.seed,
        "steps": trainer.global_step,
        "best_checkpoint": best,
        "params": params,
        "gflops": flops / 1e9,
        "input_size": [h, w],
        "world_size": trainer.world_size,
        "val": record.metrics,
        "test": {k: float(v) for k, v in test_metrics.items()},
        "wall_time_s": time.time() - started,
        "timings": phases.as_dict(),  # seconds per phase (its wall time, not a result)
        "torch": torch.__version__,
    }
    if zero:
        atomic_write_json(run_dir / METRICS_FILE, metrics)
    return RunResult(run_dir, metrics)
