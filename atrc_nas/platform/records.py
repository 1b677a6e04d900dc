"""Trial records: what every stage leaves in the experiment folder about each trial, written
by the driver from Ray Tune's results (so it works when trials run on other nodes), read by
later stages and the leaderboard (no Ray, no torch).

``<stage>_trials/<key>.json`` (see :class:`~atrc_nas.platform.layout.ExperimentLayout`)::

    stage, key       which trial
    status           running, finished (its last report is final), stopped (ended before
                     its last step: ASHA), failed (with ``error``, one line)
    provenance       what the plan says the trial is: search: sample, seed, budget, sampled
                     values, Optuna trial; train: network, seed
    report           its last report (scalars: step, objective, val/... metrics, is_final)
    outputs          the structured parts of its final report: search: the genotype;
                     train: the run's metrics.json and each worker's attention backend
    run_dir          the trial's run folder
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.layout import ExperimentLayout

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"


@dataclass
class TrialRecord:
    stage: str
    key: str
    status: str
    provenance: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    run_dir: str = ""
    error: str | None = None
    tune_trial_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status != RUNNING

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        return cls(**data)


def write_record(layout: ExperimentLayout, record: TrialRecord) -> Path:
    return atomic_write_json(layout.record_file(record.stage, record.key), record.as_dict())


def read_records(layout: ExperimentLayout, stage: str) -> list[TrialRecord]:
    """Every record of a stage, by key (none when the stage has not run)."""
    folder = layout.records_dir(stage)
    return [TrialRecord.from_dict(json.loads(p.read_text()))
            for p in sorted(folder.glob("*.json"))]
