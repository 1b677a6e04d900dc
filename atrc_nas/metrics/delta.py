"""Delta_m: the mean relative gain of a multi-task model over single-task references, and
the primary metric of each task (plain numbers: no torch)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from atrc_nas.tasks import TASKS, get_task


def delta_m(mt: Mapping[str, float], st: Mapping[str, float]) -> float:
    """Delta_m in percent over the tasks of ``mt``.

    ``(1/T) sum_t (-1)^l_t (M_mt,t - M_st,t) / M_st,t * 100`` with l_t = 1 when the task's
    primary metric is lower-is-better. ``mt`` and ``st`` map task names to primary metric
    values (see ``primary_metrics``); ``st`` must cover every task of ``mt``.
    """
    if not mt:
        raise ValueError("delta_m needs at least one task in the multi-task results")
    missing = [task for task in mt if task not in st]
    if missing:
        raise KeyError(f"delta_m: single-task references lack task(s) {missing}; "
                       f"they cover {sorted(st)}")
    total = 0.0
    for task, value in mt.items():
        reference = st[task]
        if reference == 0:
            raise ValueError(f"delta_m: the single-task reference of {task!r} is 0")
        sign = 1.0 if get_task(task).higher_is_better else -1.0
        total += sign * (value - reference) / reference * 100.0
    return total / len(mt)


def primary_metrics(results: Mapping[str, float | None]) -> dict[str, float]:
    """``{task: value}`` of each task's primary metric found in flat ``compute()`` keys (a
    value stored as null, i.e. non-finite, is NaN)."""
    primary: dict[str, float] = {}
    for key, value in results.items():
        task, _, name = key.partition("/")
        if task in TASKS and name == TASKS[task].metric:
            primary[task] = math.nan if value is None else float(value)
    return primary
