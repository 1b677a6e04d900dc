"""The search schedule: Gumbel temperature, entropy weight and early fixing, per step, and
its config section (values left at None come from the search space file, then the
reference)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

from pydantic import Field

from atrc_nas.config import Section
from atrc_nas.config.schema import FiniteFloat, PositiveFloat, pair_of


class ScheduleConfig(Section):
    """Search schedule; a key left at None takes the value the search space file declares
    (and the reference value where the space file is silent too)."""

    temperature: pair_of(PositiveFloat) | None = None  # type: ignore[valid-type]
    """Gumbel-softmax tau, linear from start to end."""
    entropy_weight: pair_of(FiniteFloat) | None = None  # type: ignore[valid-type]
    """lambda of the entropy term, linear from start to end."""
    fix_gap: Annotated[float, Field(gt=0, le=1)] | None = None
    """Fix a block once softmax top-1 minus top-2 >= fix_gap."""
    early_fixing: bool | None = None
    """Fix confident blocks during the search (the reference does)."""


REFERENCE_TEMPERATURE = (1.0, 0.05)
REFERENCE_ENTROPY_WEIGHT = (-0.02, 0.06)
REFERENCE_FIX_GAP = 0.3


def linear(start: float, end: float, step: int, max_steps: int) -> float:
    """``start`` at step 0, ``end`` at the last step (``max_steps - 1``), linear between;
    clamped outside."""
    progress = min(max(step / max(max_steps - 1, 1), 0.0), 1.0)
    return start + (end - start) * progress


@dataclass(frozen=True)
class Schedule:
    """Every knob that changes with the step; a pure function of the step, so a resumed
    search recomputes exactly the values of an uninterrupted one."""

    max_steps: int
    temperature: tuple[float, float] = REFERENCE_TEMPERATURE
    entropy_weight: tuple[float, float] = REFERENCE_ENTROPY_WEIGHT
    fix_gap: float = REFERENCE_FIX_GAP
    early_fixing: bool = True

    def tau(self, step: int) -> float:
        return linear(*self.temperature, step, self.max_steps)

    def entropy_lambda(self, step: int) -> float:
        return linear(*self.entropy_weight, step, self.max_steps)

    @classmethod
    def resolve(cls, max_steps: int, *layers: ScheduleConfig) -> Schedule:
        """Reference values, overridden by each layer's keys that are not None, in order
        (the space file's defaults first, then the experiment config)."""
        values: dict[str, object] = {}
        for layer in layers:
            values.update(layer.model_dump(exclude_none=True))
        return cls(max_steps, **values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
