"""LightningModule that trains any multi-task network with the reference recipe."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torchmetrics import MeanMetric

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics import MultiTaskEvaluator, delta_m, primary_metrics
from atrc_nas.tasks import get_task
from atrc_nas.training.config import OptimConfig
from atrc_nas.training.objective import MultiTaskObjective, ensure_finite


def poly_lambda(max_steps: int, power: float) -> Callable[[int], float]:
    """Poly decay per iteration: ``(1 - step / max_steps) ** power``, floored at 0."""

    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / max_steps) ** power

    return factor


def step_seed(seed: int, step: int) -> int:
    """The seed of training step ``step``: dropout draws depend on (seed, step) only, so a
    resumed run repeats an uninterrupted one whatever else consumed random numbers."""
    return int(np.random.SeedSequence((seed, step)).generate_state(1)[0])


def sgd_with_poly(
    params: Iterable[nn.Parameter], cfg: Any, default_lr: float
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """The reference weight optimiser: SGD with momentum and weight decay, poly decay per
    iteration. ``cfg`` (a training or a search optimiser config) holds lr (None:
    ``default_lr``), momentum, weight_decay, poly_power and max_steps."""
    lr = cfg.lr if cfg.lr is not None else default_lr
    optimizer = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, poly_lambda(cfg.max_steps, cfg.poly_power)
    )
    return optimizer, schedule


class MultiTaskModule(pl.LightningModule):
    """Trains ``network`` (outputs ``{"final": {task: ...}, "aux": {task: ...}}``).

    Validation (``val/...``) runs on the split carved from train and drives checkpoint
    choice; test (``test/...``) runs on the held-out split and writes edge predictions.
    """

    def __init__(
        self,
        network: nn.Module,
        spec: DatasetSpec,
        optim: OptimConfig,
        normals_centroids: torch.Tensor | None = None,
        edge_prediction_dir: str | Path | None = None,
        channels_last: bool = False,
        delta_m_references: Mapping[str, float] | None = None,
        seed: int = 0,
        val_metric_options: Mapping[str, Mapping[str, Any]] | None = None,
        test_metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.delta_m_references = dict(delta_m_references or {})
        self.network = network
        self.spec = spec
        self.optim_config = optim
        self.objective = MultiTaskObjective(spec, normals_centroids)
        self.val_evaluator = MultiTaskEvaluator(spec, metric_options=val_metric_options)
        self.test_evaluator = MultiTaskEvaluator(spec, metric_options=test_metric_options)
        # pooled over the split (weighted by batch size) and merged across ranks at the end
        # of the epoch, so ranks may see different numbers of batches
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.edge_prediction_dir = Path(edge_prediction_dir) if edge_prediction_dir else None
        self.channels_last = channels_last
        if channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)

    def forward(self, image: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.network(image)

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.seed, self.global_step))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        outputs = self(batch["image"])
        loss, parts = self.objective(outputs, batch)
        ensure_finite(self.global_step, loss, parts)
        batch_size = batch["image"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.log_dict({f"train/loss/{k}": v for k, v in parts.items()}, batch_size=batch_size)
        return loss

    def _evaluate(self, batch: dict, evaluator: MultiTaskEvaluator, prefix: str) -> dict:
        outputs = self(batch["image"])
        loss, _ = self.objective(outputs, batch)
        size = batch["image"].shape[0]
        mean = self.val_loss if prefix == "val" else self.test_loss
        mean.update(loss.detach().float(), weight=size)
        self.log(f"{prefix}/loss", mean, on_step=False, on_epoch=True, batch_size=size)
        evaluator.update({t: p.float() for t, p in outputs["final"].items()}, batch)
        return outputs

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, self.val_evaluator, "val")

    def on_validation_epoch_end(self) -> None:
        results = self.val_evaluator.compute()
        self.val_evaluator.reset()
        if self.delta_m_references:
            results["delta_m"] = delta_m(primary_metrics(results), self.delta_m_references)
        self.log_dict({f"val/{k}": v for k, v in results.items()})

    def test_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self._evaluate(batch, self.test_evaluator, "test")
        if self.edge_prediction_dir is not None and "edge" in outputs["final"]:
            self._save_edges(outputs["final"]["edge"], batch["meta"])

    def on_test_epoch_end(self) -> None:
        self.log_dict({f"test/{k}": v for k, v in self.test_evaluator.compute().items()})
        self.test_evaluator.reset()

    def _save_edges(self, logits: torch.Tensor, metas: list[dict]) -> None:
        """Write edge probabilities as 8-bit PNGs at the original size (padding removed),
        truncated to 0..255 as the reference writes them."""
        assert self.edge_prediction_dir is not None
        self.edge_prediction_dir.mkdir(parents=True, exist_ok=True)
        probs = get_task("edge").to_output(logits.float())[:, 0].cpu().numpy()
        for prob, meta in zip(probs, metas, strict=True):
            top, left, height, width = meta["pad"]
            crop = prob[top:top + height, left:left + width]
            png = np.floor(crop * 255).astype(np.uint8)
            path = self.edge_prediction_dir / f"{meta['id']}.png"
            if not cv2.imwrite(str(path), png):
                raise OSError(f"could not write the edge prediction PNG {path}")

    def configure_optimizers(self):
        optimizer, schedule = sgd_with_poly(
            self.network.parameters(), self.optim_config, self.spec.lr
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": schedule, "interval": "step", "frequency": 1},
        }
