"""The training stage on the session's loopback cluster: a 2-worker DDP run on Ray Train
whose worker is SIGKILLed mid-run recovers from its checkpoint and finishes."""

from __future__ import annotations

import json
import signal
import threading
import time

from platform_fixtures import tiny_experiment

from atrc_nas.platform.cluster import _ray_processes
from atrc_nas.platform.records import TRAIN_RUNS_DIR
from atrc_nas.platform.train_stage import run_train_stage

STEPS = 24


def _kill_one_worker_after_first_report(cluster, folder, killed: list[int]) -> None:
    record = folder / TRAIN_RUNS_DIR / "multi_task-seed0.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not killed:
        if record.is_file() and json.loads(record.read_text())["last_report"].get("step"):
            workers = [p for p in _ray_processes(cluster.temp_dir)
                       if "RayTrainWorker" in " ".join(p.cmdline() or [p.name()])]
            if workers:
                workers[-1].send_signal(signal.SIGKILL)
                killed.append(workers[-1].pid)
                return
        time.sleep(0.2)


def test_ddp_run_recovers_from_a_killed_worker_and_reports_its_test_metrics(cluster, tmp_path):
    experiment = tiny_experiment(tmp_path, train={
        "seeds": [0], "baselines": ["multi_task"],
        "optim": {"max_steps": STEPS, "lr": 0.01},
        "trainer": {"accelerator": "cpu", "val_every_n_steps": 4, "log_every_n_steps": 1,
                    "limit_val_batches": 1, "val_metric_options": {"edge": {"num_thresholds": 5}},
                    "test_metric_options": {"edge": {"num_thresholds": 5}}},
        "resources": {"workers": 2, "cpus_per_worker": 0.95}, "max_failures": 2,
    })
    killed: list[int] = []
    killer = threading.Thread(target=_kill_one_worker_after_first_report,
                              args=(cluster, experiment.folder, killed), daemon=True)
    killer.start()
    runs = run_train_stage(experiment, cluster, genotypes=[], every_s=3600)
    killer.join(5)
    assert killed, "no worker was killed"
    (run,) = runs
    assert run["status"] == "finished", run["error"]
    metrics = run["metrics"]
    assert metrics["steps"] == STEPS and metrics["world_size"] == 2
    assert set(metrics["test"]) >= {"test/semseg/miou", "test/depth/rmse", "test/loss"}
    assert run["backends"] and len(run["backends"]) == 2
    run_dir = experiment.folder / "train" / "multi_task-seed0"
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == metrics["test"]
    assert len(list((run_dir / "logs").iterdir())) >= 2  # the worker group started again
