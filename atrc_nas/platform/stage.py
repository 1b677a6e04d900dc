"""The stage contract: what every stage of an experiment is (search, training, ...).

A stage is one module with one :class:`Stage` subclass. It says

- ``needs``: the earlier stages whose records it reads (``plan`` gets them);
- ``check()``: every config it will compose, validated before Ray starts (issues located in
  the experiment file);
- ``plan(earlier)``: its trials as :class:`TrialSpec` (key, validated config, provenance,
  steps, resources); ``preview()`` the same for ``--dry-run``, before earlier stages ran;
- ``trainable()``: the Ray Tune function trainable that runs one trial, given
  ``spec.tune_config()`` (the config travels as JSON and is rebuilt without re-checking);
- ``tuner(...)``: how Tune runs the trials (search algorithm, scheduler, concurrency);
- ``record(...)``: a trial as a :class:`~atrc_nas.platform.records.TrialRecord` (its
  final report's structured ``outputs`` decoded);
- ``summarise(specs, records)``: what the stage concluded (files, a printed table).

:mod:`atrc_nas.platform.runner` runs any stage on Ray Tune (new or continued), and
``atrc_nas.launch`` loops over :data:`atrc_nas.platform.stages.STAGES`. Nothing here
imports Ray: experiments are checked and planned without it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from atrc_nas.config import Issue, Section, config_dict
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord, read_records, write_record
from atrc_nas.platform.reports import decode

# Keys of a Tune result that are Tune's bookkeeping, not the trial's report.
_TUNE_KEYS = frozenset({
    "timestamp", "date", "pid", "hostname", "node_ip", "config", "trial_id", "experiment_tag",
    "done", "checkpoint_dir_name", "should_checkpoint", "time_this_iter_s",
    "time_since_restore", "iterations_since_restore", "timesteps_total",
    "timesteps_since_restore", "episodes_total", "experiment_id", "training_iteration",
})


@dataclass(frozen=True)
class TrialSpec:
    """One planned trial."""

    key: str  # names its run folder, record, Tune trial and (training) Ray Train run
    config: Section  # the run's validated config
    provenance: dict[str, Any]  # what the trial is (kept in its record)
    steps: int  # training steps of the run
    resources: dict[str, float]  # what the whole trial occupies (every process of it)
    settings: dict[str, Any] = field(default_factory=dict)  # how the trainable runs it

    def tune_config(self) -> dict[str, Any]:
        """What the trainable receives: plain JSON (Tune keeps it in ``params.json``)."""
        return {"key": self.key, "config": config_dict(self.config),
                "provenance": self.provenance, "settings": self.settings}


class Stage(ABC):
    name: ClassVar[str]  # its folders and files: <name>/, <name>_trials/, tune/<name>
    title: ClassVar[str]  # for people: "search sweep"
    needs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()  # report keys holding JSON (decoded in records)
    # whether ``launch --retry-failed`` runs its failed trials again (from their newest
    # checkpoint); not for a stage whose search algorithm has recorded the failures
    retries_failed: ClassVar[bool] = False

    def __init__(self, experiment: ExperimentConfig) -> None:
        self.experiment = experiment
        self.layout = ExperimentLayout(experiment.folder)

    @property
    @abstractmethod
    def enabled(self) -> bool: ...

    @abstractmethod
    def check(self) -> list[Issue]:
        """Problems with the configs this stage will compose (located in the experiment)."""

    @abstractmethod
    def plan(self, earlier: Mapping[str, list[TrialRecord]]) -> list[TrialSpec]:
        """Every trial of the stage, from the records of the stages it ``needs``."""

    def preview(self) -> list[str]:
        """The plan in words, before any stage ran (``--dry-run``)."""
        return [describe_spec(spec) for spec in self.plan({})]

    @abstractmethod
    def trainable(self) -> Callable[[dict[str, Any]], None]:
        """The Tune function trainable of one trial (module-level, importable by workers)."""

    @abstractmethod
    def trial_resources(self) -> dict[str, float]:
        """The Tune trial's own resource bundle."""

    def footprint(self) -> dict[str, float]:
        """What one trial occupies on the cluster, every process of it (its Tune trial, and
        any workers it starts)."""
        return self.trial_resources()

    @abstractmethod
    def tuner(self, specs: list[TrialSpec], trainable: Any, run_config: Any,
              cluster: Any) -> Any:
        """A new ``ray.tune.Tuner`` running ``specs``."""

    @abstractmethod
    def summarise(self, specs: list[TrialSpec], records: list[TrialRecord]) -> str:
        """Write what the stage concluded; the text to print."""

    def run_settings(self) -> dict[str, Any]:
        """Extra ``ray.tune.RunConfig`` settings (failure and checkpoint policies)."""
        return {}

    def describe(self, report: Mapping[str, Any]) -> str:
        """A trial's report in one line of the live view."""
        return f"step {report.get('step', '-')}"

    def record(self, trial: Any, status: str, error: str | None = None) -> TrialRecord:
        """The record of a Ray Tune trial of this stage."""
        config = trial.config
        result = {k: v for k, v in (trial.last_result or {}).items() if k not in _TUNE_KEYS}
        report, outputs = decode(result, self.outputs)
        return TrialRecord(
            stage=self.name, key=config["key"], status=status,
            provenance=config["provenance"], report=report, outputs=outputs,
            run_dir=str(self.layout.run_dir(self.name, config["key"])), error=error,
            tune_trial_id=trial.trial_id)

    def write(self, record: TrialRecord) -> None:
        write_record(self.layout, record)

    def records(self) -> list[TrialRecord]:
        return read_records(self.layout, self.name)

    @staticmethod
    def complete(specs: list[TrialSpec], records: list[TrialRecord]) -> bool:
        """Whether every planned trial has ended (finished, stopped early or failed)."""
        by_key = {r.key: r for r in records}
        return all(s.key in by_key and by_key[s.key].ended for s in specs)


def fitting(resources: Mapping[str, float], need: Mapping[str, float]) -> int:
    """How many times ``need`` fits in ``resources`` at once."""
    counts = [math.floor(resources.get(kind, 0.0) / amount + 1e-9)
              for kind, amount in need.items() if amount > 0]
    return min(counts) if counts else 1


def describe_spec(spec: TrialSpec) -> str:
    resources = ", ".join(f"{k} {v:g}" for k, v in spec.resources.items() if v)
    return f"{spec.key}: {spec.steps} steps, {resources}"
