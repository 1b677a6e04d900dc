"""The training stage as plain data: every (network, seed) run and its training config.

Networks: each selected genotype (``atrc-<hash>``) and each baseline the experiment asks
for (``single_task-<task>`` per task, ``multi_task``, ``padnet``, ``fixed_*``). The run key
``<network>-seed<seed>`` names its folder (``train/<key>/``), its Ray Train run and its
record, so a restart resumes that run and never another one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atrc_nas.config import parse_config
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.training.config import TrainConfig

GENOTYPE_NETWORK = "atrc"


@dataclass(frozen=True)
class Network:
    """One network of the stage: an ``id``, its model section and (single-task) its task."""

    id: str
    network: str
    genotype_hash: str | None = None
    genotype_file: str | None = None
    task: str | None = None

    @property
    def is_single_task(self) -> bool:
        return self.task is not None


def stage_networks(tasks: Sequence[str], baselines: Sequence[str],
                   genotypes: Sequence[dict[str, Any]]) -> list[Network]:
    """The selected genotypes (``{"genotype_hash", "genotype_file"}``) and the baselines
    (``single_task`` stands for one network per task)."""
    out = [Network(f"atrc-{g['genotype_hash']}", GENOTYPE_NETWORK, g["genotype_hash"],
                   g["genotype_file"]) for g in genotypes]
    for baseline in baselines:
        if baseline == "single_task":
            out += [Network(f"single_task-{t}", "single_task", task=t) for t in tasks]
        else:
            out.append(Network(baseline, baseline))
    return out


def networks(experiment: ExperimentConfig, genotypes: list[dict[str, Any]]) -> list[Network]:
    return stage_networks(experiment.data.spec().tasks, experiment.train.baselines, genotypes)


def train_config(experiment: ExperimentConfig, network: Network, seed: int) -> dict[str, Any]:
    """The plain (validated) training config of one run."""
    stage = experiment.train
    data = experiment.data.model_dump(mode="json")
    if network.task is not None:
        data["tasks"] = [network.task]
    model = {**experiment.model.model_dump(mode="json"), "network": network.network,
             "genotype": network.genotype_file}
    trainer = stage.trainer.model_dump(mode="json")
    trainer["progress_bar"] = False  # worker output goes to log files
    if network.task is not None:
        # a single-task run keeps only its own task's metric options
        for key in ("val_metric_options", "test_metric_options"):
            trainer[key] = {t: v for t, v in trainer[key].items() if t == network.task}
        trainer["single_task_references"] = {}
        if trainer["select_by"] == "delta_m":
            trainer["select_by"] = "primary"
    key = run_key(network, seed)
    config = {"name": key, "seed": seed, "output_dir": str(experiment.folder / "train"),
              "data": data, "model": model, "optim": stage.optim.model_dump(mode="json"),
              "trainer": trainer}
    parse_config(TrainConfig, config, source=f"training run {key}")
    return config


def run_key(network: Network, seed: int) -> str:
    return f"{network.id}-seed{seed}"


def training_runs(experiment: ExperimentConfig, genotypes: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Every run of the stage: ``{"key", "network", "seed", "train"}``, networks first."""
    return [{"key": run_key(net, seed), "network": net.__dict__, "seed": seed,
             "train": train_config(experiment, net, seed)}
            for net in networks(experiment, genotypes) for seed in experiment.train.seeds]
