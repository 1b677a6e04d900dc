"""One training run of the training stage: a Tune trial that drives a Ray Train
``TorchTrainer`` whose workers run the project's own Lightning training (``train``) with
Ray's Lightning integration (``RayDDPStrategy``, ``RayLightningEnvironment``,
``RayTrainReportCallback``, ``prepare_trainer``); gloo on CPU, nccl on GPU.

Each worker reports after every validation period (with a checkpoint, kept by Ray Train
under ``<storage>/train_runs/<run key>``), and once more at the end with the test metrics
of the best-by-validation checkpoint (pooled over the whole split across all workers) and,
as JSON text (``reports.encode``), the run's ``metrics.json`` and the local-attention
backend each worker used; rank 0 keeps that final report in the run folder
(``reports.save_final``), so a run that had finished is not trained again. BatchNorm is
synchronised across workers on GPUs (torch's SyncBatchNorm has no CPU implementation: on
CPU each worker normalises over its share of the batch). A worker that dies makes Ray
Train restart the worker group from the last checkpoint (``train.max_failures`` times);
the Ray Train run is named by the run key, so a restarted Tune trial continues the same
run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from atrc_nas.config import trusted_config
from atrc_nas.platform.reports import FINAL, encode, replay_final, save_final
from atrc_nas.run_dir import CONFIG_FILE, resume_checkpoint, write_config
from atrc_nas.training.config import TrainConfig

RAY_CHECKPOINT = "checkpoint.ckpt"  # the file RayTrainReportCallback writes


def _backends() -> list[str]:
    """The local-attention backend of every worker, in rank order."""
    import torch.distributed as dist

    from atrc_nas.ops.backend import ensure_backend

    name = ensure_backend().name
    if not (dist.is_available() and dist.is_initialized()):
        return [name]
    names: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(names, name)
    return [str(n) for n in names]


def _step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)
               ["global_step"])


def newest_checkpoint(reported: Path, run_dir: Path) -> Path:
    """Ray's last reported checkpoint, or the run folder's own last checkpoint when that one
    is newer: the folder's is saved at each validation just before the report, so a run
    killed in between resumes from it, and its record of the best checkpoint matches the
    files on disk."""
    local = resume_checkpoint(run_dir)
    if local is not None and _step(local) >= _step(reported):
        return local
    return reported


def train_worker(config: dict[str, Any]) -> None:
    """Ray Train's per-worker loop (every rank runs it)."""
    entered = time.time()
    import psutil
    import ray.train
    from ray.train.lightning import (
        RayDDPStrategy,
        RayLightningEnvironment,
        RayTrainReportCallback,
        prepare_trainer,
    )

    from atrc_nas.training.run import train

    torch.set_num_threads(max(1, int(config["threads"])))
    backends = _backends()  # loads the one shared build (compiled once per machine)
    cfg = trusted_config(TrainConfig, config["config"])
    context = ray.train.get_context()
    world = context.get_world_size()
    checkpoint = ray.train.get_checkpoint()
    resume = checkpoint is not None or (cfg.run_dir / CONFIG_FILE).is_file()
    if checkpoint is not None and context.get_world_rank() == 0 and not (
            cfg.run_dir / CONFIG_FILE).is_file():
        write_config(cfg.run_dir, cfg)  # a node that has not seen this run yet

    def fit(resume_from: Path | None) -> dict[str, Any]:
        return train(cfg, resume=resume, callbacks=[RayTrainReportCallback()],
                     strategy=RayDDPStrategy(), plugins=[RayLightningEnvironment()],
                     prepare=prepare_trainer, resume_from=resume_from, devices="auto",
                     sync_batchnorm=world > 1 and torch.cuda.is_available()).metrics

    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            metrics = fit(newest_checkpoint(Path(folder) / RAY_CHECKPOINT, cfg.run_dir))
    else:
        metrics = fit(None)
    # when this worker's process started, entered this loop and left training (wall clock)
    timings = {"process_start": psutil.Process().create_time(), "worker_entry": entered,
               "train_end": time.time()}
    final = {
        FINAL: True, "step": metrics["steps"], "params": metrics["params"],
        "gflops": metrics["gflops"], "world_size": metrics["world_size"], **metrics["test"],
        **encode({"backends": backends, "metrics": metrics, "timings": timings}),
    }
    if context.get_world_rank() == 0:
        save_final(cfg.run_dir, final)
    ray.train.report(final)


def train_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable of one training run (``TrialSpec.tune_config()``)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    cfg = trusted_config(TrainConfig, config["config"])
    if replay_final(cfg.run_dir):  # it had finished when the stage was interrupted
        return
    settings = config["settings"]
    gpus = float(settings["gpus_per_worker"])
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"key": config["key"], "config": config["config"],
                           "threads": settings["cpus_per_worker"]},
        torch_config=TorchConfig(backend="nccl" if gpus > 0 else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=int(settings["workers"]), use_gpu=gpus > 0,
            resources_per_worker={"CPU": float(settings["cpus_per_worker"]),
                                  **({"GPU": gpus} if gpus > 0 else {})}),
        run_config=RunConfig(
            name=config["key"], storage_path=settings["storage"],
            failure_config=FailureConfig(max_failures=int(settings["max_failures"]),
                                         controller_failure_limit=3),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
        ),
    )
    trainer.fit()
