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
