"""Schema of a single-run training config (``python -m atrc_nas.train CONFIG``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def require_whole_periods(max_steps: int, val_every_n_steps: int) -> None:
    """Runs are cut into validation periods (one Lightning epoch each, see
    ``atrc_nas.data.samplers.StepSampler``): the run length must be a whole number of them."""
    if val_every_n_steps < 1:
        raise ValueError(f"trainer.val_every_n_steps must be >= 1, got {val_every_n_steps}")
    if max_steps % val_every_n_steps:
        raise ValueError(
            f"optim.max_steps ({max_steps}) must be a multiple of trainer.val_every_n_steps "
            f"({val_every_n_steps}): validation, checkpoints (and a search's genotype) come "
            "every val_every_n_steps"
        )


@dataclass
class DataConfig:
    dataset: str = "synthetic_nyud"
    root: str | None = None
    tasks: list[str] | None = None
    batch_size: int = 8
    eval_batch_size: int | None = None
    num_workers: int = 0
    val_fraction: float = 0.1
    crop_size: tuple[int, int] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    network: str = "atrc"
    backbone: str = "hrnet18s"
    pretrained: str | None = None
    genotype: str | None = None  # a genotype JSON file, or "published:<name>"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    lr: float | None = None  # None: the dataset's reference learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    max_steps: int = 40000
    grad_clip: float | None = None


@dataclass
class TrainerConfig:
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "64-true"] = "32-true"
    channels_last: bool = False
    val_every_n_steps: int = 1000
    log_every_n_steps: int = 50
    limit_val_batches: int | float = 1.0
    save_edge_predictions: bool = True
    progress_bar: bool = True
    # Which validation number picks the best checkpoint: "loss" (total loss), "primary" (the
    # primary metric of a single-task run, in its direction) or "delta_m" (Delta_m against
    # ``single_task_references``: task -> primary validation metric of the single-task run).
    select_by: Literal["loss", "primary", "delta_m"] = "loss"
    single_task_references: dict[str, float] = field(default_factory=dict)
    # Per-task metric options (task -> keyword arguments of its metric), e.g. fewer
    # boundary thresholds during validation: {edge: {num_thresholds: 19}}. Empty: the
    # reference protocol (99 edge thresholds).
    val_metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class TrainConfig:
    name: str = "run"
    seed: int = 0
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        require_whole_periods(self.optim.max_steps, self.trainer.val_every_n_steps)
