"""The training stage: select genotypes from the search, then train them and the baselines,
one Tune trial per (network, seed), each a Ray Train run of ``train.resources.workers``
data-parallel workers.

The local-attention extension is built once on this machine before any worker starts
(workers then load the shared build; other machines build it once each, under a file
lock). Runs go one after another or side by side as the cluster's resources allow. An
interrupted stage is continued with ``Tuner.restore``: finished runs are kept, the others
continue from their last checkpoint (Ray Train resumes a run of the same name).
"""

from __future__ import annotations

import logging
from typing import Any

from ray import tune

from atrc_nas.platform.cluster import Cluster
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.records import read_train_runs, train_record, write_train_run
from atrc_nas.platform.stages import (
    fit_stage,
    fitting,
    fresh_trainable,
    refuse_unfitting,
    stage_run_config,
    storage_root,
)
from atrc_nas.platform.train_plan import training_runs
from atrc_nas.platform.train_trial import train_trial
from atrc_nas.platform.tune_callbacks import StageProgress, StageRecorder, describe_training

log = logging.getLogger(__name__)

STAGE = "train"
DRIVER_CPUS = 0.01  # the Tune trial that drives a Ray Train run only waits on it


def concurrent_runs(experiment: ExperimentConfig, cluster: Cluster) -> int:
    """How many runs fit on the cluster at once (a run that cannot fit at all is a
    ConfigError on a local cluster)."""
    res = experiment.train.resources
    per_run = {"CPU": res.workers * res.cpus_per_worker + DRIVER_CPUS,
               "GPU": res.workers * res.gpus_per_worker}
    count = fitting(cluster, per_run)
    if count < 1:
        refuse_unfitting(
            cluster,
            f"train.resources: one run needs {per_run['CPU']:g} CPUs and {per_run['GPU']:g} "
            f"GPUs ({res.workers} workers and its driver); the cluster has "
            f"{cluster.resources.get('CPU', 0):g} CPUs and "
            f"{cluster.resources.get('GPU', 0):g} GPUs",
            "lower train.resources.cpus_per_worker (a fraction is fine) or the number of "
            "workers", "runs wait until the cluster grows")
        count = 1
    return count


def build_extension() -> str:
    """Build (or load) the local-attention extension here, before the workers start."""
    from atrc_nas.ops.backend import ensure_backend

    info = ensure_backend()
    return f"{info.name} ({info.reason})"


def run_train_stage(experiment: ExperimentConfig, cluster: Cluster,
                    genotypes: list[dict[str, Any]], every_s: float = 30.0
                    ) -> list[dict[str, Any]]:
    """Train every run (or continue the stage); returns every run's record."""
    folder = experiment.folder
    log.info("local attention: %s", build_extension())

    def build(trainable: Any) -> tune.Tuner:
        stage = experiment.train
        runs = training_runs(experiment, genotypes)
        storage = f"{storage_root(experiment)}/train_runs"
        for run in runs:
            run.update(resources=stage.resources.model_dump(mode="json"), storage=storage,
                       max_failures=stage.max_failures)
        return tune.Tuner(
            trainable,
            param_space={"run": tune.grid_search(runs)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=concurrent_runs(experiment, cluster),
                trial_name_creator=lambda trial: trial.config["run"]["key"],
                trial_dirname_creator=lambda trial: trial.config["run"]["key"],
            ),
            run_config=stage_run_config(
                experiment, STAGE,
                [StageRecorder(folder, train_record, write_train_run),
                 StageProgress(STAGE, len(runs), stage.optim.max_steps, every_s=every_s,
                               describe=describe_training)]),
        )

    fit_stage(experiment, STAGE, "training stage",
              fresh_trainable(train_trial, {"CPU": DRIVER_CPUS}), build)
    return read_train_runs(folder)
