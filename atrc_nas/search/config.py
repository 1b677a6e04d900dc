"""Schema of a search config (``python -m atrc_nas.search CONFIG``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from atrc_nas.training.config import DataConfig, require_whole_periods


@dataclass
class SearchModelConfig:
    backbone: str = "hrnet18s"
    pretrained: str | None = None  # local ImageNet checkpoint of the backbone


@dataclass
class SearchOptimConfig:
    """Single-level optimisation: both optimisers step on the same batch and backward pass."""

    lr: float | None = None  # network weights (SGD); None: the dataset's reference rate
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9  # poly decay of the weights' rate, per iteration
    max_steps: int = 40000
    arch_lr: float = 5e-4  # architecture logits (Adam, constant rate)
    arch_betas: tuple[float, float] = (0.9, 0.999)
    arch_weight_decay: float = 0.0
    grad_clip: float | None = 10.0  # one global norm over weights and logits; None: off

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclass
class ScheduleConfig:
    """Search schedule; a key left at None takes the value the search space file declares
    (and the reference value where the space file is silent too)."""

    temperature: tuple[float, float] | None = None  # Gumbel-softmax tau, linear start -> end
    entropy_weight: tuple[float, float] | None = None  # lambda, linear start -> end
    fix_gap: float | None = None  # fix a block once softmax top-1 minus top-2 >= fix_gap
    early_fixing: bool | None = None

    def __post_init__(self) -> None:
        if self.temperature is not None and min(self.temperature) <= 0:
            raise ValueError(f"temperature values must be > 0, got {list(self.temperature)}")
        if self.fix_gap is not None and not 0.0 < self.fix_gap <= 1.0:
            raise ValueError(f"fix_gap must be in (0, 1], got {self.fix_gap}")


@dataclass
class BudgetConfig:
    """Resource budget on the expected head cost (FLOPs at the training resolution).

    ``gflops`` or ``fraction`` (of the most expensive head the space allows) sets the
    budget; ``weight`` scales the penalty ``max(0, E[cost] - budget) / max_cost``. With
    ``weight`` 0 the search is the reference one (the budget is only reported); with a
    weight and no budget the whole expected cost is penalised.
    """

    gflops: float | None = None
    fraction: float | None = None
    weight: float = 0.0

    def __post_init__(self) -> None:
        if self.gflops is not None and self.fraction is not None:
            raise ValueError("give the budget as gflops or as fraction, not both")
        if self.gflops is not None and self.gflops < 0:
            raise ValueError(f"budget gflops must be >= 0, got {self.gflops}")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"budget fraction must be in [0, 1], got {self.fraction}")
        if self.weight < 0:
            raise ValueError(f"budget weight must be >= 0, got {self.weight}")


@dataclass
class SearchTrainerConfig:
    accelerator: str = "auto"
    precision: Literal["32-true", "bf16-mixed", "64-true"] = "32-true"
    val_every_n_steps: int = 1000  # validation, genotype and checkpoint period
    log_every_n_steps: int = 50
    limit_val_batches: int | float = 1.0
    progress_bar: bool = True


@dataclass
class SearchConfig:
    name: str = "search"
    seed: int = 0
    output_dir: str = "runs"
    space: str = "atrc"  # a file in search_spaces/ by name, or a path to a YAML file
    data: DataConfig = field(default_factory=DataConfig)
    model: SearchModelConfig = field(default_factory=SearchModelConfig)
    optim: SearchOptimConfig = field(default_factory=SearchOptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    trainer: SearchTrainerConfig = field(default_factory=SearchTrainerConfig)

    def __post_init__(self) -> None:
        require_whole_periods(self.optim.max_steps, self.trainer.val_every_n_steps)
