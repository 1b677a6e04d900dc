"""The launcher as a user runs it: a subprocess with its own loopback cluster, killed,
interrupted and rerun; config errors before Ray starts."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from platform_fixtures import TINY_EXPERIMENT

from atrc_nas.launch import main
from atrc_nas.platform.cluster import _ray_processes
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.run_dir import trained_steps

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, **search) -> Path:
    data = copy.deepcopy(TINY_EXPERIMENT)
    data["output_dir"] = str(tmp_path / "runs")
    data["search"].update(search)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: without the loopback setting this suite makes
    for itself (conftest.py), which the launcher must make on its own."""
    env = dict(os.environ)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    return env


def _launch(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "atrc_nas.launch", str(config), *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=_user_env())


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
    path = ExperimentLayout(folder).ray_processes_file
    return json.loads(path.read_text())["temp_dir"] if path.is_file() else None


def _statuses(folder: Path, stage: str = "search") -> dict[str, str]:
    out = {}
    for path in ExperimentLayout(folder).records_dir(stage).glob("*.json"):
        try:
            out[path.stem] = json.loads(path.read_text())["status"]
        except (json.JSONDecodeError, KeyError):
            continue
    return out


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
    search_temp, first_search = _kill_when(config, folder, "search")
    train_temp, first_run = _kill_when(config, folder, "train")
    assert not _ray_processes(search_temp) and not Path(search_temp).exists()
    metrics = folder / "train" / first_run / "metrics.json"
    written = metrics.stat().st_mtime_ns
    rerun = subprocess.run([sys.executable, "-m", "atrc_nas.launch", str(config)], cwd=REPO,
                           capture_output=True, text=True, timeout=900, env=_user_env())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not _ray_processes(train_temp) and not Path(train_temp).exists()
    searches = ["s00-seed0-free", "s00-seed0-half", "s00-seed1-free", "s00-seed1-half"]
    assert _finished(folder, "search") == searches
    assert trained_steps(folder / "search" / first_search) == [[0, 1, 2, 3]]  # not redone
    for key in searches:  # the interrupted ones redo at most the steps after a checkpoint
        steps = {step for start in trained_steps(folder / "search" / key) for step in start}
        assert steps == {0, 1, 2, 3}, key
    runs = _statuses(folder, "train")
    assert set(runs.values()) == {"finished"} and "multi_task-seed0" in runs
    # the best genotype of each budget was trained (one or two genotypes)
    selected = json.loads(ExperimentLayout(folder).selection_file.read_text())["genotypes"]
    assert selected and {f"atrc-{g['genotype_hash']}-seed0" for g in selected} <= set(runs)
    assert metrics.stat().st_mtime_ns == written  # the finished run was not redone
    assert "continuing the training stage" in rerun.stderr
    assert "training stage:" in rerun.stdout and "delta_m" not in rerun.stdout  # no refs
    assert "leaderboard:" in rerun.stdout and "| multi_task |" in rerun.stdout
    # the reference row and the comparison columns (no Delta_m without references: "-")
    assert "| trivial | " in rerun.stdout and "| vs multi_task | vs random |" in rerun.stdout
    assert json.loads(ExperimentLayout(folder).trivial_file.read_text())["test"]
    for suffix in ("csv", "md", "json", "html"):
        assert (folder / f"leaderboard.{suffix}").is_file()
    assert json.loads((folder / "provenance.json").read_text())["git"]["commit"]
    # a changed experiment is refused
    assert main([str(config), "search.optim.arch_lr=0.02"]) == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_launcher_exits_130_and_leaves_no_ray_process(tmp_path, signum):
    """A search far too long to finish is interrupted after its first report; while it runs,
    a second launcher of the same experiment is refused."""
    config = _write(tmp_path, seeds=[0], budgets=[{"name": "free"}],
                    optim={"max_steps": 2000, "lr": 0.01, "arch_lr": 0.05})
    folder = tmp_path / "runs" / "tiny"
    proc = _launch(config, "train.enabled=false", "ray.dashboard=false")  # search only
    temp_dir = _wait_for(lambda: _temp_dir(folder), 120, "the cluster started", proc)
    _wait_for(lambda: _statuses(folder), 300, "a trial result", proc)
    if signum == signal.SIGINT:
        second = subprocess.run([sys.executable, "-m", "atrc_nas.launch", str(config),
                                 "train.enabled=false"], cwd=REPO, capture_output=True,
                                text=True, timeout=120, env=_user_env())
        assert second.returncode == 2 and "is in use by a running launch" in second.stderr
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "the search stage was interrupted" in output
    assert not _ray_processes(temp_dir), output
    assert not Path(temp_dir).exists()
    assert _statuses(folder) == {"s00-seed0-free": "running"}


