"""Wall-clock time per phase of a run (kept with its results, so the platform's cost can be
told from the training's own: ``benchmarks/platform_overhead.py``)."""

from __future__ import annotations

import time


class Phases:
    """Seconds spent in each named phase, measured lap by lap."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """The time since the previous lap (or the start) was spent in ``name``."""
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in self.seconds.items()}
