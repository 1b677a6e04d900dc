"""Schema of a single-run training config (``python -m atrc_nas.train CONFIG``).

The data, backbone and runner sections are shared with the search and experiment
schemas. Every value is checked when the config loads: ranges, names against the
registries (datasets, tasks, backbones, networks, strategies), each dataset's and each
metric's options against the schemas read off their constructors, and the cross-field
rules (tasks of the dataset, a genotype over the run's tasks, a run length of whole
validation periods).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from atrc_nas.config import RESULT_NEUTRAL, Issue, Section
from atrc_nas.config.schema import (
    BatchLimit,
    Fraction,
    Momentum,
    Name,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    Size,
    one_of,
)
from atrc_nas.data.registry import DATASETS, get_dataset_spec
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.backbones.registry import list_backbones
from atrc_nas.models.registry import NETWORKS, check_network_options
from atrc_nas.tasks import TASKS

DatasetName = one_of("dataset", lambda: DATASETS)
TaskName = one_of("task", lambda: TASKS)
BackboneName = one_of("backbone", list_backbones)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any) -> Any:
    """``${NAME}`` in a path is the environment variable NAME; an unset one is left in place
    for :func:`unset_variables` to report with what the path should hold."""
    if not isinstance(value, str):
        return value
    return _ENV_REF.sub(lambda m: os.environ.get(m[1], m[0]), value)


def unset_variables(path: str) -> list[str]:
    """The environment variables a path names that are not set."""
    return _ENV_REF.findall(path)


PathText = Annotated[str, BeforeValidator(_expand_env), Field(min_length=1)]


def section_issues(model: type[Section], values: Mapping[str, Any] | None,
                   loc: tuple[Any, ...]) -> list[Issue]:
    """Errors of validating ``values`` against ``model``, located under ``loc``."""
    try:
        model.model_validate(dict(values or {}))
    except ValidationError as err:
        return [((*loc, *e["loc"]), _short(e), e.get("input")) for e in err.errors()]
    return []


def _short(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown option"
    return str(error["msg"]).replace("Input should be", "must be").replace("Value error, ", "")


class DataConfig(Section):
    """Which data, how it is batched and split."""

    dataset: DatasetName = "synthetic_nyud"
    """A registered dataset: synthetic_nyud, synthetic_pascal, nyud, pascal."""
    root: PathText | None = None
    """Folder holding the dataset (real datasets; ``${VAR}`` reads an environment
    variable). For the synthetic ones: the cache folder (default ``$ATRC_NAS_CACHE``)."""
    tasks: Annotated[list[TaskName], Field(min_length=1)] | None = None
    """A subset of the dataset's tasks, in this order (default: all of them)."""
    batch_size: PositiveInt = 8
    """The global training batch (split over the data-parallel workers)."""
    eval_batch_size: PositiveInt | None = None
    """Batch of validation and test (default: batch_size)."""
    num_workers: Annotated[NonNegativeInt, RESULT_NEUTRAL] = 0
    """DataLoader worker processes per training process."""
    val_fraction: Fraction = 0.1
    """Fraction of the train split carved out for validation (selection decisions). 0: none
    (the whole train split is trained on, as the reference recipes do; no validation runs,
    so a training run needs ``trainer.select_by: last`` and a search cannot run)."""
    crop_size: Size | None = None
    """(H, W) of training crops and padded evaluation inputs (default: the dataset's)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Options of the dataset class (synthetic: num_images, image_size, seed,
    local_structure, num_workers); checked against its constructor."""

    def issues(self) -> list[Issue]:
        entry = DATASETS[self.dataset]
        found: list[Issue] = []
        full = get_dataset_spec(self.dataset).tasks
        if self.tasks is not None:
            for i, task in enumerate(self.tasks):
                if task not in full:
                    found.append((("tasks", i), f"dataset {self.dataset!r} has no task "
                                  f"{task!r}; its tasks: {', '.join(full)}", task))
                elif task in self.tasks[:i]:
                    found.append((("tasks", i), "listed twice", task))
        missing = unset_variables(self.root) if self.root else []
        if missing:
            found.append((("root",), f"environment variable {missing[0]} is not set: export "
                          f"{missing[0]}=DIR or override data.root=DIR. {entry.how_to_get}",
                          self.root))
        elif entry.in_folder:
            if self.root is None:
                found.append((("root",), f"dataset {self.dataset!r} needs data.root (or an "
                              f"override data.root=DIR): {entry.how_to_get}", None))
            elif not Path(self.root).is_dir():
                found.append((("root",), f"no such folder; {entry.how_to_get}", self.root))
        found += section_issues(entry.options_model, self.options, ("options",))
        return found

    def spec(self) -> DatasetSpec:
        """The dataset spec restricted to the configured tasks."""
        spec = get_dataset_spec(self.dataset)
        return spec if self.tasks is None else spec.with_tasks(tuple(self.tasks))


