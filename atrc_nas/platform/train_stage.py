"""The training stage: the selected and given genotypes and the baselines, one Tune trial
per (network, seed), each a Ray Train run of ``train.resources.workers`` data-parallel
workers (``train_trial.py``).

Needs the search stage (when it ran): its finished trials' genotypes are selected as
``train.select`` says (``selection.py``); ``train.genotypes`` (files, ``published:``
names) join them, so an experiment without a search trains given genotypes and the
baselines, and so do the random genotypes of the ``random`` baseline (drawn uniformly from
the search space under each budget). The genotypes to train are written to
``selection.json``. Runs go one after another or side by side as the cluster's resources
allow. At the end, Delta_m of every multi-task run against the experiment's own
single-task baselines (or ``train.references``) goes to ``train_summary.json``, the trivial
predictor's test metrics to ``trivial.json``, and a table of the runs is printed.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atrc_nas.config import ConfigError, Issue, parse_config
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord
from atrc_nas.platform.search_stage import SearchStage
from atrc_nas.platform.selection import Candidate, given, select, write_selection
from atrc_nas.platform.stage import Stage, TrialSpec, describe_spec, fitting
from atrc_nas.platform.train_plan import RANDOM, Network, run_key, stage_networks
from atrc_nas.platform.training_results import (
    run_delta_m,
    run_metrics,
    single_task_references,
    test_primaries,
)
from atrc_nas.training.config import TrainConfig

if TYPE_CHECKING:
    from atrc_nas.models.genotype import Genotype

DRIVER_CPUS = 0.01  # the Tune trial that drives a Ray Train run only waits on it


class TrainStage(Stage):
    name = "train"
    title = "training stage"
    retries_failed = True  # a run that failed continues from its newest checkpoint
    needs = ("search",)
    outputs = ("metrics", "backends", "timings")

    @property
    def enabled(self) -> bool:
        return self.experiment.train.enabled

    # -- composing a run's config --------------------------------------------------------

    def compose(self, network: Network, seed: int) -> TrainConfig:
        """The validated training config of one run."""
        experiment, stage = self.experiment, self.experiment.train
        data = experiment.data.model_dump(mode="json")
        if network.task is not None:
            data["tasks"] = [network.task]
        model = {**experiment.model.model_dump(mode="json"), "network": network.network,
                 "genotype": network.genotype_file}
        trainer = {**stage.trainer.model_dump(mode="json"),
                   "progress_bar": False}  # worker output goes to log files
        if network.task is not None:
            # a single-task run keeps only its own task's metric options
            for key in ("val_metric_options", "test_metric_options"):
                trainer[key] = {t: v for t, v in trainer[key].items() if t == network.task}
            trainer["single_task_references"] = {}
            if trainer["select_by"] == "delta_m":
                trainer["select_by"] = "primary"
        key = run_key(network, seed)
        return parse_config(TrainConfig, {
            "name": key, "seed": seed, "output_dir": str(self.layout.stage_dir(self.name)),
            "data": data, "model": model, "optim": stage.optim.model_dump(mode="json"),
            "trainer": trainer}, source=f"training run {key}")

    def _given(self) -> list[Candidate]:
        from atrc_nas.models.genotype import resolve_genotype

        tasks = self.experiment.data.spec().tasks
        return [given(ref, resolve_genotype(ref, tasks).stable_hash())
                for ref in self.experiment.train.genotypes]

    def networks(self, genotypes: list[Candidate]) -> list[Network]:
        return stage_networks(self.experiment.data.spec().tasks,
                              self.experiment.train.baselines,
                              [{"genotype_hash": g.genotype_hash,
                                "genotype_file": g.genotype_file} for g in genotypes])

    def spec(self, network: Network, seed: int) -> TrialSpec:
        res = self.experiment.train.resources
        config = self.compose(network, seed)
        return TrialSpec(
            key=run_key(network, seed), config=config,
            provenance={"network": network.as_dict(), "seed": seed},
            steps=config.optim.max_steps, resources=self.footprint(),
            settings={"workers": res.workers, "cpus_per_worker": res.cpus_per_worker,
                      "gpus_per_worker": res.gpus_per_worker,
                      "storage": f"{self.layout.tune_storage(self.experiment.ray.storage_path)}"
                                 f"/{self.layout.TRAIN_RUNS}",
                      "max_failures": self.experiment.train.max_failures})

    def footprint(self) -> dict[str, float]:
        """What one run occupies: its workers and its driver trial."""
        res = self.experiment.train.resources
        return {"CPU": res.workers * res.cpus_per_worker + DRIVER_CPUS,
                "GPU": res.workers * res.gpus_per_worker}

    # -- the contract ----------------------------------------------------------------------

    def check(self) -> list[Issue]:
        """Every kind of run must compose a valid training config, and the batch must split
        evenly over the workers."""
        experiment, stage = self.experiment, self.experiment.train
        found: list[Issue] = []
        workers = stage.resources.workers
        if experiment.data.batch_size % workers:
            found.append((("data", "batch_size"), f"the global batch must split evenly over "
                          f"train.resources.workers ({workers})", experiment.data.batch_size))
        tasks = experiment.data.spec().tasks
        stray = sorted(set(stage.references) - set(tasks))
        if stray:
            found.append((("train", "references"), f"task(s) {stray} are not in this "
                          f"experiment (tasks: {', '.join(tasks)})", stray))
        try:
            genotypes = self._given()
        except (ValueError, KeyError, OSError) as err:
            return [*found, (("train", "genotypes"), str(err).strip("'\""),
                             stage.genotypes)]
        if found:
            return found
        with tempfile.TemporaryDirectory() as scratch:  # the random genotypes' files
            try:
                genotypes += self._random(ExperimentLayout(Path(scratch)))[:1]
            except ValueError as err:
                return [(("train", "random"), str(err), stage.random.count)]
            probes = [Network("multi_task", "multi_task"),
                      Network(f"single_task-{tasks[0]}", "single_task", task=tasks[0]),
                      *(n for n in self.networks(genotypes) if not n.is_single_task)]
            for network in probes:
                try:
                    self.compose(network, stage.seeds[0])
                except ConfigError as err:
                    return [(("train",), f"composes an invalid training config for "
                             f"{network.id}: {err}", None)]
        return []

    @functools.cached_property
    def _random_draws(self) -> list[tuple[str, int, int, Genotype, float]]:
        """(budget name, draw seed, index, genotype, head FLOPs) of each random genotype,
        drawn once."""
        if RANDOM not in self.experiment.train.baselines:
            return []
        from atrc_nas.search.budget import head_cost_model, random_genotypes
        from atrc_nas.search.space_io import load_space

        experiment, settings = self.experiment, self.experiment.train.random
        spec = experiment.data.spec()
        model = head_cost_model(load_space(experiment.search.space).build(spec.tasks), spec,
                                experiment.model.backbone,
                                experiment.data.crop_size or spec.crop_size)
        names = experiment.search.budget_names()
        return [(name, settings.seed + b, i, genotype, cost)
                for b, (name, budget) in enumerate(zip(names, experiment.search.budgets,
                                                       strict=True))
                for i, (genotype, cost) in enumerate(
                    random_genotypes(model, budget, settings.count, seed=settings.seed + b),
                    start=1)]

    def _random(self, layout: ExperimentLayout) -> list[Candidate]:
        """The random-genotype baseline: ``train.random.count`` genotypes per budget, drawn
        uniformly from the search space under the budget (budget ``b`` with seed
        ``train.random.seed + b``), their files (with what drew them) written to ``layout``'s
        genotype folder."""
        settings, out = self.experiment.train.random, []
        for name, seed, i, genotype, cost in self._random_draws:
            digest = genotype.stable_hash()
            path = layout.genotype_file(digest, f"random-{name}-{i}")
            atomic_write_json(path, {
                **genotype.to_json_dict(), "genotype_hash": digest, "head_gflops": cost / 1e9,
                "provenance": {"random": {"budget": name, "index": i, "count": settings.count,
                                          "seed": seed, "space": self.experiment.search.space}}})
            out.append(Candidate(
                genotype_hash=digest, genotype_file=str(path), head_gflops=cost / 1e9,
                objective=None, budgets=[name],
                reasons=[f"{RANDOM} genotype {i} of {settings.count} under budget {name!r}"]))
        return out

    def genotypes(self, earlier: Mapping[str, list[TrialRecord]]) -> list[Candidate]:
        """The searched genotypes selected for training, the given ones, the random ones
        (each genotype once, with every reason it is trained)."""
        chosen: dict[str, Candidate] = {}
        if self.experiment.search.enabled:
            for c in select(earlier.get("search", []), self.layout, self._mode(),
                            **self.experiment.train.select.model_dump()):
                chosen[c.genotype_hash] = c
        for candidate in [*self._given(), *self._random(self.layout)]:
            if candidate.genotype_hash in chosen:
                chosen[candidate.genotype_hash].reasons += candidate.reasons
            else:
                chosen[candidate.genotype_hash] = candidate
        return list(chosen.values())

    def _mode(self) -> str:
        """Whether a lower or a higher search objective is better."""
        return SearchStage(self.experiment).objective[1]

    def plan(self, earlier: Mapping[str, list[TrialRecord]]) -> list[TrialSpec]:
        genotypes = self.genotypes(earlier)
        write_selection(self.layout, genotypes, self._mode())
        return [self.spec(net, seed) for net in self.networks(genotypes)
                for seed in self.experiment.train.seeds]

    def preview(self) -> list[str]:
        stage = self.experiment.train
        lines = []
        if self.experiment.search.enabled:
            select = stage.select
            rules = [*(["the best genotype of each budget"] if select.best_per_budget else []),
                     *(["the Pareto front"] if select.pareto else []),
                     *([f"the {select.top_k} best"] if select.top_k else [])]
            lines.append(f"after the search: {' and '.join(rules) or 'no searched genotype'}"
                         f", {len(stage.seeds)} seed(s) each, as atrc-<hash>-seed<seed>")
        if RANDOM in stage.baselines:
            lines.append(f"random genotypes: {stage.random.count} per budget "
                         f"({', '.join(self.experiment.search.budget_names())}), "
                         f"{len(stage.seeds)} seed(s) each")
        res = stage.resources
        lines.append(f"each run: {res.workers} Ray Train worker(s) x {res.cpus_per_worker:g} "
                     f"CPU" + (f" x {res.gpus_per_worker:g} GPU" if res.gpus_per_worker else "")
                     + " and its driver")
        with tempfile.TemporaryDirectory() as scratch:  # nothing is written in a preview
            known = [*self._given(), *self._random(ExperimentLayout(Path(scratch)))]
            specs = [self.spec(net, seed) for net in self.networks(known)
                     for seed in stage.seeds]
        return lines + [describe_spec(spec) for spec in specs]

    def trainable(self) -> Callable[[dict[str, Any]], None]:
        from atrc_nas.platform.train_trial import train_trial

        return train_trial

    def trial_resources(self) -> dict[str, float]:
        return {"CPU": DRIVER_CPUS}

    def concurrency(self, cluster: Any) -> int:
        """How many runs fit on the cluster at once (at least one: on a joined cluster an
        autoscaler may add what a run needs)."""
        return max(1, fitting(cluster.resources, self.footprint()))

    def tuner(self, specs: list[TrialSpec], trainable: Any, run_config: Any,
              cluster: Any) -> Any:
        from ray import tune

        from atrc_nas.platform.searcher import PlannedTrials

        return tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=PlannedTrials(specs), num_samples=len(specs),
                max_concurrent_trials=self.concurrency(cluster),
                reuse_actors=True,  # a run's driver (Ray Train imported) drives the next
                trial_name_creator=lambda trial: trial.config["key"],
                trial_dirname_creator=lambda trial: trial.config["key"]),
            run_config=run_config)

    def describe(self, report: Mapping[str, Any]) -> str:
        loss = report.get("val/loss")
        return f"step {report.get('step', '-')}" + ("" if loss is None
                                                    else f"  val loss {loss:.4g}")

    def summarise(self, specs: list[TrialSpec], records: list[TrialRecord]) -> str:
        if not self.layout.trivial_file.is_file():  # the floor every network must clear
            from atrc_nas.training.trivial import trivial_test_metrics

            reference = self.compose(Network("multi_task", "multi_task"),
                                     self.experiment.train.seeds[0])
            atomic_write_json(self.layout.trivial_file, trivial_test_metrics(reference))
        refs = single_task_references(records, self.experiment.train.references)
        deltas = {r.key: run_delta_m(r, refs) for r in records}
        atomic_write_json(self.layout.summary_file(self.name), {
            "references": refs,
            "runs": {r.key: {"status": r.status, "delta_m": deltas[r.key]} for r in records}})
        lines = []
        for run in records:
            metrics = run_metrics(run)
            primaries = test_primaries(metrics) if metrics else {}
            shown = "  ".join(f"{t} {v:.4g}" for t, v in primaries.items()) or "-"
            delta = deltas[run.key]
            text = "" if delta is None else f"  delta_m {delta:+.2f}%"
            error = f"  ({run.error})" if run.error else ""
            lines.append(f"  {run.key:<40} {run.status:<9} {shown}{text}{error}")
        return "\n".join(lines)
