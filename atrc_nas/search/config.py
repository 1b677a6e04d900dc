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
    MetricOptions,
    OptimConfig,
    RunIdentity,
    RunnerConfig,
    metric_option_issues,
    whole_period_issues,
)


class SearchOptimConfig(OptimConfig):
    """Single-level optimisation: both optimisers step on the same batch and backward pass."""

    grad_clip: PositiveFloat | None = 10.0
    """One global norm over weights and logits; None: off."""
    arch_lr: PositiveFloat = 5e-4
    """Learning rate of the architecture logits (Adam, constant)."""
    arch_betas: pair_of(Momentum) = (0.9, 0.999)  # type: ignore[valid-type]
    """Adam betas of the architecture logits."""
    arch_weight_decay: NonNegativeFloat = 0.0
    """Adam weight decay of the architecture logits."""


class BudgetConfig(Section):
    """Resource budget on the expected head cost (FLOPs at the training resolution).

    ``gflops`` or ``fraction`` (of the most expensive head the space allows) sets the
    budget; ``weight`` scales the penalty ``max(0, E[cost] - budget) / max_cost``. With
    ``weight`` 0 the search is the reference one (the budget is only reported); with a
    weight and no budget the whole expected cost is penalised.
    """

    gflops: NonNegativeFloat | None = None
    """The budget in GFLOPs of the head at the training crop."""
    fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    """The budget as a fraction of the most expensive head the space allows."""
    weight: NonNegativeFloat = 0.0
    """Weight of the budget penalty (0: the budget is only reported)."""

    def issues(self) -> list[Issue]:
        if self.gflops is not None and self.fraction is not None:
            return [(("fraction",), "give the budget as gflops or as fraction, not both",
                     self.fraction)]
        return []


class SearchTrainerConfig(RunnerConfig):
    """The search's training loop (Lightning)."""

    precision: Literal["32-true", "bf16-mixed", "64-true"] = "32-true"
    """Lightning's precision."""
    val_metric_options: MetricOptions = Field(default_factory=dict)
    """task -> options of its metric in the search's validations, e.g.
    {edge: {num_thresholds: 19}} (the derived network's metrics: reported, and the sweep's
    objective when it names a task)."""


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
        if self.data.val_fraction == 0:
            found.append((("data", "val_fraction"), "the search scores its architectures on "
                          "a validation split: must be greater than 0", 0))
        try:
            load_space(self.space).build(self.data.spec().tasks)
        except ConfigError as err:
            found.append((("space",), str(err), self.space))
        if not found:  # the metric classes import torch: checked once the rest is right
            found += metric_option_issues(self.data.spec(), self.trainer.val_metric_options,
                                          ("trainer", "val_metric_options"))
        return found
