"""What the platform costs: search trials and training runs as the launcher runs them (Ray
Tune, Ray Train) against the same work in one process, phase by phase.

    python benchmarks/platform_overhead.py [--experiment experiments/quickstart.yaml]
        [--trials 4] [--workers 1 2] [--stage search|train|both] [--json PATH]

Search: the experiment's search trials (its data, backbone and trial length; ASHA off so
every trial runs to its end), one at a time on one thread each, back to back in this process
and as a Ray Tune sweep on a fresh loopback cluster. Fixed cost per trial = (sweep - in
process) / K; each trial's time is split into what the platform adds outside the search
(trial start, reporting, teardown) and the search's own phases (``search_report.json``
timings: trainer, setup, fit with the per-period reports and checkpoints, report).

Training: the experiment's multi_task run, for each worker count W: in one process with W
threads, and as the training stage runs it (Tune trials driving a Ray Train TorchTrainer of
W gloo workers of 0.95 CPU each, on a cluster of W CPUs), ``--runs`` seeds one after the
other (on more CPUs the stage runs them side by side): the first run pays
for the trial process (later ones reuse it, as the stage does). Fixed cost = platform - in
process, for the first run and for the later ones. A run's time is split at timestamps:
Tune trial start, Ray Train start (controller, worker group) up to the workers' processes,
the workers' start-up (Ray worker init and imports) up to the training loop, the
training's own phases (``metrics.json`` timings: trainer, model, data, fit, test, costs,
fingerprint) and teardown. Prints the tables and writes JSON (default
benchmarks/results/platform_overhead_cpu.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported

from atrc_nas.config import load_config, parse_config
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.search_stage import SearchStage
from atrc_nas.platform.train_plan import Network
from atrc_nas.platform.train_stage import TrainStage

DEFAULT_JSON = Path(__file__).parent / "results" / "platform_overhead_cpu.json"
SEARCH_PHASES = ("trainer", "setup", "fit", "report")
TRAIN_PHASES = ("trainer", "model", "data", "fit", "test", "costs", "fingerprint")


def experiment_for(path: str, trials: int, output_dir: Path) -> ExperimentConfig:
    """The experiment with ``trials`` search trials (seeds x budgets x samples), ASHA off,
    one trial at a time on one CPU."""
    base = load_config(path, ExperimentConfig)
    data = base.model_dump(mode="json")
    budgets = data["search"]["budgets"]
    seeds = list(range(max(1, trials // len(budgets))))
    if len(seeds) * len(budgets) != trials:
        budgets, seeds = budgets[:1], list(range(trials))
    point = {k: d.bounds()[0] for k, d in base.search.sample.items()}  # both sides run it
    data["search"].update(seeds=seeds, budgets=budgets, num_samples=1,
                          points=[point] if point else [],
                          asha={"enabled": False}, max_concurrent_trials=1,
                          resources={"cpu": 1})
    data["output_dir"] = str(output_dir)
    data["ray"]["num_cpus"] = 2
    return parse_config(ExperimentConfig, data)


def trial_times(key: str = "key") -> Any:
    """A Tune callback keeping when each trial (named by its ``config[key]``) started and
    ended (wall clock)."""
    from ray.tune import Callback

    class TrialTimes(Callback):
        def __init__(self) -> None:
            self.started: dict[Any, float] = {}
            self.ended: dict[Any, float] = {}

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.started[trial.config[key]] = time.time()

        def on_trial_complete(self, iteration: int, trials: list, trial: Any,
                              **info: Any) -> None:
            self.ended[trial.config[key]] = time.time()

    return TrialTimes()


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# -- search -------------------------------------------------------------------------------

def search_in_process(experiment: ExperimentConfig) -> dict[str, Any]:
    """Every trial's search back to back in this process (one thread)."""
    import torch

    from atrc_nas.search.run import run_search

    torch.set_num_threads(1)
    stage = SearchStage(experiment)
    params = experiment.search.points[0] if experiment.search.points else {}
    each, phases = [], []
    started = time.perf_counter()
    for sample, seed, budget in stage.replicates(0):
        cfg = stage.compose(sample, seed, budget, params)
        cfg = cfg.model_copy(update={"output_dir": str(experiment.folder / "in_process")})
        t0 = time.perf_counter()
        result = run_search(cfg)
        each.append(time.perf_counter() - t0)
        phases.append(result.report["timings"])
    return {"total_s": time.perf_counter() - started, "per_trial_s": each,
            "phases_s": {p: mean([t[p] for t in phases]) for p in SEARCH_PHASES}}


