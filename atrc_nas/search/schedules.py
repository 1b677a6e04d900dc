"""The search schedule: Gumbel temperature, entropy weight and early fixing, per step."""

from __future__ import annotations

from dataclasses import dataclass, fields

from atrc_nas.search.config import ScheduleConfig

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
