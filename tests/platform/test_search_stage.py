"""Search sweeps through Ray Tune on the session's loopback cluster (tiny trials)."""

from __future__ import annotations

import json

import optuna
import pytest
from platform_fixtures import tiny_experiment

from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import read_records
from atrc_nas.platform.runner import run_stage
from atrc_nas.platform.search_stage import SearchStage
from atrc_nas.platform.searcher import open_study


def _study(experiment, directions=("minimize", "minimize")):
    return open_study(ExperimentLayout(experiment.folder).study_file, experiment.name,
                      list(directions), 0)


def run_search_stage(experiment, cluster, every_s: float = 0):
    stage = SearchStage(experiment)
    return run_stage(stage, stage.plan({}), cluster, every_s=every_s)


def test_sweep_runs_every_seed_and_budget_and_writes_genotypes(cluster, tmp_path):
    experiment = tiny_experiment(tmp_path)
    layout = ExperimentLayout(experiment.folder)
    records = run_search_stage(experiment, cluster, every_s=0)
    assert sorted(r.key for r in records) == [
        "s00-seed0-free", "s00-seed0-half", "s00-seed1-free", "s00-seed1-half"]
    assert {r.status for r in records} == {"finished"}
    params = {json.dumps(r.provenance["params"]) for r in records}
    assert len(params) == 1  # one sample, run for every seed and budget
    for record in records:
        report = record.report
        assert report["step"] == 4 and report["is_final"]
        path = layout.genotype_file(report["genotype_hash"], record.key)
        saved = json.loads(path.read_text())
        assert saved["provenance"]["seed"] == record.provenance["seed"]
        assert saved["provenance"]["budget"] == record.provenance["budget"]
        assert saved["search_report"]["head_gflops"] == report["head_gflops"]
        assert resolve_genotype(path).stable_hash() == report["genotype_hash"]
        search_report = json.loads((layout.run_dir("search", record.key) /
                                    "search_report.json").read_text())
        # the verdict is the derived genotype's cost against the trial's own budget
        assert report["meets_budget"] == search_report["meets_budget"]
        if record.provenance["budget"] == "half":
            assert report["meets_budget"] is (
                report["head_gflops"] <= 0.5 * search_report["max_head_gflops"] * (1 + 1e-9))
        else:
            assert report["meets_budget"] is None  # no budget: nothing to meet
    trials = _study(experiment).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert sorted(t.user_attrs["key"] for t in trials) == sorted(r.key for r in records)
    assert {t.values[1] for t in trials} == {r.report["head_gflops"] for r in records}


def test_asha_stops_a_weak_trial_as_pruned_and_a_failing_trial_does_not_sink_the_sweep(
        cluster, tmp_path):
    """Three fixed points, one at a time in one budget: a good learning rate, one too small
    to learn (ASHA stops it after its first period: PRUNED) and one that diverges (FAIL,
    with the divergence message); the sweep goes on after each."""
    experiment = tiny_experiment(tmp_path, search={
        "optim": {"max_steps": 9, "lr": 0.01, "arch_lr": 0.05},
        "trainer": {"accelerator": "cpu", "val_every_n_steps": 3, "log_every_n_steps": 1,
                    "limit_val_batches": 1},
        "seeds": [0], "budgets": [{"name": "free"}],
        "sample": {"optim.lr": {"distribution": "loguniform", "low": 1e-9, "high": 1e12}},
        "points": [{"optim.lr": 0.05}, {"optim.lr": 1e-9}, {"optim.lr": 1e12}],
        "num_samples": 3, "max_concurrent_trials": 1, "max_failures": 1,
        "asha": {"enabled": True, "grace_period": 1, "reduction_factor": 2},
    })
    records = {r.key: r for r in run_search_stage(experiment, cluster, every_s=0)}
    assert records["s00-seed0-free"].status == "finished"
    assert records["s01-seed0-free"].status == "stopped"
    assert records["s01-seed0-free"].report["step"] == 3
    failed = records["s02-seed0-free"]
    assert failed.status == "failed"
    assert failed.error.startswith("DivergenceError: the loss diverged at step")
    states = {t.user_attrs["key"]: t.state for t in _study(experiment).trials}
    assert states == {"s00-seed0-free": optuna.trial.TrialState.COMPLETE,
                      "s01-seed0-free": optuna.trial.TrialState.PRUNED,
                      "s02-seed0-free": optuna.trial.TrialState.FAIL}
    assert read_records(ExperimentLayout(experiment.folder), "search") == list(records.values())


def test_no_listener_outside_loopback(cluster):
    import subprocess

    from atrc_nas.platform.cluster import _ray_processes

    pids = {p.pid for p in _ray_processes(cluster.temp_dir)}
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True)
    ours = [line for line in listing.stdout.splitlines()
            if any(f"pid={pid}," in line for pid in pids)]
    assert len(ours) >= 4  # GCS, raylet, dashboard, agents
    for line in ours:
        local = line.split()[3]
        assert local.rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]"), line


def test_dashboard_answers_on_loopback_with_the_token_only(cluster):
    import urllib.error
    import urllib.request

    assert cluster.dashboard_url.startswith("http://127.0.0.1:")
    url = f"{cluster.dashboard_url}/api/version"
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(url, timeout=10)
    token = cluster.token_file.read_text().strip()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["ray_version"]
