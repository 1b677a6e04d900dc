"""The training stage on the session's loopback cluster: a 2-worker DDP run on Ray Train
whose worker is SIGKILLed mid-run recovers from its checkpoint and finishes."""

from __future__ import annotations

import json
import signal
import threading
import time

from platform_fixtures import tiny_experiment

from atrc_nas.platform.cluster import _ray_processes
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.runner import run_stage
from atrc_nas.platform.train_stage import TrainStage
from atrc_nas.run_dir import trained_steps

STEPS = 24
PERIOD = 4


def _kill_one_worker_after_first_report(cluster, layout, killed: list[int]) -> None:
    record = layout.record_file("train", "multi_task-seed0")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not killed:
        if record.is_file() and json.loads(record.read_text())["report"].get("step"):
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
        "trainer": {"accelerator": "cpu", "val_every_n_steps": PERIOD, "log_every_n_steps": 1,
                    "limit_val_batches": 1, "val_metric_options": {"edge": {"num_thresholds": 5}},
                    "test_metric_options": {"edge": {"num_thresholds": 5}}},
        "resources": {"workers": 2, "cpus_per_worker": 0.95}, "max_failures": 2,
    })
    layout = ExperimentLayout(experiment.folder)
    killed: list[int] = []
    killer = threading.Thread(target=_kill_one_worker_after_first_report,
                              args=(cluster, layout, killed), daemon=True)
    killer.start()
    stage = TrainStage(experiment)
    runs = run_stage(stage, stage.plan({}), cluster, every_s=3600)
    killer.join(5)
    assert killed, "no worker was killed"
    (run,) = runs
    assert run.status == "finished", run.error
    metrics = run.outputs["metrics"]
    assert metrics["steps"] == STEPS and metrics["world_size"] == 2
    assert set(metrics["test"]) >= {"test/semseg/miou", "test/depth/rmse", "test/loss"}
    assert run.outputs["backends"] and len(run.outputs["backends"]) == 2
    run_dir = layout.run_dir("train", "multi_task-seed0")
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == metrics["test"]
    # the worker group started again and continued from a checkpoint, not from step 0
    first, *restarts = trained_steps(run_dir)
    assert restarts, "the run did not start again"
    resumed_at = restarts[0][0]
    assert 0 < resumed_at <= max(first) + 1 and resumed_at % PERIOD == 0
    assert sorted({s for start in (first, *restarts) for s in start}) == list(range(STEPS))
