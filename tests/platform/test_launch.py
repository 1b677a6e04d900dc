"""The launcher as a user runs it: a subprocess with its own loopback cluster, killed,
interrupted and rerun; config errors before Ray starts."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from platform_fixtures import TINY_EXPERIMENT

from atrc_nas.launch import main
from atrc_nas.platform.cluster import PIDS_FILE, STATE_DIR, _ray_processes
from atrc_nas.platform.records import TRAIN_RUNS_DIR, TRIALS_DIR

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, **search) -> Path:
    data = copy.deepcopy(TINY_EXPERIMENT)
    data["output_dir"] = str(tmp_path / "runs")
    data["search"].update(search)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _launch(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "atrc_nas.launch", str(config), *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ))


def _wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the launcher exited before {what}:\n{proc.stdout.read()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _temp_dir(folder: Path) -> str | None:
    path = folder / STATE_DIR / PIDS_FILE
    return json.loads(path.read_text())["temp_dir"] if path.is_file() else None


def _statuses(folder: Path, records: str = TRIALS_DIR) -> dict[str, str]:
    out = {}
    for path in (folder / records).glob("*.json"):
        try:
            out[path.stem] = json.loads(path.read_text())["status"]
        except (json.JSONDecodeError, KeyError):
            continue
    return out


def _trained_steps(folder: Path, key: str) -> list[int]:
    """The steps a search run trained, over all its starts (one CSV log folder each)."""
    import csv

    steps = []
    for log in sorted((folder / "search" / key / "logs").glob("version_*/metrics.csv")):
        with log.open() as handle:
            steps += [int(row["step"]) for row in csv.DictReader(handle) if row["train/loss"]]
    return steps


def _finished(folder: Path, records: str) -> list[str]:
    return sorted(k for k, s in _statuses(folder, records).items() if s == "finished")


def _kill_when(config: Path, folder: Path, records: str) -> tuple[str, str]:
    """Start the launcher, SIGKILL it once a record under ``records`` says finished; the
    killed cluster's temp folder and the finished key."""
    proc = _launch(config)
    temp_dir = _wait_for(lambda: _temp_dir(folder), 120, "the cluster started", proc)
    first = _wait_for(lambda: _finished(folder, records), 600, f"a finished {records}", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return temp_dir, first[0]


def test_killed_launcher_resumes_without_redoing_finished_work(tmp_path):
    """Killed during the search, then during the training stage, then run to the end:
    no finished search trial and no finished training run is redone, and each killed
    launch's cluster is ended by the next one."""
    config = _write(tmp_path)
    folder = tmp_path / "runs" / "tiny"
    search_temp, first_search = _kill_when(config, folder, TRIALS_DIR)
    train_temp, first_run = _kill_when(config, folder, TRAIN_RUNS_DIR)
    assert not _ray_processes(search_temp) and not Path(search_temp).exists()
    metrics = folder / "train" / first_run / "metrics.json"
    written = metrics.stat().st_mtime_ns
    rerun = subprocess.run([sys.executable, "-m", "atrc_nas.launch", str(config)], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not _ray_processes(train_temp) and not Path(train_temp).exists()
    searches = ["s00-seed0-free", "s00-seed0-half", "s00-seed1-free", "s00-seed1-half"]
    assert _finished(folder, TRIALS_DIR) == searches
    assert _trained_steps(folder, first_search) == [0, 1, 2, 3]  # not redone
    for key in searches:  # the interrupted ones redo at most the steps after a checkpoint
        assert set(_trained_steps(folder, key)) == {0, 1, 2, 3}, key
    runs = _statuses(folder, TRAIN_RUNS_DIR)
    assert set(runs.values()) == {"finished"} and "multi_task-seed0" in runs
    assert metrics.stat().st_mtime_ns == written  # the finished run was not redone
    assert "continuing the training stage" in rerun.stderr
    assert "training stage:" in rerun.stdout and "delta_m" not in rerun.stdout  # no refs
    assert "leaderboard:" in rerun.stdout and "| multi_task |" in rerun.stdout
    for suffix in ("csv", "md", "json", "html"):
        assert (folder / f"leaderboard.{suffix}").is_file()
    assert json.loads((folder / "provenance.json").read_text())["git"]["commit"]
    # a changed experiment is refused
    assert main([str(config), "search.optim.arch_lr=0.02"]) == 2


def test_interrupted_launcher_leaves_no_ray_process(tmp_path, capfd):
    config = _write(tmp_path, seeds=[0], budgets=[{"name": "free"}])
    folder = tmp_path / "runs" / "tiny"
    proc = _launch(config, "train.enabled=false")
    temp_dir = _wait_for(lambda: _temp_dir(folder), 120, "the cluster started", proc)
    _wait_for(lambda: _statuses(folder), 300, "a trial result", proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), output
    assert not _ray_processes(temp_dir), output
    assert not Path(temp_dir).exists()


@pytest.mark.parametrize(("override", "message"), [
    ("search.sample={optim.arch_lr: {distribution: loguniform, low: 0, high: 1}}",
     "search.sample.optim.arch_lr.low: a log-uniform range needs low > 0"),
    ("search.sample={optim.lrr: {distribution: uniform, low: 0, high: 1}}",
     "not a sampleable key"),
    ("search.sample={optim.lr: {distribution: uniform, low: -1, high: 1}}",
     "search.sample.optim.lr: gives an invalid search config with {'optim.lr': -1.0}"),
    ("search.points=[{optim.lr: 0.1}]", "search.points[0]: keys ['optim.lr'] are not sampled"),
    ("search.seeds=[0, 0]", "search.seeds: a seed is listed twice"),
    ("search.budgets=[{name: a}, {name: a}]", "budget names must differ"),
    ("search.objective=sal", "search.objective: task 'sal' is not one of the experiment's"),
    ("search.objective=salt", "search.objective: must be 'loss' or a task"),
    ("search.asha.reduction_factor=1", "search.asha.reduction_factor: must be greater than "
                                       "or equal to 2"),
    ("data.dataset=nyud", "data.root: dataset 'nyud' needs data.root"),
    ("ray.dashboard_port=80", "ray.dashboard_port: must be greater than or equal to 1024"),
    ("search.optim.max_steps=5", "search: gives an invalid search config"),
])
def test_bad_experiments_fail_before_ray_starts(tmp_path, capsys, override, message):
    config = _write(tmp_path)
    assert main([str(config), override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "runs" / "tiny" / STATE_DIR).exists()
