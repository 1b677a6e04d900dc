"""The search stage: every search trial of the experiment as a Ray Tune sweep.

A new sweep builds a ``Tuner`` (``ReplicatedOptunaSearch``, ``PerBudgetASHA``, one trial per
(sample, seed, budget) with the experiment's resources); an interrupted one (Ctrl-C, a
SIGKILLed launcher) is continued with ``Tuner.restore``: finished, stopped and failed
trials stay as they are, running ones resume from their last checkpoint. Tune keeps its
state under ``<storage>/search`` (default storage: ``<experiment>/tune``).
"""

from __future__ import annotations

from typing import Any

from ray import tune

from atrc_nas.platform.cluster import Cluster
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.plan import SweepPlan
from atrc_nas.platform.records import read_trials
from atrc_nas.platform.search_trial import search_trial
from atrc_nas.platform.searcher import PerBudgetASHA, ReplicatedOptunaSearch
from atrc_nas.platform.stages import (
    fit_stage,
    fitting,
    fresh_trainable,
    refuse_unfitting,
    stage_run_config,
)
from atrc_nas.platform.tune_callbacks import StageProgress, StageRecorder

STAGE = "search"
STUDY_FILE = "optuna_study.log"


def _resources(experiment: ExperimentConfig) -> dict[str, float]:
    res = experiment.search.resources
    return {"CPU": res.cpu, **({"GPU": res.gpu} if res.gpu else {})}


def build_tuner(experiment: ExperimentConfig, trainable: Any,
                every_s: float = 30.0) -> tune.Tuner:
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
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=plan.total_trials,
            max_concurrent_trials=search.max_concurrent_trials, reuse_actors=True,
            trial_name_creator=lambda trial: trial.config["key"],
            trial_dirname_creator=lambda trial: trial.config["key"],
        ),
        run_config=stage_run_config(
            experiment, STAGE,
            [StageRecorder(folder),
             StageProgress(STAGE, plan.total_trials, search.optim.max_steps, every_s=every_s)],
            failure_config=tune.FailureConfig(max_failures=search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )


def run_search_stage(experiment: ExperimentConfig, cluster: Cluster,
                     every_s: float = 30.0) -> list[dict[str, Any]]:
    """Run (or continue) the sweep; returns every trial's record."""
    check_resources(experiment, cluster)
    fit_stage(experiment, STAGE, "search sweep",
              fresh_trainable(search_trial, _resources(experiment)),
              lambda trainable: build_tuner(experiment, trainable, every_s))
    return read_trials(experiment.folder)


def check_resources(experiment: ExperimentConfig, cluster: Cluster) -> None:
    """A trial that asks for more than the whole cluster has would wait forever: refuse it
    on a local cluster, warn on a joined one (an autoscaler may add nodes)."""
    wanted = _resources(experiment)
    if fitting(cluster, wanted) >= 1:
        return
    text = ", ".join(f"{k} {want:g} (the cluster has {cluster.resources.get(k, 0.0):g})"
                     for k, want in wanted.items() if want > cluster.resources.get(k, 0.0))
    refuse_unfitting(cluster, f"search.resources: one trial asks for {text}",
                     "lower search.resources or raise ray.num_cpus / ray.num_gpus",
                     "trials wait until the cluster grows")