def search_on_tune(experiment: ExperimentConfig) -> dict[str, Any]:
    """The sweep through Ray Tune on a fresh local cluster."""
    from atrc_nas.platform.cluster import ray_cluster
    from atrc_nas.platform.runner import run_stage

    experiment.folder.mkdir(parents=True, exist_ok=True)
    stage = SearchStage(experiment)
    t0 = time.perf_counter()
    with ray_cluster("local", experiment_dir=experiment.folder, num_cpus=2) as cluster:
        ready = time.perf_counter()
        times = trial_times()
        records = run_stage(stage, stage.plan({}), cluster, every_s=3600, callbacks=[times])
        done = time.perf_counter()
    if any(not r.finished for r in records):
        raise RuntimeError(f"not every trial finished: {[r.status for r in records]}")
    phases = []
    for record in records:
        report = json.loads((Path(record.run_dir) / "search_report.json").read_text())
        phases.append(report["timings"])
    trial = [times.ended[r.key] - times.started[r.key] for r in records]
    own = [sum(t.values()) for t in phases]
    return {"cluster_start_s": ready - t0, "sweep_s": done - ready,
            "trial_s": mean(trial), "search_phases_s": {p: mean([t[p] for t in phases])
                                                         for p in SEARCH_PHASES},
            "outside_search_s": mean(trial) - mean(own)}


def search_table(local: dict[str, Any], tune: dict[str, Any], k: int) -> list[str]:
    rows = [("trial, whole", mean(local["per_trial_s"]), tune["trial_s"]),
            *((f"  {p}", local["phases_s"][p], tune["search_phases_s"][p])
              for p in SEARCH_PHASES),
            ("  outside the search", 0.0, tune["outside_search_s"])]
    lines = [f"{'search trial phase':<26} {'in process':>10} {'on Tune':>9} {'added':>8}"]
    lines += [f"{name:<26} {a:>9.2f}s {b:>8.2f}s {b - a:>+7.2f}s" for name, a, b in rows]
    fixed = (tune["sweep_s"] - local["total_s"]) / k
    lines.append(f"{k} trials: in process {local['total_s']:.1f} s, sweep {tune['sweep_s']:.1f} s "
                 f"(x{tune['sweep_s'] / local['total_s']:.3f}); fixed cost per trial "
                 f"{fixed:.2f} s; cluster start {tune['cluster_start_s']:.1f} s")
    return lines


# -- training -------------------------------------------------------------------------------

def train_experiment(experiment: ExperimentConfig, workers: int,
                     runs: int) -> ExperimentConfig:
    data = experiment.model_dump(mode="json")
    data["search"]["enabled"] = False
    data["train"].update(baselines=["multi_task"], seeds=list(range(runs)), genotypes=[],
                         resources={"workers": workers, "cpus_per_worker": 0.95})
    data["name"] = f"train_{workers}w"
    data["ray"]["num_cpus"] = workers  # one run at a time: each run's phases on their own
    return parse_config(ExperimentConfig, data)


def train_in_process(experiment: ExperimentConfig, threads: int) -> dict[str, Any]:
    import torch

    from atrc_nas.training.run import train

    torch.set_num_threads(threads)
    cfg = TrainStage(experiment).compose(Network("multi_task", "multi_task"), 0)
    cfg = cfg.model_copy(update={"output_dir": str(experiment.folder / "in_process")})
    started = time.perf_counter()
    metrics = train(cfg).metrics
    return {"total_s": time.perf_counter() - started, "phases_s": metrics["timings"]}


def run_phases(run: Any, started: float, ended: float) -> dict[str, float]:
    """One training run's time, split at its timestamps (see the module docstring)."""
    stamps = run.outputs["timings"]  # rank 0's
    train_start = stamps["train_end"] - sum(run.outputs["metrics"]["timings"].values())
    return {
        "tune trial start": 0.0,
        "Ray Train start (controller, worker group)": stamps["process_start"] - started,
        "worker start-up (Ray worker, imports)": stamps["worker_entry"]
            - stamps["process_start"],
        "worker, before training (backends, config)": train_start - stamps["worker_entry"],
        "teardown (report, worker group, trial)": ended - stamps["train_end"],
    }


