"""The search sweep as plain data: which trials exist and what each one runs.

Every Optuna sample runs once per (seed, budget): the trial key
``s<sample>-seed<seed>-<budget>`` names its search run folder (``search/<key>/``), its
records and its genotype files, so a restarted trial finds its own run and never another.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from atrc_nas.config import parse_config
from atrc_nas.platform.config import (
    ExperimentConfig,
    apply_sample,
    search_config_dict,
    space_schedule,
)
from atrc_nas.search.config import ScheduleConfig, SearchConfig
from atrc_nas.tasks import get_task


@dataclass
class SweepPlan:
    experiment: dict[str, Any]  # the plain ExperimentConfig (picklable, travels to Ray)

    @cached_property
    def config(self) -> ExperimentConfig:
        return ExperimentConfig.model_validate(self.experiment)

    @cached_property
    def space_schedule(self) -> ScheduleConfig:
        return space_schedule(self.config.search.space)

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment": self.experiment}

    @property
    def seeds(self) -> list[int]:
        return list(self.config.search.seeds)

    @property
    def budgets(self) -> list[str]:
        return self.config.search.budget_names()

    @property
    def num_samples(self) -> int:
        return self.config.search.num_samples

    @property
    def total_trials(self) -> int:
        return self.num_samples * len(self.seeds) * len(self.budgets)

    def replicates(self, sample: int) -> list[tuple[int, int, int]]:
        """(sample, seed, budget index) of every trial that runs ``sample``."""
        return [(sample, seed, b) for b in range(len(self.budgets)) for seed in self.seeds]

    def key(self, sample: int, seed: int, budget: int) -> str:
        return f"s{sample:02d}-seed{seed}-{self.budgets[budget]}"

    @property
    def objective(self) -> tuple[str, str]:
        """The reported key the sweep optimises, and its mode (min or max)."""
        name = self.config.search.objective
        if name == "loss":
            return "val/loss", "min"
        task = get_task(name)
        return f"val/{name}/{task.metric}", "max" if task.higher_is_better else "min"

    def search_config(self, sample: int, seed: int, budget: int,
                      params: dict[str, Any]) -> dict[str, Any]:
        """The plain search config of one trial (validated)."""
        key = self.key(sample, seed, budget)
        data = apply_sample(search_config_dict(self.config, seed, budget, key), params,
                            self.space_schedule)
        data["trainer"]["progress_bar"] = False  # trial output goes to log files
        parse_config(SearchConfig, data, source=f"trial {key}")
        return data

    def trial(self, sample: int, seed: int, budget: int, params: dict[str, Any],
              optuna_trial: int | None = None) -> dict[str, Any]:
        """The Tune config of one trial (what ``search_trial`` receives)."""
        key = self.key(sample, seed, budget)
        objective, mode = self.objective
        return {
            "key": key,
            "search": self.search_config(sample, seed, budget, params),
            "objective": {"key": objective, "mode": mode},
            "threads": max(1, int(self.config.search.resources.cpu)),
            "provenance": {"sample": sample, "seed": seed, "budget": self.budgets[budget],
                           "budget_config": self.config.search.budgets[budget].model_dump(
                               mode="json", exclude={"name"}),
                           "params": dict(params), "optuna_trial": optuna_trial},
        }

