"""Ray Train's own fixed cost on this machine: the floor under a training run's platform cost.

    python benchmarks/ray_train_floor.py [--runs 4] [--workers 1] [--json PATH]

Tune trials (one at a time, the trial process reused as the training stage does) each drive
a Ray Train TorchTrainer of W gloo workers whose loop imports Lightning (what every training
worker must) and reports once: nothing of this project runs. The run's time is split at
the same timestamps as ``platform_overhead.py`` (Ray Train start up to the worker process,
the worker's start-up up to its loop, the loop, teardown). With the settings the platform
uses (``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S=0.2``). Prints a table and writes JSON (default
benchmarks/results/ray_train_floor_cpu.json).
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

from platform_overhead import trial_times  # benchmarks/, beside this script

from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.cluster import WORKER_ENV, ray_cluster

DEFAULT_JSON = Path(__file__).parent / "results" / "ray_train_floor_cpu.json"


def loop(config: dict[str, Any]) -> None:
    """Each worker: import Lightning, report once, leave its timestamps in a file."""
    import psutil
    import ray.train

    entered = time.time()
    import lightning.pytorch  # noqa: F401

    stamps = {"process_start": psutil.Process().create_time(), "worker_entry": entered,
              "imported": time.time()}
    ray.train.report({"done": 1})
    stamps["loop_end"] = time.time()
    if ray.train.get_context().get_world_rank() == 0:
        Path(config["stamps"]).write_text(json.dumps(stamps))


def trial(config: dict[str, Any]) -> None:
    from ray import tune
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    started = time.time()
    TorchTrainer(
        loop, train_loop_config={"stamps": f"{config['tmp']}/stamps{config['i']}.json"},
        scaling_config=ScalingConfig(num_workers=config["workers"],
                                     resources_per_worker={"CPU": 0.95}),
        run_config=RunConfig(name=f"run{config['i']}", storage_path=f"{config['tmp']}/storage",
                             callbacks=[TuneReportCallback()]),
    ).fit()
    tune.report({"trial_entry": started, "fit_end": time.time()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    from ray import tune

    rows = []
    with (tempfile.TemporaryDirectory(prefix="atrc_floor_") as tmp,
          ray_cluster("local", experiment_dir=Path(tmp), num_cpus=args.workers)):
            times = trial_times("i")
            tuner = tune.Tuner(
                tune.with_resources(trial, {"CPU": 0.01}),
                param_space={"i": tune.grid_search(list(range(args.runs))), "tmp": tmp,
                             "workers": args.workers},
                tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=1),
                run_config=tune.RunConfig(storage_path=f"{tmp}/tune", name="floor", verbose=0,
                                          callbacks=[times]))
            tuner.fit()
            previous = None
            for i in range(args.runs):
                s = json.loads(Path(f"{tmp}/stamps{i}.json").read_text())
                start, end = times.started[i], times.ended[i]
                rows.append({
                    "tune trial start": 0.0 if previous is None else start - previous,
                    "Ray Train start (controller, worker group)": s["process_start"] - start,
                    "worker start-up (Ray worker, imports)": s["worker_entry"]
                        - s["process_start"],
                    "worker: import Lightning": s["imported"] - s["worker_entry"],
                    "worker: report": s["loop_end"] - s["imported"],
                    "teardown (report, worker group, trial)": end - s["loop_end"],
                    "whole run": end - start,
                })
                previous = end
    later = rows[1:]
    mean = {k: sum(r[k] for r in later) / len(later) for k in rows[0]}
    print(f"{'phase (' + str(args.workers) + ' worker(s))':<46} {'first':>7} {'later':>7}")
    for key in rows[0]:
        print(f"{key:<46} {rows[0][key]:>6.2f}s {mean[key]:>6.2f}s")
    result = json.loads(args.json.read_text()) if args.json.is_file() else {}
    result[f"{args.workers}_workers"] = {
        "runs": rows, "later_runs_mean": mean,
        "env": {k: v for k, v in WORKER_ENV.items() if k.startswith("RAY_TRAIN")},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "load_average": os.getloadavg()}}
    atomic_write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
