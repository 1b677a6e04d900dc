"""Running a stage on Ray Tune: a new Tuner from the stage's plan, or the interrupted one
continued; every trial wrapped afresh with its resources; the run settings every stage
shares; what fits on the cluster."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ray import tune

from atrc_nas.platform.cluster import Cluster
from atrc_nas.platform.records import TrialRecord
from atrc_nas.platform.stage import Stage, TrialSpec, fitting
from atrc_nas.platform.tune_callbacks import StageProgress, StageRecorder

log = logging.getLogger(__name__)


def fresh_trainable(function: Callable[[dict[str, Any]], None],
                    resources: dict[str, float]) -> Any:
    """``function`` as a trainable of ``resources`` (one bundle), wrapped afresh:
    ``tune.with_resources`` marks the function it wraps."""

    @functools.wraps(function)
    def trainable(config: dict[str, Any]) -> None:
        function(config)

    return tune.with_resources(trainable, tune.PlacementGroupFactory([resources]))


def run_stage(stage: Stage, specs: list[TrialSpec], cluster: Cluster,
              every_s: float = 30.0, callbacks: list[Any] = (),
              retry_failed: bool = False) -> list[TrialRecord]:
    """Run the stage's planned trials (or continue the interrupted stage: finished, stopped
    and failed trials are kept, unfinished ones continue from their last checkpoint, and
    with ``retry_failed`` failed ones too, where the stage ``retries_failed``); returns
    every trial's record. ``callbacks``: more Ray Tune callbacks (loggers...)."""
    experiment = stage.experiment
    storage = stage.layout.tune_storage(experiment.ray.storage_path)
    path = f"{storage}/{stage.name}"
    need = {k: v for k, v in specs[0].resources.items() if v} if specs else {}
    if specs and fitting(cluster.resources, need) < 1:
        have = ", ".join(f"{k} {cluster.resources.get(k, 0.0):g}" for k in need)
        log.warning("one %s trial needs %s and the cluster has %s: trials wait until the "
                    "cluster grows", stage.name, need, have)
    trainable = fresh_trainable(stage.trainable(), stage.trial_resources())
    if tune.Tuner.can_restore(path):
        log.info("continuing the %s in %s", stage.title, path)
        retry = retry_failed and stage.retries_failed
        if retry:
            log.info("running the failed trials of the %s again", stage.title)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                   resume_errored=retry)
    else:
        ours = [StageRecorder(stage),
                StageProgress(stage, len(specs), max((s.steps for s in specs), default=0),
                              every_s=every_s)]
        run_config = tune.RunConfig(
            name=stage.name, storage_path=storage, callbacks=[*ours, *callbacks], verbose=0,
            log_to_file=True, sync_config=tune.SyncConfig(sync_artifacts=True),
            **stage.run_settings())
        tuner = stage.tuner(specs, trainable, run_config, cluster)
    tuner.fit()
    return stage.records()
