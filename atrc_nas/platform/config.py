"""Schema of an experiment file (``python -m atrc_nas.launch EXPERIMENT.yaml``).

One file describes the whole experiment: the data and backbone (the sections of the train
and search configs), the search stage swept by Ray Tune (seeds x budgets x Optuna
samples, ASHA), the training stage (searched genotypes and baselines on Ray Train), the
leaderboard and the Ray cluster. Every composed search and training config is validated
when the file loads, before Ray starts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from atrc_nas.config import RESULT_NEUTRAL, ConfigError, Issue, Section, parse_config
from atrc_nas.config.schema import (
    Name,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
)
from atrc_nas.search.config import (
    BudgetConfig,
    ScheduleConfig,
    SearchConfig,
    SearchOptimConfig,
    SearchTrainerConfig,
)
from atrc_nas.tasks import TASKS
from atrc_nas.training.config import (
    BackboneConfig,
    DataConfig,
    OptimConfig,
    TrainerConfig,
)

# Schedule pairs whose start or end can be sampled (``schedule.<pair>_start|_end``).
SCHEDULE_PAIRS = ("temperature", "entropy_weight")


class Distribution(Section):
    """A hyperparameter range Optuna samples from."""

    distribution: Literal["uniform", "loguniform", "int", "choice"]
    low: float | None = None
    high: float | None = None
    choices: list[Any] | None = None

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
    grace_period: PositiveInt = 1
    """Validation periods every trial runs before it can be stopped."""
    reduction_factor: Annotated[int, Field(ge=2)] = 2


class TrialResources(Section):
    cpu: PositiveFloat = 1.0
    gpu: NonNegativeFloat = 0.0


class NamedBudget(BudgetConfig):
    name: Name | None = None
    """Shown in trial names and tables (default: b0, b1, ...)."""


class SearchStage(Section):
    """The search sweep: every sampled configuration for every seed and every budget."""

    space: NonEmptyStr = "atrc"
    optim: SearchOptimConfig = Field(default_factory=SearchOptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    trainer: SearchTrainerConfig = Field(default_factory=SearchTrainerConfig)
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(default_factory=lambda: [0])
    budgets: Annotated[list[NamedBudget], Field(min_length=1)] = Field(
        default_factory=lambda: [NamedBudget()])
    sample: dict[str, Distribution] = Field(default_factory=dict)
    """Hyperparameters Optuna samples: a float or int key of the search config (e.g.
    ``optim.arch_lr``) or ``schedule.<temperature|entropy_weight>_<start|end>``."""
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
            found.append((("budgets",), f"budget names must differ, got {names}", names))
        if self.objective != "loss" and self.objective not in TASKS:
            found.append((("objective",), f"must be 'loss' or a task ({', '.join(TASKS)})",
                          self.objective))
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
    workers: PositiveInt = 2
    """Ray Train workers (DDP ranks) of one training run."""
    cpus_per_worker: PositiveFloat = 1.0
    gpus_per_worker: NonNegativeFloat = 0.0


class SelectionConfig(Section):
    """Which searched genotypes are trained."""

    best_per_budget: bool = True
    """The best genotype of each budget by the search objective (mean over seeds)."""
    pareto: bool = False
    """Also every genotype on the Pareto front of objective vs head GFLOPs."""
    top_k: NonNegativeInt = 0
    """Also the k best genotypes overall."""


class TrainStage(Section):
    """Training of the selected genotypes and the baselines on Ray Train."""

    enabled: bool = True
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(default_factory=lambda: [0])
    select: SelectionConfig = Field(default_factory=SelectionConfig)
    baselines: list[Literal["single_task", "multi_task", "padnet", "fixed_global",
                            "fixed_local", "fixed_tlabel", "fixed_slabel"]] = Field(
        default_factory=lambda: ["single_task", "multi_task"])
    """single_task trains one network per task (the Delta_m references)."""
    references: dict[str, float] = Field(default_factory=dict)
    """task -> primary test metric of a single-task network, used for Delta_m when the
    experiment trains no single-task baselines."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    resources: Annotated[WorkerResources, RESULT_NEUTRAL] = Field(
        default_factory=WorkerResources)
    max_failures: NonNegativeInt = 1
    """Restarts of a training run's worker group after a worker dies."""


class LeaderboardStage(Section):
    formats: list[Literal["csv", "md", "json", "html"]] = Field(
        default_factory=lambda: ["csv", "md", "json", "html"])


class RayConfig(Section):
    address: str | None = None
    """None: $RAY_ADDRESS if set, else a fresh local cluster on 127.0.0.1; ``local``: always
    a fresh local cluster; otherwise the address of a running cluster to join."""
    dashboard: bool = True
    dashboard_port: Annotated[int, Field(ge=1024, le=65535)] | None = None
    storage_path: str | None = None
    """Where Ray Tune keeps trial results and checkpoints (default:
    ``<experiment folder>/tune``); a shared folder or ``s3://...`` on a multi-node cluster."""
    num_cpus: PositiveInt | None = None
    """Local cluster only: logical CPUs (default: the machine's)."""
    num_gpus: NonNegativeInt | None = None


