"""Delta_m of the training stage, from the runs' records (no Ray: the leaderboard uses it).

A multi-task run's Delta_m is measured against the experiment's own single-task baselines
(same dataset, backbone, resolution and schedule: one experiment), each task's reference
being the mean over seeds of its single-task run's primary test metric; a task without a
finished single-task run takes ``train.references`` from the experiment file. When a task
has neither, Delta_m is absent (None), never made up.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from atrc_nas.metrics.delta import delta_m, primary_metrics
from atrc_nas.platform.records import TrialRecord


def test_primaries(metrics: Mapping[str, Any]) -> dict[str, float]:
    """task -> primary test metric of one run's metrics.json."""
    return primary_metrics({k.removeprefix("test/"): v for k, v in metrics["test"].items()
                            if k.startswith("test/")})


def run_metrics(run: TrialRecord) -> dict[str, Any] | None:
    """The metrics.json of a finished training run (None otherwise)."""
    return run.outputs.get("metrics") if run.finished else None


def single_task_references(runs: Sequence[TrialRecord],
                           given: Mapping[str, float] | None = None
                           ) -> dict[str, dict[str, Any]]:
    """task -> {"value", "source", "seeds"}: the experiment's own single-task mean where it
    has one, else the given reference."""
    values: dict[str, list[float]] = {}
    for run in runs:
        task = run.provenance["network"].get("task")
        metrics = run_metrics(run)
        if task and metrics:
            values.setdefault(task, []).append(test_primaries(metrics)[task])
    refs = {task: {"value": statistics.fmean(v), "source": "single_task baselines",
                   "seeds": len(v)} for task, v in values.items()}
    for task, value in (given or {}).items():
        refs.setdefault(task, {"value": float(value), "source": "train.references",
                               "seeds": None})
    return refs


def run_delta_m(run: TrialRecord, refs: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Delta_m (percent) of a finished multi-task run, None without a reference per task."""
    metrics = run_metrics(run)
    if not metrics or run.provenance["network"].get("task"):
        return None
    primaries = test_primaries(metrics)
    if len(primaries) < 2 or any(task not in refs for task in primaries):
        return None
    return delta_m(primaries, {t: r["value"] for t, r in refs.items()})
