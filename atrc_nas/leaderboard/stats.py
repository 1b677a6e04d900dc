"""The statistics the leaderboard states: means with their spread and 95% confidence
intervals over seeds, and comparisons of two networks with a verdict.

- A mean over n seeds has the interval ``mean +- t(0.975, n-1) * s / sqrt(n)``; with one
  seed there is no noise estimate and no interval.
- Two networks trained with the same seeds see the same data order and start from the same
  backbone weights (the seed fixes both), so where their seeds overlap they are compared
  seed by seed: the mean of the paired differences, with its t interval. Otherwise the
  difference of the means, with Welch's interval.
- The verdict: ``better`` or ``worse`` when the interval of the difference excludes 0
  (in the direction of the metric), ``within noise`` when it does not, ``no noise
  estimate`` when there is no interval (a single seed, or a single pair).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

CONFIDENCE = 0.95
BETTER, WORSE, WITHIN_NOISE, NO_ESTIMATE = ("better", "worse", "within noise",
                                            "no noise estimate")


def t_quantile(df: float) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


def ci_half_width(values: list[float]) -> float | None:
    """Half the width of the 95% interval of the mean of ``values`` (None with one)."""
    if len(values) < 2:
        return None
    return t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


@dataclass
class Comparison:
    """``candidate - reference`` of a metric (for Delta_m: points of percent)."""

    difference: float
    ci: float | None  # half width of its 95% interval
    n: int  # seeds paired, or the smaller of the two counts when unpaired
    paired: bool
    verdict: str

    def text(self, digits: int = 3) -> str:
        spread = "" if self.ci is None else f" ± {self.ci:.{digits}g}"
        how = "paired" if self.paired else "unpaired"
        return f"{self.difference:+.{digits}g}{spread} ({how}, n={self.n}): {self.verdict}"


def verdict(difference: float, ci: float | None, higher_is_better: bool = True) -> str:
    if ci is None:
        return NO_ESTIMATE
    if abs(difference) <= ci:
        return WITHIN_NOISE
    return BETTER if (difference > 0) == higher_is_better else WORSE


def compare(candidate: Mapping[int, float], reference: Mapping[int, float],
            higher_is_better: bool = True) -> Comparison | None:
    """Compare per-seed values (``{seed: value}``, finite ones only); None when either side
    has none."""
    a = {s: v for s, v in candidate.items() if math.isfinite(v)}
    b = {s: v for s, v in reference.items() if math.isfinite(v)}
    if not a or not b:
        return None
    shared = sorted(set(a) & set(b))
    if shared:
        differences = [a[s] - b[s] for s in shared]
        mean = statistics.fmean(differences)
        ci = ci_half_width(differences)
        return Comparison(mean, ci, len(shared), True, verdict(mean, ci, higher_is_better))
    x, y = list(a.values()), list(b.values())
    mean = statistics.fmean(x) - statistics.fmean(y)
    if len(x) < 2 or len(y) < 2:
        return Comparison(mean, None, min(len(x), len(y)), False, NO_ESTIMATE)
    vx, vy = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if se > 0 else 1.0
    ci = t_quantile(df) * se
    return Comparison(mean, ci, min(len(x), len(y)), False, verdict(mean, ci, higher_is_better))
