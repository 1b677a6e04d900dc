"""Schema of an experiment file (``python -m atrc_nas.launch EXPERIMENT.yaml``).

One file describes the whole experiment: the data and backbone (the sections of the train
and search configs), the search stage swept by Ray Tune (seeds x budgets x Optuna
samples, ASHA), the training stage (searched and given genotypes and the baselines on Ray
Train), the leaderboard and the Ray cluster. This module is the schema; every search and
training config the stages compose from it is checked too, before Ray starts
(``atrc_nas.platform.stages.check_experiment``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from atrc_nas.config import RESULT_NEUTRAL, Issue, Section
from atrc_nas.config.schema import (
    Name,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
)
from atrc_nas.search.config import BudgetConfig, SearchOptimConfig, SearchTrainerConfig
from atrc_nas.search.schedules import ScheduleConfig
from atrc_nas.tasks import TASKS
from atrc_nas.training.config import BackboneConfig, DataConfig, OptimConfig, RunTrainerConfig

# Schedule pairs whose start or end can be sampled (``schedule.<pair>_start|_end``).
SCHEDULE_PAIRS = ("temperature", "entropy_weight")


class Distribution(Section):
    """A hyperparameter range Optuna samples from."""

    distribution: Literal["uniform", "loguniform", "int", "choice"]
    """Optuna distribution: uniform (float), loguniform (float, low > 0), int, or choice (one
    of choices)."""
    low: float | None = None
    """Lower bound (uniform, loguniform, int)."""
    high: float | None = None
    """Upper bound (uniform, loguniform, int)."""
    choices: list[Any] | None = None
    """The values of a choice distribution."""

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        if self.distribution == "choice":
            if not self.choices:
                found.append((("choices",), "a 'choice' needs a non-empty list of choices",
                              self.choices))
            return found
        if self.choices is not None:
            found.append((("choices",), f"only 'choice' takes choices, not "
                          f"{self.distribution!r}", self.choices))
        if self.low is None or self.high is None:
            return [*found, (("low",), f"{self.distribution!r} needs low and high", None)]
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            found.append((("high",), f"must be finite and greater than low ({self.low})",
                          self.high))
        if self.distribution == "loguniform" and self.low <= 0:
            found.append((("low",), "a log-uniform range needs low > 0", self.low))
        if self.distribution == "int" and not (self.low.is_integer() and self.high.is_integer()):
            found.append((("low",), "an 'int' range needs whole-number bounds", self.low))
        return found

    def bounds(self) -> list[Any]:
        """Values at the edges of the range (each must give a valid search config)."""
        if self.distribution == "choice":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None
        if self.distribution == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


class AshaConfig(Section):
    """Asynchronous successive halving over validation periods, within each budget."""

    enabled: bool = True
    """False: every trial runs to its last step."""
    grace_period: PositiveInt = 1
    """Validation periods every trial runs before it can be stopped."""
    reduction_factor: Annotated[int, Field(ge=2)] = 2
    """ASHA keeps 1 / reduction_factor of the trials at each rung."""


class TrialResources(Section):
    """What one search trial takes from the cluster."""

    cpu: PositiveFloat = 1.0
    """CPUs one search trial takes."""
    gpu: NonNegativeFloat = 0.0
    """GPUs one search trial takes."""


class NamedBudget(BudgetConfig):
    name: Name | None = None
    """Shown in trial names and tables (default: b0, b1, ...)."""


class SearchStage(Section):
    """The search sweep: every sampled configuration for every seed and every budget."""

    enabled: bool = True
    """False: no search; the training stage trains ``train.genotypes`` and the baselines."""
    space: NonEmptyStr = "atrc"
    """A file in search_spaces/ by name (atrc, atrc_wide), or a path to a YAML file."""
    optim: SearchOptimConfig = Field(default_factory=SearchOptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    trainer: SearchTrainerConfig = Field(default_factory=SearchTrainerConfig)
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(default_factory=lambda: [0])
    """Every sampled configuration runs once per seed (and per budget)."""
    budgets: Annotated[list[NamedBudget], Field(min_length=1)] = Field(
        default_factory=lambda: [NamedBudget()])
    """Resource budgets on the head's expected cost; every configuration runs under each."""
    sample: dict[str, Distribution] = Field(default_factory=dict)
    """Hyperparameters Optuna samples: a float or int key of ``optim`` (e.g.
    ``optim.arch_lr``, ``optim.lr``) or ``budget`` (``budget.weight``...), or
    ``schedule.<temperature|entropy_weight>_<start|end>``."""
    points: list[dict[str, Any]] = Field(default_factory=list)
    """Configurations evaluated first (values for the keys of ``sample``)."""
    num_samples: PositiveInt = 1
    """Sampled configurations; each runs for every seed and every budget."""
    objective: str = "loss"
    """What the sweep optimises: ``loss`` (the derived network's validation loss, lower is
    better) or a task, whose primary validation metric is used in its direction."""
    multi_objective: bool = True
    """Optuna optimises (objective, head GFLOPs) jointly: a Pareto front."""
    sampler_seed: Seed = 0
    """Seeds Optuna's sampler."""
    asha: AshaConfig = Field(default_factory=AshaConfig)
    resources: Annotated[TrialResources, RESULT_NEUTRAL] = Field(default_factory=TrialResources)
    max_concurrent_trials: Annotated[PositiveInt | None, RESULT_NEUTRAL] = None
    """None: as many as the cluster's resources allow."""
    max_failures: NonNegativeInt = 1
    """Retries of a crashed trial, from its last checkpoint."""

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        if len(set(self.seeds)) != len(self.seeds):
            found.append((("seeds",), "a seed is listed twice", self.seeds))
        names = self.budget_names()
        if len(set(names)) != len(names):
            found.append((("budgets",), "budget names must differ", names))
        if self.objective != "loss" and self.objective not in TASKS:
            found.append((("objective",), f"must be 'loss' or a task ({', '.join(TASKS)})",
                          self.objective))
        for key in self.sample:
            if not sampleable(key):
                found.append((("sample", key), "not a sampleable key: a float or int of optim "
                              "or budget (optim.lr, optim.arch_lr, budget.weight, ...) or "
                              "schedule.<temperature|entropy_weight>_<start|end>", key))
        for i, point in enumerate(self.points):
            stray = sorted(set(point) - set(self.sample))
            if stray:
                found.append((("points", i), f"keys {stray} are not sampled (search.sample "
                              f"has {sorted(self.sample)})", point))
        return found

    def budget_names(self) -> list[str]:
        return [b.name or f"b{i}" for i, b in enumerate(self.budgets)]

    @property
    def periods(self) -> int:
        """Validation periods of one search run (the unit of ASHA's time)."""
        return self.optim.max_steps // self.trainer.val_every_n_steps