def train_on_ray(experiment: ExperimentConfig) -> dict[str, Any]:
    """The training stage's runs (one at a time), each split into phases."""
    from atrc_nas.platform.cluster import ray_cluster
    from atrc_nas.platform.runner import run_stage

    experiment.folder.mkdir(parents=True, exist_ok=True)
    stage = TrainStage(experiment)
    specs = stage.plan({})
    with ray_cluster("local", experiment_dir=experiment.folder,
                     num_cpus=experiment.ray.num_cpus) as cluster:
        times = trial_times()
        started = time.time()
        runs = run_stage(stage, specs, cluster, every_s=3600, callbacks=[times])
        ended = time.time()
    if not all(r.finished for r in runs):
        raise RuntimeError(f"a training run did not finish: {[r.error for r in runs]}")
    order = sorted(runs, key=lambda r: times.started[r.key])
    previous_end = started
    per_run = []
    for run in order:
        phases = run_phases(run, times.started[run.key], times.ended[run.key])
        phases["tune trial start"] = times.started[run.key] - previous_end
        previous_end = times.ended[run.key]
        per_run.append({"platform_phases_s": phases,
                        "phases_s": run.outputs["metrics"]["timings"],
                        "total_s": sum(phases.values())
                        + sum(run.outputs["metrics"]["timings"].values())})
    return {"stage_s": ended - started, "runs": per_run}


def train_table(local: dict[str, Any], run: dict[str, Any], title: str) -> list[str]:
    lines = [f"{title:<52} {'in process':>10} {'Ray Train':>10} {'added':>8}"]
    for name, seconds in run["platform_phases_s"].items():
        lines.append(f"{name:<52} {0.0:>9.2f}s {seconds:>9.2f}s {seconds:>+7.2f}s")
    for phase in TRAIN_PHASES:
        a, b = local["phases_s"].get(phase, 0.0), run["phases_s"].get(phase, 0.0)
        lines.append(f"{'  training: ' + phase:<52} {a:>9.2f}s {b:>9.2f}s {b - a:>+7.2f}s")
    lines.append(f"{'whole run':<52} {local['total_s']:>9.2f}s {run['total_s']:>9.2f}s "
                 f"{run['total_s'] - local['total_s']:>+7.2f}s")
    return lines


def later_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of the runs after the first, phase by phase."""
    later = runs[1:] or runs
    return {key: {phase: mean([r[key][phase] for r in later]) for phase in later[0][key]}
            for key in ("platform_phases_s", "phases_s")} | {
        "total_s": mean([r["total_s"] for r in later])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/quickstart.yaml")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3, help="training runs (seeds) per stage")
    parser.add_argument("--stage", choices=["search", "train", "both"], default="both")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "experiment": args.experiment,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "load_average": os.getloadavg()},
    }
    if args.json.is_file():  # keep the other stage's numbers
        result = {**json.loads(args.json.read_text()), **result}
    with tempfile.TemporaryDirectory(prefix="atrc_overhead_") as tmp:
        experiment = experiment_for(args.experiment, args.trials, Path(tmp))
        if args.stage in ("search", "both"):
            local, tune = search_in_process(experiment), search_on_tune(experiment)
            k = len(local["per_trial_s"])
            result["search"] = {
                "trials": k, "trial_steps": experiment.search.optim.max_steps,
                "in_process": local, "tune": tune,
                "ratio_sweep": tune["sweep_s"] / local["total_s"],
                "fixed_cost_per_trial_s": (tune["sweep_s"] - local["total_s"]) / k,
                "target": "fixed cost per trial <= 2 s",
            }
            print("\n".join(search_table(local, tune, k)))
        if args.stage in ("train", "both"):
            result.setdefault("train", {})
            for workers in args.workers:
                run = train_experiment(experiment, workers, args.runs)
                local = train_in_process(run, threads=workers)
                ray = train_on_ray(run)
                first, later = ray["runs"][0], later_runs(ray["runs"])
                result["train"][f"{workers}_workers"] = {
                    "steps": run.train.optim.max_steps, "workers": workers,
                    "runs": len(ray["runs"]), "in_process": local, "ray_train": ray,
                    "fixed_cost_first_run_s": first["total_s"] - local["total_s"],
                    "fixed_cost_later_runs_s": later["total_s"] - local["total_s"],
                    "target": "fixed cost <= 8 s (1 worker), <= 15 s (2 workers)",
                }
                print("\n".join(train_table(local, first, f"first run, {workers} worker(s)")))
                print("\n".join(train_table(local, later,
                                            f"later runs (mean of {len(ray['runs']) - 1})")))
    atomic_write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