class ExperimentConfig(Section):
    name: Name
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
        """Every search config the sweep composes must be valid: each budget with the
        defaults, with each end of each sampled range, and with each fixed point."""
        search = self.search
        tasks = self.data.spec().tasks
        if search.objective != "loss" and search.objective not in tasks:
            return [(("search", "objective"), f"task {search.objective!r} is not one of the "
                     f"experiment's tasks ({', '.join(tasks)})", search.objective)]
        try:
            schedule = space_schedule(search.space)
        except ConfigError as err:
            return [(("search", "space"), str(err), search.space)]
        found: list[Issue] = []
        trials: list[tuple[tuple[Any, ...], dict[str, Any]]] = [(("search",), {})]
        for key, dist in search.sample.items():
            if not _sampleable(key):
                found.append((("search", "sample", key), "not a sampleable key: a float or int "
                              "of the search config (optim.lr, optim.arch_lr, budget.weight, "
                              "...) or schedule.<temperature|entropy_weight>_<start|end>", key))
                continue
            trials += [(("search", "sample", key), {key: v}) for v in dist.bounds()]
        trials += [(("search", "points", i), point) for i, point in enumerate(search.points)]
        for budget in range(len(search.budgets)):
            base = search_config_dict(self, search.seeds[0], budget, "check")
            for loc, params in trials:
                try:
                    parse_config(SearchConfig, apply_sample(base, params, schedule),
                                 source="the composed search config")
                except ConfigError as err:
                    what = f" with {params}" if params else ""
                    found.append((loc, f"gives an invalid search config{what}: {err}", None))
            if found:
                break
        return found + self._train_issues()

    def _train_issues(self) -> list[Issue]:
        """The training stage's runs must compose valid training configs."""
        from atrc_nas.platform.train_plan import Network, train_config

        stage = self.train
        if not stage.enabled:
            return []
        found: list[Issue] = []
        workers = stage.resources.workers
        if self.data.batch_size % workers:
            found.append((("data", "batch_size"), f"the global batch must split evenly over "
                          f"train.resources.workers ({workers})", self.data.batch_size))
        tasks = self.data.spec().tasks
        stray = sorted(set(stage.references) - set(tasks))
        if stray:
            found.append((("train", "references"), f"task(s) {stray} are not in this "
                          f"experiment (tasks: {', '.join(tasks)})", stray))
        probes = [Network("multi_task", "multi_task"),
                  Network(f"single_task-{tasks[0]}", "single_task", task=tasks[0]),
                  *(Network(b, b) for b in stage.baselines if b != "single_task")]
        for network in probes:
            try:
                train_config(self, network, stage.seeds[0])
            except ConfigError as err:
                found.append((("train",), f"composes an invalid training config for "
                              f"{network.id}: {err}", None))
                break
        return found


def search_config_dict(experiment: ExperimentConfig, seed: int, budget: int,
                       name: str) -> dict[str, Any]:
    """The plain search config of one trial before the sampled values are set (see
    :func:`apply_sample`)."""
    search = experiment.search
    budget_cfg = search.budgets[budget].model_dump(mode="json", exclude={"name"})
    return {
        "name": name, "seed": seed, "output_dir": str(experiment.folder / "search"),
        "space": search.space,
        "data": experiment.data.model_dump(mode="json"),
        "model": experiment.model.model_dump(mode="json"),
        "optim": search.optim.model_dump(mode="json"),
        "schedule": search.schedule.model_dump(mode="json"),
        "budget": budget_cfg,
        "trainer": search.trainer.model_dump(mode="json"),
    }


def space_schedule(space: str) -> ScheduleConfig:
    from atrc_nas.search.space_io import load_space

    return load_space(space).schedule


def _sampleable(key: str) -> bool:
    section, _, field = key.partition(".")
    if section == "schedule":
        pair, _, end = field.rpartition("_")
        return pair in SCHEDULE_PAIRS and end in ("start", "end")
    model = {"optim": SearchOptimConfig, "budget": BudgetConfig}.get(section)
    if model is None or field not in model.model_fields:
        return False
    annotation = str(model.model_fields[field].annotation)
    return ("float" in annotation or "int" in annotation) and "tuple" not in annotation


def apply_sample(data: dict[str, Any], params: dict[str, Any],
                 space_schedule: ScheduleConfig) -> dict[str, Any]:
    """``data`` (a plain search config) with the sampled ``params`` set; a schedule pair end
    keeps the other end from the config, else the space file, else the reference."""
    from atrc_nas.search.schedules import Schedule

    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    resolved = Schedule.resolve(1, space_schedule, ScheduleConfig.model_validate(
        data.get("schedule") or {})).as_dict()
    for key, value in params.items():
        section, _, field = key.partition(".")
        if section == "schedule":
            pair, _, end = field.rpartition("_")
            current = list(out["schedule"].get(pair) or resolved[pair])
            current[0 if end == "start" else 1] = value
            out["schedule"][pair] = current
        else:
            out[section][field] = value
    return out