class BackboneConfig(Section):
    """The backbone and its pretrained weights."""

    backbone: BackboneName = "hrnet18s"
    """A registered backbone: hrnet18s, hrnet48, hrnet_tiny (tests, CPU)."""
    pretrained: PathText | None = None
    """A local ImageNet checkpoint of the backbone (OpenMMLab or timm layout)."""

    def issues(self) -> list[Issue]:
        if self.pretrained is None or Path(self.pretrained).is_file():
            return []
        missing = unset_variables(self.pretrained)
        what = (f"environment variable {missing[0]} is not set (export it, or override "
                "model.pretrained=FILE)" if missing else "no such file")
        return [(("pretrained",), f"{what}; nothing is downloaded at run time: put the ImageNet "
                 "checkpoint on disk, see README 'Pretrained backbones'", self.pretrained)]


class ModelConfig(BackboneConfig):
    network: one_of("network", lambda: NETWORKS) = "multi_task"  # type: ignore[valid-type]
    genotype: str | None = None
    """A genotype JSON file or ``published:<name>`` (network ``atrc`` only)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The network's options, e.g. ``task`` of single_task, ``kernel_size`` of fixed_local."""

    def issues(self) -> list[Issue]:
        found = super().issues()
        uses = NETWORKS[self.network].uses_genotype
        if uses and self.genotype is None:
            found.append((("genotype",), f"network {self.network!r} needs a genotype (a JSON "
                          "file or published:nyud_hrnet18s)", None))
        if not uses and self.genotype is not None:
            found.append((("genotype",), f"network {self.network!r} takes no genotype (only "
                          "'atrc' does); set model.genotype=null", self.genotype))
        return found

    def run_issues(self, spec: DatasetSpec) -> list[Issue]:
        """Checks against the run's tasks (located from the config root)."""
        from atrc_nas.models.genotype import resolve_genotype

        found: list[Issue] = []
        try:
            check_network_options(self.network, spec, self.options)
        except (ValueError, KeyError) as err:
            found.append((("model", "options"), str(err).strip("'\""), self.options))
        if self.genotype is not None and NETWORKS[self.network].uses_genotype:
            try:
                resolve_genotype(self.genotype, spec.tasks)
            except (ValueError, KeyError, OSError) as err:
                found.append((("model", "genotype"), str(err).strip("'\""), self.genotype))
        return found


class OptimConfig(Section):
    """SGD with momentum and a poly learning-rate decay (the reference optimiser)."""

    lr: PositiveFloat | None = None
    """Learning rate of the weights (SGD); None: the dataset's reference rate."""
    momentum: Momentum = 0.9
    """SGD momentum."""
    weight_decay: NonNegativeFloat = 5e-4
    """SGD weight decay."""
    poly_power: NonNegativeFloat = 0.9
    """The learning rate decays as (1 - step / max_steps) ** poly_power, per step."""
    max_steps: PositiveInt = 40000
    """Training steps (optimizer updates); a whole number of validation periods."""
    grad_clip: PositiveFloat | None = None
    """Global gradient-norm clip; None: off."""


def _devices(value: Any) -> Any:
    ok = (value == "auto" or value == -1
          or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
          or (isinstance(value, list) and value
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                      for v in value)))
    if not ok:
        raise ValueError("must be a device count >= 1, -1 (all), 'auto' or a list of device "
                         "indices such as [0, 1]")
    return value


Devices = Annotated[int | str | list[int], BeforeValidator(_devices)]


def _strategies() -> list[str]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ["auto", *StrategyRegistry.available_strategies()]


def _strategy(value: Any) -> Any:
    """A Lightning strategy name; ``auto`` is checked without importing Lightning."""
    if value == "auto" or not isinstance(value, str):
        return value
    known = _strategies()
    if value not in known:
        raise PydanticCustomError("unknown_name", "unknown strategy; valid: {known}",
                                  {"known": ", ".join(known)})
    return value


Strategy = Annotated[str, AfterValidator(_strategy), Field(
    json_schema_extra=lambda js: js.update(enum=_strategies()))]


class RunnerConfig(Section):
    """What both training and search runs share about the Lightning loop."""

    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    """Lightning's accelerator."""
    val_every_n_steps: PositiveInt = 1000
    """Validation (and checkpoint) period in steps; one Lightning epoch each."""
    log_every_n_steps: Annotated[PositiveInt, RESULT_NEUTRAL] = 50
    """Steps between logged training losses."""
    limit_val_batches: BatchLimit = 1.0
    """Validation batches per period: a count, or a fraction of the split."""
    progress_bar: Annotated[bool, RESULT_NEUTRAL] = True
    """Lightning's progress bar."""


MetricOptions = dict[str, dict[str, Any]]


