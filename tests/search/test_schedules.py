import pytest

from atrc_nas.config import ConfigError, parse_config
from atrc_nas.search.schedules import Schedule, ScheduleConfig, linear


def test_reference_schedule_at_start_middle_and_end():
    schedule = Schedule(max_steps=101)  # steps 0..100
    assert schedule.tau(0) == pytest.approx(1.0)
    assert schedule.tau(50) == pytest.approx(0.525)
    assert schedule.tau(100) == pytest.approx(0.05)
    assert schedule.entropy_lambda(0) == pytest.approx(-0.02)
    assert schedule.entropy_lambda(25) == pytest.approx(0.0, abs=1e-12)  # explore, then commit
    assert schedule.entropy_lambda(24) < 0 < schedule.entropy_lambda(26)
    assert schedule.entropy_lambda(50) == pytest.approx(0.02)
    assert schedule.entropy_lambda(100) == pytest.approx(0.06)
    assert schedule.fix_gap == 0.3 and schedule.early_fixing


def test_linear_clamps_outside_the_run():
    assert linear(1.0, 0.0, -5, 11) == 1.0
    assert linear(1.0, 0.0, 50, 11) == 0.0
    assert linear(2.0, 4.0, 0, 1) == 2.0  # a one-step run stays at the start


def test_resolve_layers_space_defaults_then_config():
    space = ScheduleConfig(temperature=(2.0, 0.1), fix_gap=0.5)
    config = ScheduleConfig(fix_gap=0.4, early_fixing=False)
    schedule = Schedule.resolve(10, space, config)
    assert schedule == Schedule(10, temperature=(2.0, 0.1), entropy_weight=(-0.02, 0.06),
                                fix_gap=0.4, early_fixing=False)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": [1.0, 0.0]}, r"temperature\[1\]: must be greater than 0, got 0.0"),
    ({"fix_gap": 1.5}, r"fix_gap: must be less than or equal to 1, got 1.5"),
    ({"entropy_weight": [0.1]}, r"entropy_weight\[1\]: required key missing"),
])
def test_schedule_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(ScheduleConfig, kwargs)
