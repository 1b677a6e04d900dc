"""Lightning callbacks of the training runs."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl


class ValidationRecord(pl.Callback):
    """Keeps the latest validation metrics (``val/...``) in the checkpoints, so a run
    resumed after its last validation (or during its final test) reports the same
    validation numbers as an uninterrupted one."""

    def __init__(self) -> None:
        self.metrics: dict[str, float | None] = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items()
                  if k.startswith("val/")}
        self.metrics = {k: v if math.isfinite(v) else None for k, v in sorted(values.items())}

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.metrics = dict(state_dict["metrics"])


class LoggingStepIsTrainingStep(pl.Callback):
    """Logged metrics carry the training step, also after a resume.

    Lightning counts the steps it logs at (``_batches_that_stepped``) apart from the
    optimiser steps (``global_step``); restoring a checkpoint saved at the end of an epoch
    (ours: one epoch is one validation period) adds one to the first, so every row logged
    after a resume would sit one step late. With one optimiser step per batch the two are
    equal by definition: this puts the logging counter back on the training step."""

    def __init__(self) -> None:
        self._aligned = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._aligned = False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        # the first batch of a (re)start: after the epoch loop's reset, which adds the one
        if not self._aligned:
            trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step
            self._aligned = True
