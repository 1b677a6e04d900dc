"""The search stage: every search trial of the experiment as one Ray Tune sweep.

Every configuration Optuna samples runs once per (seed, budget): ``num_samples`` x seeds x
budgets trials keyed ``s<sample>-seed<seed>-<budget>``, each a differentiable ATRC search
(``run_search``) with the experiment's data, backbone, optimiser, schedule and trainer
settings, the trial's seed and budget and the sampled values set. The plan holds each
trial's config before sampling; the searcher composes (and validates) the sampled one
when it suggests the trial. A new sweep uses ``ReplicatedOptunaSearch`` and one ASHA per
budget (``searcher.py``); an interrupted one is continued (``runner.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from atrc_nas.config import ConfigError, Issue, parse_config
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.records import FAILED, FINISHED, STOPPED, TrialRecord
from atrc_nas.platform.stage import Stage, TrialSpec
from atrc_nas.search.config import SearchConfig
from atrc_nas.search.schedules import Schedule, ScheduleConfig
from atrc_nas.tasks import get_task


class SearchStage(Stage):
    name = "search"
    title = "search stage"
    outputs = ("genotype",)

    @property
    def enabled(self) -> bool:
        return self.experiment.search.enabled

    # -- the sweep's shape ---------------------------------------------------------------

    @property
    def budgets(self) -> list[str]:
        return self.experiment.search.budget_names()

    @property
    def objective(self) -> tuple[str, str]:
        """The reported key the sweep optimises, and its mode (min or max)."""
        name = self.experiment.search.objective
        if name == "loss":
            return "val/loss", "min"
        task = get_task(name)
        return f"val/{name}/{task.metric}", "max" if task.higher_is_better else "min"

    def key(self, sample: int, seed: int, budget: int) -> str:
        return f"s{sample:02d}-seed{seed}-{self.budgets[budget]}"

    def replicates(self, sample: int) -> list[tuple[int, int, int]]:
        """(sample, seed, budget index) of every trial that runs ``sample``."""
        search = self.experiment.search
        return [(sample, seed, b) for b in range(len(search.budgets)) for seed in search.seeds]

    @cached_property
    def _space_schedule(self) -> ScheduleConfig:
        from atrc_nas.search.space_io import load_space

        return load_space(self.experiment.search.space).schedule

    # -- composing a trial's config ------------------------------------------------------

    def _base(self, seed: int, budget: int, name: str) -> dict[str, Any]:
        experiment, search = self.experiment, self.experiment.search
        return {
            "name": name, "seed": seed,
            "output_dir": str(self.layout.stage_dir(self.name)), "space": search.space,
            "data": experiment.data.model_dump(mode="json"),
            "model": experiment.model.model_dump(mode="json"),
            "optim": search.optim.model_dump(mode="json"),
            "schedule": search.schedule.model_dump(mode="json"),
            "budget": search.budgets[budget].model_dump(mode="json", exclude={"name"}),
            "trainer": {**search.trainer.model_dump(mode="json"),
                        "progress_bar": False},  # trial output goes to log files
        }

    def _apply(self, data: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` with the sampled ``params`` set; a schedule pair's end keeps the other
        end from the config, else the space file, else the reference."""
        resolved = Schedule.resolve(1, self._space_schedule, ScheduleConfig.model_validate(
            data["schedule"])).as_dict()
        for key, value in params.items():
            section, _, field = key.partition(".")
            if section == "schedule":
                pair, _, end = field.rpartition("_")
                current = list(data["schedule"].get(pair) or resolved[pair])
                current[0 if end == "start" else 1] = value
                data["schedule"][pair] = current
            else:
                data[section][field] = value
        return data

    def compose(self, sample: int, seed: int, budget: int,
                params: Mapping[str, Any]) -> SearchConfig:
        """The validated search config of one trial with the sampled ``params``."""
        key = self.key(sample, seed, budget)
        return parse_config(SearchConfig, self._apply(self._base(seed, budget, key), params),
                            source=f"search trial {key}")

    def spec(self, sample: int, seed: int, budget: int, params: Mapping[str, Any],
             optuna_trial: int | None = None) -> TrialSpec:
        search = self.experiment.search
        objective, mode = self.objective
        config = self.compose(sample, seed, budget, params)
        return TrialSpec(
            key=self.key(sample, seed, budget), config=config,
            provenance={"sample": sample, "seed": seed, "budget": self.budgets[budget],
                        "budget_config": search.budgets[budget].model_dump(
                            mode="json", exclude={"name"}),
                        "params": dict(params), "optuna_trial": optuna_trial},
            steps=config.optim.max_steps, resources=self.footprint(),
            settings={"objective": {"key": objective, "mode": mode},
                      "threads": max(1, int(search.resources.cpu))})

    def sampled(self, spec: TrialSpec, params: Mapping[str, Any],
                optuna_trial: int | None) -> TrialSpec:
        """``spec`` (planned before sampling) with the sampled values set."""
        p = spec.provenance
        return self.spec(p["sample"], p["seed"], self.budgets.index(p["budget"]), params,
                         optuna_trial)

    # -- the contract ----------------------------------------------------------------------

    def check(self) -> list[Issue]:
        """Every search config the sweep composes must be valid: each budget with the
        defaults, with each end of each sampled range and with each fixed point; and each
        budget must be one that some genotype meets."""
        search = self.experiment.search
        try:
            self._space_schedule  # noqa: B018 (loads the space file)
        except ConfigError as err:
            return [(("search", "space"), str(err), search.space)]
        probes: list[tuple[tuple[Any, ...], dict[str, Any]]] = [(("search",), {})]
        for key, dist in search.sample.items():
            probes += [(("search", "sample", key), {key: v}) for v in dist.bounds()]
        probes += [(("search", "points", i), dict(p)) for i, p in enumerate(search.points)]
        found: list[Issue] = []
        for budget in range(len(search.budgets)):
            for loc, params in probes:
                try:
                    self.compose(0, search.seeds[0], budget, params)
                except ConfigError as err:
                    what = f" with {params}" if params else ""
                    found.append((loc, f"gives an invalid search config{what}: {err}", None))
                    if not params:  # the plain config fails: every probe would, alike
                        return found
            if found:
                return found
        return self._budget_issues()

    def _budget_issues(self) -> list[Issue]:
        """A budget below the cheapest head of the space would fail every trial."""
        search = self.experiment.search
        if all(b.gflops is None and b.fraction is None for b in search.budgets):
            return []
        from atrc_nas.search.budget import head_cost_range
        from atrc_nas.search.space_io import load_space

        config = self.compose(0, search.seeds[0], 0, {})
        spec = config.data.spec()
        crop = config.data.crop_size or spec.crop_size
        low, high = head_cost_range(load_space(search.space).build(spec.tasks), spec,
                                    config.model.backbone, crop)
        found: list[Issue] = []
        for i, budget in enumerate(search.budgets):
            if budget.fraction is not None and budget.fraction * high < low * (1 - 1e-9):
                found.append((("search", "budgets", i, "fraction"), "no genotype meets it: the "
                              f"cheapest head costs {low / 1e9:.4g} GFLOPs, a fraction of "
                              f"{low / high:.3f} of the most expensive ({high / 1e9:.4g} "
                              f"GFLOPs); use fraction >= {math.ceil(low / high * 1000) / 1000}",
                              budget.fraction))
            if budget.gflops is not None and budget.gflops * 1e9 < low * (1 - 1e-9):
                found.append((("search", "budgets", i, "gflops"), "no genotype meets it: the "
                              f"cheapest head costs {low / 1e9:.4g} GFLOPs (the most expensive "
                              f"{high / 1e9:.4g})", budget.gflops))
        return found

    def plan(self, earlier: Mapping[str, list[TrialRecord]]) -> list[TrialSpec]:
        search = self.experiment.search
        return [self.spec(*slot, {}) for sample in range(search.num_samples)
                for slot in self.replicates(sample)]

    def preview(self) -> list[str]:
        search = self.experiment.search
        sampled = ", ".join(search.sample) or "nothing"
        head = (f"{search.num_samples} sample(s) x {len(search.seeds)} seed(s) x "
                f"{len(search.budgets)} budget(s); Optuna samples {sampled}")
        return [head, *super().preview()]

    def trainable(self) -> Callable[[dict[str, Any]], None]:
        from atrc_nas.platform.search_trial import search_trial

        return search_trial

    def trial_resources(self) -> dict[str, float]:
        res = self.experiment.search.resources
        return {"CPU": res.cpu, **({"GPU": res.gpu} if res.gpu else {})}

    def run_settings(self) -> dict[str, Any]:
        from ray import tune

        return {"failure_config": tune.FailureConfig(
                    max_failures=self.experiment.search.max_failures),
                "checkpoint_config": tune.CheckpointConfig(num_to_keep=1)}

    def tuner(self, specs: list[TrialSpec], trainable: Any, run_config: Any,
              cluster: Any) -> Any:
        from ray import tune

        from atrc_nas.platform.searcher import PerBudgetASHA, ReplicatedOptunaSearch

        search = self.experiment.search
        _, mode = self.objective
        searcher = ReplicatedOptunaSearch(self, specs, self.layout.study_file,
                                          study_name=self.experiment.name)
        scheduler = (PerBudgetASHA(mode, max_t=search.periods,
                                   grace_period=search.asha.grace_period,
                                   reduction_factor=search.asha.reduction_factor)
                     if search.asha.enabled else None)
        return tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=len(specs),
                max_concurrent_trials=search.max_concurrent_trials, reuse_actors=True,
                trial_name_creator=lambda trial: trial.config["key"],
                trial_dirname_creator=lambda trial: trial.config["key"]),
            run_config=run_config)

    def describe(self, report: Mapping[str, Any]) -> str:
        objective, gflops = report.get("objective"), report.get("head_gflops")
        return (f"step {report.get('step', '-')}  objective "
                f"{'-' if objective is None else f'{objective:.4g}'}  head "
                f"{'-' if gflops is None else f'{gflops:.3g}'} GFLOPs")

    def write(self, record: TrialRecord) -> None:
        """The record, and the genotype file of a trial that ended with one."""
        super().write(record)
        genotype = record.outputs.get("genotype")
        if record.status in (FINISHED, STOPPED) and genotype is not None:
            report = record.report
            atomic_write_json(
                self.layout.genotype_file(report["genotype_hash"], record.key),
                {**genotype, "genotype_hash": report["genotype_hash"],
                 "search_report": {**report, "objective_key": self.objective[0],
                                   "status": record.status},
                 "provenance": {**record.provenance, "key": record.key,
                                "tune_trial_id": record.tune_trial_id}})

    def summarise(self, specs: list[TrialSpec], records: list[TrialRecord]) -> str:
        return summary_table(records)