def test_an_experiment_without_search_joins_a_running_cluster(cluster, tmp_path):
    """ray.address names the session's cluster: the launcher joins it (no cluster of its
    own) and trains a published genotype, with no search."""
    data = copy.deepcopy(TINY_EXPERIMENT)
    data.update(output_dir=str(tmp_path / "runs"), ray={"address": cluster.address})
    data["search"] = {"enabled": False}
    data["train"].update(genotypes=["published:nyud_hrnet18s"], baselines=[],
                         resources={"workers": 1, "cpus_per_worker": 0.9})
    config = tmp_path / "joined.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(cluster.token_file)}
    done = subprocess.run([sys.executable, "-m", "atrc_nas.launch", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "runs" / "tiny"
    layout = ExperimentLayout(folder)
    assert not layout.ray_state_dir.exists()  # no cluster of its own
    assert not layout.records_dir("search").exists()
    from atrc_nas.models.genotype import resolve_genotype

    digest = resolve_genotype("published:nyud_hrnet18s").stable_hash()
    assert _statuses(folder, "train") == {f"atrc-{digest}-seed0": "finished"}
    selected = json.loads(layout.selection_file.read_text())["genotypes"]
    assert [g["genotype_file"] for g in selected] == ["published:nyud_hrnet18s"]
    assert f"| atrc-{digest} |" in done.stdout


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
    ("search.budgets=[{name: tiny, fraction: 0.01, weight: 1}]",
     "search.budgets[0].fraction: no genotype meets it: the cheapest head costs"),
    ("search.budgets=[{name: tiny, gflops: 0.0, weight: 1}]",
     "search.budgets[0].gflops: no genotype meets it"),
    ("output_dir={file}", "output_dir: is a file, not a folder"),
    ("ray.address=127.0.0.1:99999", "ray.address: must be 'local', 'auto', HOST:PORT"),
    ("ray.address=nowhere", "ray.address: must be 'local', 'auto', HOST:PORT"),
    ("search.resources.cpu=64", "search.resources: one search trial needs 64 CPU (the local "
                                "cluster has 2"),
    ("train.resources.cpus_per_worker=4", "train.resources: one train trial needs 4.01 CPU"),
    ("train.trainer.devices=2", "train.trainer.devices: unknown key"),
    ("train.trainer.strategy=ddp", "train.trainer.strategy: unknown key"),
    ("train.genotypes=[published:nope]", "train.genotypes: unknown published genotype"),
    ("train.seeds=[1, 1]", "train.seeds: a seed is listed twice"),
    ("train.baselines=[multi_task, multi_task]", "train.baselines: a baseline is listed twice"),
    ("train.random.count=0", "train.random.count: must be greater than 0"),
])
def test_bad_experiments_fail_before_ray_starts(tmp_path, capsys, override, message):
    config = _write(tmp_path)
    (tmp_path / "a_file").write_text("x")
    override = override.replace("{file}", str(tmp_path / "a_file"))
    assert main([str(config), override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert all(line.count(", got") <= 1 for line in err.splitlines()), err  # said once
    assert not ExperimentLayout(tmp_path / "runs" / "tiny").ray_state_dir.exists()


def test_abbreviated_flags_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(_write(tmp_path)), "--dry-ru"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --dry-ru" in capsys.readouterr().err


def test_a_cluster_that_does_not_answer_is_refused_within_seconds(tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    assert main([str(_write(tmp_path)), f"ray.address=127.0.0.1:{port}"]) == 2
    assert time.monotonic() - started < 30
    assert f"ray.address 127.0.0.1:{port}: no Ray cluster answers there" in \
        capsys.readouterr().err


def test_dry_run_prints_the_plan_without_starting_ray(tmp_path, capsys):
    config = _write(tmp_path)
    done = subprocess.run([sys.executable, "-m", "atrc_nas.launch", str(config),
                           "train.baselines=[multi_task, random]", "train.random.count=2",
                           "--dry-run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=_user_env())
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "stage search (search stage):" in out and "stage train (training stage):" in out
    for key in ("s00-seed0-free", "s00-seed1-half"):
        assert f"{key}: 4 steps, CPU 1" in out
    assert "after the search: the best genotype of each budget" in out
    assert "multi_task-seed0: 4 steps, CPU 0.96" in out
    assert "random genotypes: 2 per budget (free, half), 1 seed(s) each" in out
    assert len(re.findall(r"atrc-[0-9a-f]{16}-seed0: 4 steps", out)) == 4
    assert not (tmp_path / "runs" / "tiny").exists()  # nothing written, no cluster