class WorkerResources(Section):
    """What one training run takes: its Ray Train workers."""

    workers: PositiveInt = 2
    """Ray Train workers (DDP ranks) of one training run."""
    cpus_per_worker: PositiveFloat = 1.0
    """CPUs each Ray Train worker takes."""
    gpus_per_worker: NonNegativeFloat = 0.0
    """GPUs each Ray Train worker takes (1 on a GPU cluster)."""


class SelectionConfig(Section):
    """Which searched genotypes are trained."""

    best_per_budget: bool = True
    """The best genotype of each budget by the search objective (mean over seeds)."""
    pareto: bool = False
    """Also every genotype on the Pareto front of objective vs head GFLOPs."""
    top_k: NonNegativeInt = 0
    """Also the k best genotypes overall."""


class RandomGenotypes(Section):
    """The random-genotype baseline (``train.baselines: [random]``)."""

    count: PositiveInt = 3
    """Genotypes per budget, drawn uniformly from the search space under that budget's cost
    (``search.space``, ``search.budgets``; rejection sampling with the cost model)."""
    seed: Seed = 0
    """Seeds the draws: the same seed draws the same genotypes."""


class TrainStage(Section):
    """Training of the selected and given genotypes and the baselines on Ray Train."""

    enabled: bool = True
    """False: the experiment ends after the search."""
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(default_factory=lambda: [0])
    """Every network is trained once per seed (the seed fixes initialisation and data
    order, so networks compare seed by seed)."""
    select: SelectionConfig = Field(default_factory=SelectionConfig)
    genotypes: list[NonEmptyStr] = Field(default_factory=list)
    """Genotypes trained besides the searched ones: JSON files or ``published:<name>``."""
    baselines: list[Literal["single_task", "multi_task", "padnet", "fixed_global",
                            "fixed_local", "fixed_tlabel", "fixed_slabel", "random"]] = Field(
        default_factory=lambda: ["single_task", "multi_task"])
    """single_task trains one network per task (the Delta_m references); random trains
    ``random.count`` random genotypes per budget (the sanity check of a search)."""
    random: RandomGenotypes = Field(default_factory=RandomGenotypes)
    references: dict[str, float] = Field(default_factory=dict)
    """task -> primary test metric of a single-task network, used for Delta_m when the
    experiment trains no single-task baselines."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: RunTrainerConfig = Field(default_factory=RunTrainerConfig)
    """The training loop of every run; devices and strategy are the platform's
    (``resources``: Ray Train's workers, DDP)."""
    resources: Annotated[WorkerResources, RESULT_NEUTRAL] = Field(
        default_factory=WorkerResources)
    max_failures: NonNegativeInt = 1
    """Restarts of a training run's worker group after a worker dies."""

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        if len(set(self.seeds)) != len(self.seeds):
            found.append((("seeds",), "a seed is listed twice", self.seeds))
        if len(set(self.genotypes)) != len(self.genotypes):
            found.append((("genotypes",), "a genotype is listed twice", self.genotypes))
        if len(set(self.baselines)) != len(self.baselines):
            found.append((("baselines",), "a baseline is listed twice", self.baselines))
        return found


class LeaderboardStage(Section):
    """The leaderboard the launcher writes at the end of every run."""

    formats: list[Literal["csv", "md", "json", "html"]] = Field(
        default_factory=lambda: ["csv", "md", "json", "html"])
    """The leaderboard files the launcher writes (the Markdown one is also printed)."""


def _address(value: Any) -> Any:
    """``local``, ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (a port in 1..65535)."""
    if value is None or value in ("local", "auto") or not isinstance(value, str):
        return value
    match = re.fullmatch(r"(?:ray://)?([A-Za-z0-9._\-\[\]:]+):(\d+)", value)
    if not match or not 1 <= int(match[2]) <= 65535:
        raise PydanticCustomError("address", "must be 'local', 'auto', HOST:PORT or "
                                  "ray://HOST:PORT with a port in 1..65535")
    return value


class RayConfig(Section):
    """The Ray cluster: a fresh local one (127.0.0.1 only) or one to join."""

    address: Annotated[str, AfterValidator(_address)] | None = None
    """None: $RAY_ADDRESS if set, else a fresh local cluster on 127.0.0.1; ``local``: always
    a fresh local cluster; otherwise the address of a running cluster to join."""
    dashboard: bool = True
    """Start the Ray dashboard (local cluster; 127.0.0.1, token auth)."""
    dashboard_port: Annotated[int, Field(ge=1024, le=65535)] | None = None
    """The dashboard's port (default: a free one)."""
    storage_path: str | None = None
    """Where Ray Tune keeps trial results and checkpoints (default:
    ``<experiment folder>/tune``); a shared folder or ``s3://...`` on a multi-node cluster."""
    num_cpus: PositiveInt | None = None
    """Local cluster only: logical CPUs (default: the machine's)."""
    num_gpus: NonNegativeInt | None = None
    """Local cluster only: GPUs (default: the machine's)."""


class ExperimentConfig(Section):
    name: Name
    """The experiment's name: its folder under output_dir and its Ray job."""
    output_dir: Annotated[NonEmptyStr, RESULT_NEUTRAL] = "runs"
    """The experiment folder is ``<output_dir>/<name>/``."""
    data: DataConfig = Field(default_factory=DataConfig)
    model: BackboneConfig = Field(default_factory=BackboneConfig)
    search: SearchStage = Field(default_factory=SearchStage)
    train: TrainStage = Field(default_factory=TrainStage)
    leaderboard: Annotated[LeaderboardStage, RESULT_NEUTRAL] = Field(
        default_factory=LeaderboardStage)
    ray: Annotated[RayConfig, RESULT_NEUTRAL] = Field(default_factory=RayConfig)

    @property
    def folder(self) -> Path:
        return Path(self.output_dir).resolve() / self.name

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        tasks = self.data.spec().tasks
        objective = self.search.objective
        if self.search.enabled and objective != "loss" and objective not in tasks:
            found.append((("search", "objective"), f"task {objective!r} is not one of the "
                          f"experiment's tasks ({', '.join(tasks)})", objective))
        folder = Path(self.output_dir)
        if folder.exists() and not folder.is_dir():
            found.append((("output_dir",), "is a file, not a folder", self.output_dir))
        if not (self.search.enabled or self.train.enabled):
            found.append((("train", "enabled"), "every stage is off (search.enabled and "
                          "train.enabled are false): nothing to run", False))
        elif self.train.enabled and not self.search.enabled and not (
                self.train.genotypes or self.train.baselines):
            found.append((("train", "genotypes"), "without a search the training stage "
                          "needs train.genotypes or train.baselines", []))
        return found


def sampleable(key: str) -> bool:
    """Whether ``key`` can be in ``search.sample``."""
    section, _, field = key.partition(".")
    if section == "schedule":
        pair, _, end = field.rpartition("_")
        return pair in SCHEDULE_PAIRS and end in ("start", "end")
    model = {"optim": SearchOptimConfig, "budget": BudgetConfig}.get(section)
    if model is None or field not in model.model_fields:
        return False
    annotation = str(model.model_fields[field].annotation)
    return ("float" in annotation or "int" in annotation) and "tuple" not in annotation
