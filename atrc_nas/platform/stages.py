"""The stages of an experiment, in order, and the checks of the whole experiment before Ray
starts: every config each stage composes, and (on a local cluster, whose resources are known
before it starts) whether one trial of each stage fits on it.

Adding a stage: a module with a :class:`~atrc_nas.platform.stage.Stage` subclass, listed
in :data:`STAGES` after the stages it ``needs``.
"""

from __future__ import annotations

import os
from pathlib import Path

from atrc_nas.config import Issue
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.search_stage import SearchStage
from atrc_nas.platform.stage import Stage, fitting
from atrc_nas.platform.train_stage import TrainStage

STAGES: tuple[type[Stage], ...] = (SearchStage, TrainStage)


def experiment_stages(experiment: ExperimentConfig) -> list[Stage]:
    """The enabled stages of the experiment, in order."""
    stages = (cls(experiment) for cls in STAGES)
    return [stage for stage in stages if stage.enabled]


def uses_local_cluster(experiment: ExperimentConfig) -> bool:
    address = experiment.ray.address or os.environ.get("RAY_ADDRESS") or "local"
    return address == "local"


def local_resources(experiment: ExperimentConfig) -> dict[str, float]:
    """The CPUs and GPUs a fresh local cluster of the experiment will have."""
    ray = experiment.ray
    cpus = ray.num_cpus if ray.num_cpus is not None else (os.cpu_count() or 1)
    if ray.num_gpus is not None:
        gpus = ray.num_gpus
    else:  # the NVIDIA devices this process may use
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = len(list(Path("/dev").glob("nvidia[0-9]*")))
        gpus = devices if visible is None else len([d for d in visible.split(",") if d])
    return {"CPU": float(cpus), "GPU": float(gpus)}


def _fits(stage: Stage, have: dict[str, float]) -> list[Issue]:
    need = {k: v for k, v in stage.footprint().items() if v}
    if fitting(have, need) >= 1:
        return []
    short = ", ".join(f"{want:g} {kind} (the local cluster has {have.get(kind, 0):g})"
                      for kind, want in need.items() if want > have.get(kind, 0))
    return [((stage.name, "resources"), f"one {stage.name} trial needs {short}: it could "
             f"never start; lower {stage.name}.resources or raise ray.num_cpus / "
             "ray.num_gpus", None)]


def check_experiment(experiment: ExperimentConfig) -> list[Issue]:
    """Everything wrong with the experiment that its schema alone cannot see."""
    found: list[Issue] = []
    for stage in experiment_stages(experiment):
        found += stage.check()
        if not found and uses_local_cluster(experiment):
            found += _fits(stage, local_resources(experiment))
        if found:  # a later stage builds on this one's settings
            break
    return found
