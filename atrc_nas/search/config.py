"""Schema of a search config (``python -m atrc_nas.search CONFIG``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from atrc_nas.config import ConfigError, Issue, Section
from atrc_nas.config.schema import (
    Momentum,
    Name,
    NonEmptyStr,
    NonNegativeFloat,
    PositiveFloat,
    pair_of,
)
from atrc_nas.search.schedules import ScheduleConfig
from atrc_nas.training.config import (
    BackboneConfig,
    DataConfig,
    OptimConfig,
    RunIdentity,
    RunnerConfig,
    whole_period_issues,
)


class SearchOptimConfig(OptimConfig):
    """Single-level optimisation: both optimisers step on the same batch and backward pass."""

    grad_clip: PositiveFloat | None = 10.0
    """One global norm over weights and logits; None: off."""
    arch_lr: PositiveFloat = 5e-4
    """Learning rate of the architecture logits (Adam, constant)."""
    arch_betas: pair_of(Momentum) = (0.9, 0.999)  # type: ignore[valid-type]
    arch_weight_decay: NonNegativeFloat = 0.0


class BudgetConfig(Section):
    """Resource budget on the expected head cost (FLOPs at the training resolution).

    ``gflops`` or ``fraction`` (of the most expensive head the space allows) sets the
    budget; ``weight`` scales the penalty ``max(0, E[cost] - budget) / max_cost``. With
    ``weight`` 0 the search is the reference one (the budget is only reported); with a
    weight and no budget the whole expected cost is penalised.
    """

    gflops: NonNegativeFloat | None = None
    fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    weight: NonNegativeFloat = 0.0

    def issues(self) -> list[Issue]:
        if self.gflops is not None and self.fraction is not None:
            return [(("fraction",), "give the budget as gflops or as fraction, not both",
                     self.fraction)]
        return []


class SearchTrainerConfig(RunnerConfig):
    precision: Literal["32-true", "bf16-mixed", "64-true"] = "32-true"


class SearchConfig(RunIdentity):
    name: Name = "search"
    space: NonEmptyStr = "atrc"
    """A file in search_spaces/ by name, or a path to a YAML file."""
    data: DataConfig = Field(default_factory=DataConfig)
    model: BackboneConfig = Field(default_factory=BackboneConfig)
    optim: SearchOptimConfig = Field(default_factory=SearchOptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    trainer: SearchTrainerConfig = Field(default_factory=SearchTrainerConfig)

    def issues(self) -> list[Issue]:
        from atrc_nas.search.space_io import load_space

        found = super().issues()
        found += whole_period_issues(self.optim.max_steps, self.trainer.val_every_n_steps)
        try:
            load_space(self.space).build(self.data.spec().tasks)
        except ConfigError as err:
            found.append((("space",), str(err), self.space))
        return found
