"""One search from a SearchConfig: data, supernet, Lightning trainer, genotype and report.

Files under ``<output_dir>/<name>/``: ``config.json``, ``atrc_genotype.json`` (after every
validation), ``arch_history.jsonl`` and ``arch_history.png``, ``checkpoints/last.ckpt``
(after every validation), ``logs/metrics.csv`` and, at the end, ``search_report.json``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from atrc_nas.data.datamodule import MultiTaskDataModule
from atrc_nas.fileio import atomic_write_json
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.genotype import Genotype
from atrc_nas.run_dir import CHECKPOINT_DIR, check_run_dir, write_config
from atrc_nas.search.arch import Architecture
from atrc_nas.search.budget import Budget, HeadCostModel
from atrc_nas.search.callbacks import SearchArtifacts
from atrc_nas.search.config import SearchConfig
from atrc_nas.search.module import SearchModule
from atrc_nas.search.report import REPORT_FILE, backbone_flops, format_report, search_report
from atrc_nas.search.schedules import Schedule
from atrc_nas.search.space_io import load_space
from atrc_nas.search.supernet import SearchNetwork
from atrc_nas.timing import Phases
from atrc_nas.training.callbacks import LoggingStepIsTrainingStep
from atrc_nas.training.run import build_datamodule, lightning_trainer

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    run_dir: Path
    genotype: Genotype
    report: dict[str, Any]


@dataclass
class SearchSetup:
    data: MultiTaskDataModule
    module: SearchModule
    input_size: tuple[int, int]


def build_search(cfg: SearchConfig) -> SearchSetup:
    """Data (set up for fitting), space, supernet, cost model, budget and module."""
    declaration = load_space(cfg.space)
    datamodule = build_datamodule(cfg.data, cfg.seed,
                                  steps_per_period=cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    spec = datamodule.spec
    space = declaration.build(spec.tasks)
    schedule = Schedule.resolve(cfg.optim.max_steps, declaration.schedule, cfg.schedule)
    network = SearchNetwork(create_backbone(cfg.model.backbone, pretrained=cfg.model.pretrained),
                            spec, space)
    arch = Architecture(space, seed=cfg.seed)
    h, w = datamodule.crop_size
    input_size = (int(h), int(w))
    cost_model = HeadCostModel.build(arch, spec, network.dims, input_size)
    budget = Budget.resolve(cfg.budget, cost_model)
    module = SearchModule(network, arch, spec, cfg.optim, schedule, cost_model, budget,
                          normals_centroids=datamodule.normals_centroids,
                          val_metric_options=cfg.trainer.val_metric_options)
    return SearchSetup(datamodule, module, input_size)


def build_trainer(cfg: SearchConfig, run_dir: Path,
                  callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    t = cfg.trainer
    # Checkpoints only after validations: a resumed search restarts at a period boundary.
    checkpoint = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename="step{step}",
                                 auto_insert_metric_name=False, save_last=True, save_top_k=1,
                                 save_on_train_epoch_end=False)
    return lightning_trainer(
        accelerator=t.accelerator, devices=1, precision=t.precision,
        max_steps=cfg.optim.max_steps, max_epochs=-1, check_val_every_n_epoch=1,
        log_every_n_steps=t.log_every_n_steps, limit_val_batches=t.limit_val_batches,
        logger=CSVLogger(run_dir, name="logs"),  # a new version folder per (re)start
        callbacks=[SearchArtifacts(run_dir), checkpoint, LoggingStepIsTrainingStep(),
                   *(callbacks or [])],
        enable_progress_bar=t.progress_bar, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, deterministic="warn",
        default_root_dir=run_dir,
    )


def run_search(cfg: SearchConfig, resume: bool = False,
               callbacks: list[pl.Callback] | None = None) -> SearchResult:
    """Search, then write ``search_report.json``; ``resume`` continues from the last intact
    checkpoint (same result-changing settings only). A loss that turns NaN/inf stops the
    search with a DivergenceError: no report, and no genotype derived after it."""
    run_dir = cfg.run_dir
    checkpoint = check_run_dir(run_dir, cfg, resume)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    phases = Phases()
    trainer = build_trainer(cfg, run_dir, callbacks)
    phases.lap("trainer")
    setup = build_search(cfg)
    phases.lap("setup")
    write_config(run_dir, cfg)
    with warnings.catch_warnings():
        # The step-keyed sampler makes a mid-period resume exact; Lightning cannot tell.
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended "
                                "before the epoch ended")
        trainer.fit(setup.module, datamodule=setup.data, ckpt_path=checkpoint,
                    weights_only=True)
    phases.lap("fit")
    module = setup.module
    genotype = module.arch.genotype(trainer.global_step)
    report = search_report(genotype, module.cost_model, module.budget, setup.input_size,
                           backbone_flops(cfg.model.backbone, setup.input_size) / 1e9)
    report.update(module.arch.entropy_report())
    report["ops_run_total"] = module.ops_run_total
    report["ops_full_total"] = module.ops_full_total
    phases.lap("report")
    report["timings"] = phases.as_dict()  # seconds per phase (its wall time, not a result)
    atomic_write_json(run_dir / REPORT_FILE, report)
    log.info("%s", format_report(report))
    return SearchResult(run_dir, genotype, report)
