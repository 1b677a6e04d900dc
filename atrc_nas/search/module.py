"""LightningModule of the differentiable search: single-level updates of weights and logits.

Each step: sample soft Gumbel-softmax weights (one sample per block, shared over the
batch), one forward and one backward pass of ``task losses + lambda(step) * mean block
entropy [+ budget penalty]``, one global gradient-norm clip over weights and logits,
then SGD (poly) steps the weights and Adam steps the logits, and confident blocks are
fixed. Validation uses the one-hot argmax architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch

from atrc_nas.config import ConfigError
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.metrics import MultiTaskEvaluator
from atrc_nas.search.arch import Architecture
from atrc_nas.search.budget import Budget, HeadCostModel
from atrc_nas.search.config import SearchOptimConfig
from atrc_nas.search.schedules import Schedule
from atrc_nas.search.supernet import SearchNetwork
from atrc_nas.training.module import sgd_with_poly
from atrc_nas.training.objective import MultiTaskObjective, ensure_finite

CHECKPOINT_KEY = "search"


class SearchModule(pl.LightningModule):
    """Searches ``arch`` over ``network``. ``cost_model`` (optional) logs the expected head
    cost; ``budget`` (optional, needs ``cost_model``) adds its penalty to the loss."""

    def __init__(
        self, network: SearchNetwork, arch: Architecture, spec: DatasetSpec,
        optim: SearchOptimConfig, schedule: Schedule, cost_model: HeadCostModel | None = None,
        budget: Budget | None = None, normals_centroids: torch.Tensor | None = None,
        val_metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if budget is not None and budget.active and cost_model is None:
            raise ValueError("a budget with a weight needs a cost model")
        if network.space != arch.space:
            raise ValueError(f"network and architecture were built from different search "
                             f"spaces (pairs {network.pairs} vs {arch.pairs}, candidates "
                             f"{[str(c) for c in network.space.candidates]} vs "
                             f"{[str(c) for c in arch.space.candidates]})")
        self.automatic_optimization = False
        self.network = network
        self.arch = arch
        self.spec = spec
        self.optim_config = optim
        self.schedule = schedule
        self.cost_model = cost_model
        self.budget = budget
        self.objective = MultiTaskObjective(spec, normals_centroids)
        self.val_evaluator = MultiTaskEvaluator(spec, metric_options=val_metric_options)
        self.ops_run_total = 0  # blocks evaluated by training steps so far
        self.ops_full_total = 0  # blocks a search without skipping would have evaluated
        self.val_metrics: dict[str, float] = {}

    def forward(self, image: torch.Tensor,
                weights: torch.Tensor | None = None) -> dict[str, dict[str, torch.Tensor]]:
        """Outputs for ``weights`` [P, K], by default the one-hot argmax architecture."""
        return self.network(image, self.arch.argmax_weights() if weights is None else weights)

    # -- training ----------------------------------------------------------------------

    def search_loss(self, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss of one search step and what to log about it."""
        weights = self.arch.sample(self.schedule.tau(step))
        task_loss, parts = self.objective(self.network(batch["image"], weights), batch)
        entropy = self.arch.entropy()
        lam = self.schedule.entropy_lambda(step)
        loss = task_loss + lam * entropy
        stats: dict[str, Any] = {
            "train/loss": loss.detach(), "train/task_loss": task_loss.detach(),
            **{f"train/loss/{k}": v.detach() for k, v in parts.items()},
            "search/tau": self.schedule.tau(step), "search/entropy_weight": lam,
            "search/entropy": entropy.detach(),
            "search/ops_run": float(self.arch.ops_run(weights)),
        }
        if self.cost_model is not None:
            expected = self.cost_model.expected(self.arch.cost_probabilities())
            stats["search/expected_gflops"] = float(expected.detach()) / 1e9
            if self.budget is not None and self.budget.active:
                penalty = self.budget.penalty(expected)
                loss = loss + penalty
                stats["search/budget_penalty"] = penalty.detach()
                stats["train/loss"] = loss.detach()
        terms = {**parts, "entropy": entropy}
        if "search/budget_penalty" in stats:
            terms["budget_penalty"] = stats["search/budget_penalty"]
        ensure_finite(step, loss, terms)
        return loss, stats

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        step = self.global_step
        weight_opt, arch_opt = self.optimizers()
        loss, stats = self.search_loss(batch, step)
        weight_opt.zero_grad()
        arch_opt.zero_grad()
        self.manual_backward(loss)
        clip = self.optim_config.grad_clip
        if clip is not None:
            params = [*self.network.parameters(), self.arch.logits]
            stats["train/grad_norm"] = torch.nn.utils.clip_grad_norm_(params, clip)
        weight_opt.step()
        # The raw optimiser: a second LightningOptimizer.step() would count as a second
        # global step in manual optimisation.
        arch_opt.optimizer.step()
        self.lr_schedulers().step()
        if self.schedule.early_fixing:
            self.arch.fix_confident(self.schedule.fix_gap)
        self.ops_run_total += int(stats["search/ops_run"])
        self.ops_full_total += int(self.arch.contributes.sum())
        stats["search/fixed_blocks"] = float((self.arch.fixed & self.arch.searched).sum())
        self.log_dict(stats, batch_size=batch["image"].shape[0])
        return loss

    # -- validation --------------------------------------------------------------------

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self(batch["image"])
        loss, _ = self.objective(outputs, batch)
        self.log("val/loss", loss, batch_size=batch["image"].shape[0])
        self.val_evaluator.update({t: p.float() for t, p in outputs["final"].items()}, batch)

    def on_validation_epoch_end(self) -> None:
        self.val_metrics = {k: float(v) for k, v in self.val_evaluator.compute().items()}
        self.val_evaluator.reset()
        self.log_dict({f"val/{k}": v for k, v in self.val_metrics.items()})

    # -- optimisers and checkpoints ----------------------------------------------------

    def configure_optimizers(self):
        cfg = self.optim_config
        weight_opt, poly = sgd_with_poly(self.network.parameters(), cfg, self.spec.lr)
        arch_opt = torch.optim.Adam([self.arch.logits], lr=cfg.arch_lr, betas=cfg.arch_betas,
                                    weight_decay=cfg.arch_weight_decay)
        return [weight_opt, arch_opt], [{"scheduler": poly, "interval": "step"}]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Logits and fixed masks are in the state dict; the rest of the search state here."""
        checkpoint[CHECKPOINT_KEY] = {
            "gumbel_rng": self.arch.rng_state(),
            "schedule": self.schedule.as_dict(),
            "candidates": [[str(op) for op in ops] for ops in self.arch.candidates],
            "ops_run_total": self.ops_run_total,
            "ops_full_total": self.ops_full_total,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint[CHECKPOINT_KEY]
        saved = {k: tuple(v) if isinstance(v, list) else v for k, v in state["schedule"].items()}
        if saved != self.schedule.as_dict():
            raise ConfigError(f"--resume: the checkpoint's search schedule {saved} differs "
                              f"from this run's {self.schedule.as_dict()} (the search space "
                              "file's schedule changed?); resume with the same settings")
        ours = [[str(op) for op in ops] for ops in self.arch.candidates]
        if state["candidates"] != ours:
            raise ConfigError(f"--resume: the checkpoint was searched over a different search "
                              f"space: "
                              f"{_first_difference(state['candidates'], ours, self.arch.pairs)}")
        self.arch.set_rng_state(state["gumbel_rng"])
        self.ops_run_total = state["ops_run_total"]
        self.ops_full_total = state["ops_full_total"]


def _first_difference(saved: list[list[str]], ours: list[list[str]],
                      pairs: list[tuple[str, str]]) -> str:
    """Where two candidate tables (rows in ``pairs`` order) first differ, in words."""
    if len(saved) != len(ours):
        return f"{len(saved)} pairs in the checkpoint, {len(ours)} in this run"
    row = next(i for i, (a, b) in enumerate(zip(saved, ours, strict=True)) if a != b)
    target, source = pairs[row]
    return (f"pair (target={target!r}, source={source!r}) has candidates {saved[row]} in the "
            f"checkpoint, {ours[row]} in this run")
