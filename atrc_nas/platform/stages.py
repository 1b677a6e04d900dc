"""What the search and training stages share on Ray Tune: where Tune keeps a stage, a
trainable wrapped afresh with its resources, the run settings of a stage, running a new
stage or continuing an interrupted one, and what fits on the cluster."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from atrc_nas.config import ConfigError
from atrc_nas.platform.cluster import Cluster
from atrc_nas.platform.config import ExperimentConfig

log = logging.getLogger(__name__)


def storage_root(experiment: ExperimentConfig) -> str:
    """Where Ray Tune keeps the experiment's trials and checkpoints (absolute or a URI)."""
    custom = experiment.ray.storage_path
    if custom is None:
        return str(experiment.folder / "tune")
    return custom if "://" in custom else str(Path(custom).resolve())


def fresh_trainable(function: Callable[[dict[str, Any]], None],
                    resources: dict[str, float]) -> Any:
    """``function`` as a trainable of ``resources`` (one bundle), wrapped afresh:
    ``tune.with_resources`` marks the function it wraps."""

    @functools.wraps(function)
    def trainable(config: dict[str, Any]) -> None:
        function(config)

    return tune.with_resources(trainable, tune.PlacementGroupFactory([resources]))


def stage_run_config(experiment: ExperimentConfig, stage: str, callbacks: list[Any],
                     **settings: Any) -> tune.RunConfig:
    """The run settings every stage shares: its name under the storage root, our own view
    instead of Tune's output, each trial's stdout/stderr kept with its results."""
    return tune.RunConfig(name=stage, storage_path=storage_root(experiment),
                          callbacks=callbacks, verbose=0, log_to_file=True,
                          sync_config=tune.SyncConfig(sync_artifacts=True), **settings)


def fit_stage(experiment: ExperimentConfig, stage: str, what: str, trainable: Any,
              build: Callable[[Any], tune.Tuner]) -> None:
    """Run the stage: a new Tuner from ``build(trainable)``, or, when the stage was
    interrupted, the saved one restored (finished, stopped and failed trials are kept,
    unfinished ones continue from their last checkpoint)."""
    path = f"{storage_root(experiment)}/{stage}"
    if tune.Tuner.can_restore(path):
        log.info("continuing the %s in %s", what, path)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                   resume_errored=False)
    else:
        tuner = build(trainable)
    tuner.fit()


def fitting(cluster: Cluster, need: dict[str, float]) -> int:
    """How many times ``need`` fits in the cluster's resources at once."""
    counts = [math.floor(cluster.resources.get(kind, 0.0) / amount + 1e-9)
              for kind, amount in need.items() if amount > 0]
    return min(counts) if counts else 1


def refuse_unfitting(cluster: Cluster, message: str, hint: str, waits: str) -> None:
    """Something that can never fit: an error on a local cluster (``message``; ``hint``),
    a warning on a joined one, which an autoscaler may grow (``waits``)."""
    if cluster.local:
        raise ConfigError(f"{message}; {hint}")
    log.warning("%s; %s", message, waits)
