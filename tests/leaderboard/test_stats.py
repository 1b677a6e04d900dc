"""The leaderboard's statistics against values computed by hand (t quantiles from tables)."""

from __future__ import annotations

import math

import pytest

from atrc_nas.leaderboard.collect import Stat
from atrc_nas.leaderboard.stats import (
    BETTER,
    NO_ESTIMATE,
    WITHIN_NOISE,
    WORSE,
    ci_half_width,
    compare,
    t_quantile,
)

T_975 = {1: 12.7062047, 2: 4.30265273, 4: 2.77644511}  # Student's t, two-sided 95%


@pytest.mark.parametrize("df", sorted(T_975))
def test_t_quantiles(df):
    assert t_quantile(df) == pytest.approx(T_975[df], rel=1e-7)


def test_mean_std_and_interval():
    stat = Stat.of([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (stat.mean, stat.n) == (3.0, 5)
    assert stat.std == pytest.approx(math.sqrt(2.5))
    assert stat.ci == pytest.approx(T_975[4] * math.sqrt(2.5) / math.sqrt(5))
    assert stat.text() == "3 ± 1.581 (n=5, 95% CI ±1.963)"
    one = Stat.of([7.0])
    assert (one.std, one.ci, one.text()) == (None, None, "7 (n=1)")
    assert ci_half_width([2.0]) is None
    odd = Stat.of([1.0, float("nan"), 3.0])
    assert (odd.mean, odd.n, odd.non_finite) == (2.0, 2, 1)
    assert odd.ci == pytest.approx(T_975[1] * math.sqrt(2) / math.sqrt(2))


def test_paired_by_seed():
    # differences 1, 2, 3 on the shared seeds 0-2 (seed 9 has no partner: left out)
    found = compare({0: 11.0, 1: 12.0, 2: 13.0, 9: 50.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    assert found.paired and found.n == 3
    assert found.difference == pytest.approx(2.0)
    assert found.ci == pytest.approx(T_975[2] / math.sqrt(3))  # the std of 1, 2, 3 is 1
    assert found.verdict == WITHIN_NOISE  # 2 < 2.484
    assert found.text() == "+2 ± 2.48 (paired, n=3): within noise"


@pytest.mark.parametrize(("candidate", "higher_is_better", "expected"), [
    ({0: 13.0, 1: 14.0, 2: 15.0}, True, BETTER),  # differences 3, 4, 5: 4 > 2.484
    ({0: 7.0, 1: 6.0, 2: 5.0}, True, WORSE),
    ({0: 13.0, 1: 14.0, 2: 15.0}, False, WORSE),  # e.g. an RMSE that went up
    ({0: 13.0}, True, NO_ESTIMATE),  # one pair: no spread
])
def test_verdicts(candidate, higher_is_better, expected):
    found = compare(candidate, {0: 10.0, 1: 10.0, 2: 10.0}, higher_is_better)
    assert found.verdict == expected


def test_unpaired_is_welch():
    found = compare({0: 1.0, 1: 2.0, 2: 3.0}, {3: 5.0, 4: 7.0})
    vx, vy = 1.0 / 3, 2.0 / 2  # variance / n
    df = (vx + vy) ** 2 / (vx**2 / 2 + vy**2 / 1)
    assert not found.paired and found.n == 2
    assert found.difference == pytest.approx(-4.0)
    assert found.ci == pytest.approx(t_quantile(df) * math.sqrt(vx + vy))
    assert found.verdict == WITHIN_NOISE  # df 1.68: a wide interval (about 8.6)
    assert compare({0: 1.0}, {3: 5.0, 4: 7.0}).verdict == NO_ESTIMATE
    assert compare({0: float("nan")}, {0: 1.0}) is None