class RunTrainerConfig(RunnerConfig):
    """The training loop of one run, wherever it runs (alone, or as a platform trial whose
    devices and strategy the platform sets)."""

    precision: Literal["32-true", "bf16-mixed", "16-mixed", "64-true"] = "32-true"
    """Lightning's precision (16-mixed needs a GPU)."""
    channels_last: bool = False
    """Run the network in channels-last memory format (GPUs)."""
    save_edge_predictions: Annotated[bool, RESULT_NEUTRAL] = True
    """Write the test split's edge maps as PNGs (for an external BSDS evaluation)."""
    select_by: Literal["loss", "primary", "delta_m", "last"] = "loss"
    """What picks the checkpoint that is tested: the validation loss, the primary metric of
    a single-task run, Delta_m against ``single_task_references``, or the last one (the
    reference protocol; the only choice without a validation split)."""
    single_task_references: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict)
    """task -> primary validation metric of its single-task run (for select_by delta_m)."""
    val_metric_options: MetricOptions = Field(default_factory=dict)
    """task -> options of its metric in validation, e.g. {edge: {num_thresholds: 19}}."""
    test_metric_options: MetricOptions = Field(default_factory=dict)
    """task -> options of its metric on the test split (empty: the reference protocol)."""

    def issues(self) -> list[Issue]:
        if self.accelerator == "cpu" and self.precision == "16-mixed":
            return [(("precision",), "16-mixed (float16 autocast) needs a GPU; on CPU use "
                     "bf16-mixed or 32-true", self.precision)]
        return []


class TrainerConfig(RunTrainerConfig):
    devices: Devices = 1
    strategy: Strategy = "auto"


def metric_option_issues(spec: DatasetSpec, options: MetricOptions,
                         loc: tuple[Any, ...]) -> list[Issue]:
    """Each task named must be evaluated, its options valid for its metric, and what they
    choose available in the dataset (e.g. the boundary ground truth)."""
    found: list[Issue] = []
    for task, values in options.items():
        from atrc_nas.metrics.evaluator import MultiTaskEvaluator
        from atrc_nas.metrics.registry import metric_entry

        if task not in spec.tasks:
            found.append(((*loc, task), f"task {task!r} is not evaluated in this run (tasks: "
                          f"{', '.join(spec.tasks)})", task))
            continue
        schema_issues = section_issues(metric_entry(spec, task).options_model, values,
                                       (*loc, task))
        found += schema_issues
        if not schema_issues:
            try:
                MultiTaskEvaluator(spec, tasks=[task], metric_options={task: values})
            except (KeyError, ValueError) as err:
                found.append(((*loc, task), str(err).strip("'\""), values))
    return found


def whole_period_issues(max_steps: int, val_every_n_steps: int) -> list[Issue]:
    """Runs are cut into validation periods (one Lightning epoch each, see
    ``atrc_nas.data.samplers.StepSampler``): the run length must be a whole number of them."""
    if max_steps % val_every_n_steps:
        return [(("optim", "max_steps"), f"must be a multiple of trainer.val_every_n_steps "
                 f"({val_every_n_steps}): validation, checkpoints (and a search's genotype) "
                 "come every val_every_n_steps", max_steps)]
    return []


class RunIdentity(Section):
    """Where a run writes (``<output_dir>/<name>/``) and its seed."""

    name: Name = "run"
    """The run folder's name under output_dir."""
    seed: Seed = 0
    output_dir: Annotated[NonEmptyStr, RESULT_NEUTRAL] = "runs"

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def issues(self) -> list[Issue]:
        folder = Path(self.output_dir)
        if folder.exists() and not folder.is_dir():
            return [(("output_dir",), "is a file, not a folder", self.output_dir)]
        return []


class TrainConfig(RunIdentity):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    def issues(self) -> list[Issue]:
        found = super().issues()
        found += whole_period_issues(self.optim.max_steps, self.trainer.val_every_n_steps)
        spec = self.data.spec()
        found += self.model.run_issues(spec)
        t = self.trainer
        stray = [task for task in t.single_task_references if task not in spec.tasks]
        if stray:
            found.append((("trainer", "single_task_references"), f"task(s) {stray} are not "
                          f"in this run (tasks: {', '.join(spec.tasks)})", stray))
        if self.data.val_fraction == 0 and t.select_by != "last":
            found.append((("trainer", "select_by"), "data.val_fraction 0 leaves no validation "
                          "split to select by: use 'last'", t.select_by))
        if t.select_by == "primary" and len(spec.tasks) != 1:
            found.append((("trainer", "select_by"), f"'primary' needs a single-task run, this "
                          f"one has tasks {list(spec.tasks)}; use 'delta_m' with "
                          "trainer.single_task_references", t.select_by))
        if t.select_by == "delta_m":
            missing = [task for task in spec.tasks if task not in t.single_task_references]
            if missing:
                found.append((("trainer", "single_task_references"), f"select_by 'delta_m' "
                              f"needs a reference for every task; missing {missing} (task -> "
                              "primary validation metric of its single-task run)", None))
        if not found:  # the metric classes import torch: checked once the rest is right
            for key in ("val_metric_options", "test_metric_options"):
                found += metric_option_issues(spec, getattr(t, key), ("trainer", key))
        return found

