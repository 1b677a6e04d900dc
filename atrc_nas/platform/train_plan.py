"""The networks of the training stage and the keys of their runs, as plain data (no Ray, no
torch: the leaderboard finds an experiment's runs with them).

Networks: each genotype to train (``atrc-<hash>``: searched and selected, given in
``train.genotypes``, or drawn at random for the ``random`` baseline) and each other baseline
the experiment asks for (``single_task-<task>`` per task, ``multi_task``, ``padnet``,
``fixed_*``). The run key ``<network>-seed<seed>`` names
its folder (``train/<key>/``), its Ray Train run and its record, so a restart resumes that
run and never another one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

GENOTYPE_NETWORK = "atrc"
RANDOM = "random"  # the baseline of random genotypes (each one trained as atrc-<hash>)


@dataclass(frozen=True)
class Network:
    """One network of the stage: an ``id``, its model section and (single-task) its task."""

    id: str
    network: str
    genotype_hash: str | None = None
    genotype_file: str | None = None  # a JSON file or published:<name>
    task: str | None = None

    @property
    def is_single_task(self) -> bool:
        return self.task is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_networks(tasks: Sequence[str], baselines: Sequence[str],
                   genotypes: Sequence[dict[str, Any]]) -> list[Network]:
    """The genotypes (``{"genotype_hash", "genotype_file"}``, each once) and the baselines
    (``single_task`` stands for one network per task)."""
    out: dict[str, Network] = {}
    for g in genotypes:
        net = Network(f"atrc-{g['genotype_hash']}", GENOTYPE_NETWORK, g["genotype_hash"],
                      g["genotype_file"])
        out.setdefault(net.id, net)
    for baseline in baselines:
        if baseline == "single_task":
            out.update((f"single_task-{t}", Network(f"single_task-{t}", "single_task", task=t))
                       for t in tasks)
        elif baseline != RANDOM:  # random genotypes come with the genotypes
            out[baseline] = Network(baseline, baseline)
    return list(out.values())


def run_key(network: Network, seed: int) -> str:
    return f"{network.id}-seed{seed}"
