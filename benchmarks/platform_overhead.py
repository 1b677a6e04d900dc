"""What Ray costs: a K-trial search sweep through Ray Tune against the same trials run back
to back in one process, and one training run on Ray Train (2 DDP workers) against the same
training in one process.

    python benchmarks/platform_overhead.py [--experiment experiments/quickstart.yaml]
                                           [--trials 4] [--stage search|train|both]
                                           [--json PATH]

Both sides run the experiment's search trials (its data, backbone and trial length; ASHA
off so every trial runs to its end) one at a time on one thread each, so the difference is
the platform: cluster start, trial actors, reporting with checkpoints, experiment state.
The sweep is timed with and without the cluster start (paid once per launch); the fixed
cost per trial is (sweep time - in-process time) / K.

The training comparison runs the experiment's multi_task training run: in one process on
all cores, and as the training stage runs it (a Tune trial driving a TorchTrainer of
``train.resources.workers`` gloo workers, each with its share of every batch); the fixed
cost is the difference. Prints a table and writes JSON (default
benchmarks/results/platform_overhead_cpu.json).
"""

from __future__ import annotations

import argparse
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


def in_process(experiment: ExperimentConfig) -> tuple[float, list[float]]:
    """Every trial's search back to back in this process (one thread)."""
    import torch

    from atrc_nas.search.run import run_search

    torch.set_num_threads(1)
    stage = SearchStage(experiment)
    params = experiment.search.points[0] if experiment.search.points else {}
    each = []
    started = time.perf_counter()
    for sample, seed, budget in stage.replicates(0):
        cfg = stage.compose(sample, seed, budget, params)
        cfg = cfg.model_copy(update={"output_dir": str(experiment.folder / "in_process")})
        t0 = time.perf_counter()
        run_search(cfg)
        each.append(time.perf_counter() - t0)
    return time.perf_counter() - started, each


def through_tune(experiment: ExperimentConfig) -> tuple[float, float]:
    """The sweep through Ray Tune: (cluster start, sweep) seconds."""
    from atrc_nas.platform.cluster import ray_cluster
    from atrc_nas.platform.runner import run_stage

    experiment.folder.mkdir(parents=True, exist_ok=True)
    stage = SearchStage(experiment)
    t0 = time.perf_counter()
    with ray_cluster("local", experiment_dir=experiment.folder, num_cpus=2) as cluster:
        ready = time.perf_counter()
        records = run_stage(stage, stage.plan({}), cluster, every_s=3600)
        done = time.perf_counter()
    if any(not r.finished for r in records):
        raise RuntimeError(f"not every trial finished: {[r.status for r in records]}")
    return ready - t0, done - ready


def training_in_process(experiment: ExperimentConfig) -> float:
    import torch

    from atrc_nas.training.run import train

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = TrainStage(experiment).compose(Network("multi_task", "multi_task"), 0)
    cfg = cfg.model_copy(update={"output_dir": str(experiment.folder / "in_process_train")})
    started = time.perf_counter()
    train(cfg)
    return time.perf_counter() - started


def training_on_ray(experiment: ExperimentConfig) -> float:
    from atrc_nas.platform.cluster import ray_cluster
    from atrc_nas.platform.runner import run_stage

    data = experiment.model_dump(mode="json")
    data["search"]["enabled"] = False
    data["train"].update(baselines=["multi_task"], seeds=[0], genotypes=[])
    experiment = parse_config(ExperimentConfig, data)
    experiment.folder.mkdir(parents=True, exist_ok=True)
    stage = TrainStage(experiment)
    with ray_cluster("local", experiment_dir=experiment.folder, num_cpus=2) as cluster:
        started = time.perf_counter()
        (run,) = run_stage(stage, stage.plan({}), cluster, every_s=3600)
        seconds = time.perf_counter() - started
    if not run.finished:
        raise RuntimeError(f"the training run did not finish: {run.error}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/quickstart.yaml")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--stage", choices=["search", "train", "both"], default="both")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "experiment": args.experiment,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
    }
    if args.json.is_file():  # keep the other stage's numbers
        import json

        result = {**json.loads(args.json.read_text()), **result}
    with tempfile.TemporaryDirectory(prefix="atrc_overhead_") as tmp:
        experiment = experiment_for(args.experiment, args.trials, Path(tmp))
        if args.stage in ("search", "both"):
            local_s, each = in_process(experiment)
            start_s, sweep_s = through_tune(experiment)
            k = len(each)
            result["search"] = {
                "trials": k, "trial_steps": experiment.search.optim.max_steps,
                "in_process_s": local_s, "in_process_per_trial_s": each,
                "cluster_start_s": start_s, "tune_sweep_s": sweep_s,
                "ratio_sweep": sweep_s / local_s,
                "ratio_with_cluster_start": (start_s + sweep_s) / local_s,
                "fixed_cost_per_trial_s": (sweep_s - local_s) / k,
                "target": "ratio_sweep < 1.15",
            }
            print(f"{k} search trials of {experiment.search.optim.max_steps} steps "
                  f"({args.experiment})")
            for name, seconds, ratio in (
                    ("in process, back to back", local_s, 1.0),
                    ("Ray Tune sweep", sweep_s, sweep_s / local_s),
                    ("  + cluster start", start_s + sweep_s, (start_s + sweep_s) / local_s)):
                print(f"{name:<28} {seconds:>7.1f} s  x{ratio:.2f}")
            print(f"fixed cost per trial: {(sweep_s - local_s) / k:.2f} s; cluster start "
                  f"{start_s:.1f} s")
        if args.stage in ("train", "both"):
            alone = training_in_process(experiment)
            on_ray = training_on_ray(experiment)
            workers = experiment.train.resources.workers
            result["train"] = {
                "steps": experiment.train.optim.max_steps, "workers": workers,
                "in_process_s": alone, "ray_train_s": on_ray, "ratio": on_ray / alone,
                "fixed_cost_s": on_ray - alone,
            }
            print(f"one training run of {experiment.train.optim.max_steps} steps: in process "
                  f"{alone:.1f} s, Tune -> TorchTrainer ({workers} workers) {on_ray:.1f} s, "
                  f"x{on_ray / alone:.2f}, fixed cost {on_ray - alone:.1f} s")
    atomic_write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