def _entropy(report: dict[str, Any]) -> str:
    """The architecture distribution's entropy, as a fraction of the uniform one's."""
    entropy, uniform = report.get("arch_entropy"), report.get("arch_entropy_uniform")
    if entropy is None or not uniform:
        return "-"
    return f"{entropy:.3f} ({100 * entropy / uniform:.0f}%)"


def summary_table(records: list[TrialRecord]) -> str:
    """A fixed-width table of every search trial."""
    def number(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    header = ["trial", "status", "step", "objective", "entropy", "head GFLOPs", "budget met",
              "genotype", "sampled"]
    rows = []
    for record in records:
        report, params = record.report, record.provenance["params"]
        meets = report.get("meets_budget")
        rows.append([
            record.key, record.status, str(report.get("step", "-")),
            number(report.get("objective"), ".4g"), _entropy(report),
            number(report.get("head_gflops"), ".3g"),
            "-" if meets is None else ("yes" if meets else "no"),
            report.get("genotype_hash", "-"),
            ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in params.items()) or "-",
        ])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"{r.key} failed: {r.error}" for r in records if r.status == FAILED]
    if any("arch_entropy" in r.report for r in records):
        lines.append("entropy: of the architecture distribution at the trial's last report, "
                     "mean over pairs in nats (% of the uniform distribution's)")
    return "\n".join(lines)

