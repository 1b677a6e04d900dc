"""The search stage: every search trial of the experiment as a Ray Tune sweep.

A new sweep builds a ``Tuner`` (``ReplicatedOptunaSearch``, ``PerBudgetASHA``, one trial per
(sample, seed, budget) with the experiment's resources); an interrupted one (Ctrl-C, a
SIGKILLed launcher) is continued with ``Tuner.restore``: finished, stopped and failed
trials stay as they are, running ones resume from their last checkpoint. Tune keeps its
state under ``<storage>/search`` (default storage: ``<experiment>/tune``).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from ray import tune

from atrc_nas.config import ConfigError
from atrc_nas.platform.cluster import Cluster
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.plan import SweepPlan
from atrc_nas.platform.records import read_trials
from atrc_nas.platform.search_trial import search_trial
from atrc_nas.platform.searcher import PerBudgetASHA, ReplicatedOptunaSearch
from atrc_nas.platform.tune_callbacks import StageProgress, StageRecorder

log = logging.getLogger(__name__)

STAGE = "search"
STUDY_FILE = "optuna_study.log"


def storage_root(experiment: ExperimentConfig) -> str:
    """Where Ray Tune keeps the experiment's trials and checkpoints (absolute or a URI)."""
    custom = experiment.ray.storage_path
    if custom is None:
        return str(experiment.folder / "tune")
    return custom if "://" in custom else str(Path(custom).resolve())


def _trainable(resources: dict[str, float]) -> Any:
    """A freshly wrapped trainable (``tune.with_resources`` marks the function it wraps)."""

    @functools.wraps(search_trial)
    def trainable(config: dict[str, Any]) -> None:
        search_trial(config)

    return tune.with_resources(trainable, tune.PlacementGroupFactory([resources]))


def _resources(experiment: ExperimentConfig) -> dict[str, float]:
    res = experiment.search.resources
    return {"CPU": res.cpu, **({"GPU": res.gpu} if res.gpu else {})}


def build_tuner(experiment: ExperimentConfig, every_s: float = 30.0) -> tune.Tuner:
    """The Tuner of a new sweep."""
    plan = SweepPlan(experiment.model_dump(mode="json"))
    folder = experiment.folder
    search = experiment.search
    _, mode = plan.objective
    searcher = ReplicatedOptunaSearch(plan, folder / STUDY_FILE, study_name=experiment.name)
    scheduler = (PerBudgetASHA(mode, max_t=search.periods, grace_period=search.asha.grace_period,
                               reduction_factor=search.asha.reduction_factor)
                 if search.asha.enabled else None)
    return tune.Tuner(
        _trainable(_resources(experiment)),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=plan.total_trials,
            max_concurrent_trials=search.max_concurrent_trials, reuse_actors=True,
            trial_name_creator=lambda trial: trial.config["key"],
            trial_dirname_creator=lambda trial: trial.config["key"],
        ),
        run_config=tune.RunConfig(
            name=STAGE, storage_path=storage_root(experiment),
            failure_config=tune.FailureConfig(max_failures=search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            sync_config=tune.SyncConfig(sync_artifacts=True),  # each trial's stdout/stderr
            callbacks=[StageRecorder(folder),
                       StageProgress(STAGE, plan.total_trials, search.optim.max_steps,
                                     every_s=every_s)],
            verbose=0, log_to_file=True,
        ),
    )


def run_search_stage(experiment: ExperimentConfig, cluster: Cluster,
                     every_s: float = 30.0) -> list[dict[str, Any]]:
    """Run (or continue) the sweep; returns every trial's record."""
    check_resources(experiment, cluster)
    path = f"{storage_root(experiment)}/{STAGE}"
    if tune.Tuner.can_restore(path):
        log.info("continuing the search sweep in %s", path)
        tuner = tune.Tuner.restore(path, trainable=_trainable(_resources(experiment)),
                                   resume_unfinished=True, resume_errored=False)
    else:
        tuner = build_tuner(experiment, every_s)
    tuner.fit()
    return read_trials(experiment.folder)


def check_resources(experiment: ExperimentConfig, cluster: Cluster) -> None:
    """A trial that asks for more than the whole cluster has would wait forever: refuse it
    on a local cluster, warn on a joined one (an autoscaler may add nodes)."""
    wanted = _resources(experiment)
    short = {k: (v, cluster.resources.get(k, 0.0)) for k, v in wanted.items()
             if v > cluster.resources.get(k, 0.0)}
    if not short:
        return
    text = ", ".join(f"{k} {want:g} (the cluster has {have:g})" for k, (want, have)
                     in short.items())
    message = f"search.resources: one trial asks for {text}"
    if cluster.local:
        raise ConfigError(f"{message}; lower search.resources or raise ray.num_cpus / "
                          "ray.num_gpus")
    log.warning("%s; trials wait until the cluster grows", message)
