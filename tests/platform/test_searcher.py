"""The sweep's searcher without a cluster: replicates, Optuna states, resume of its state."""

from __future__ import annotations

import pickle

import optuna
import pytest
from platform_fixtures import tiny_experiment
from ray.tune.search import Searcher

from atrc_nas.platform.plan import SweepPlan
from atrc_nas.platform.search_stage import STUDY_FILE
from atrc_nas.platform.searcher import ReplicatedOptunaSearch, optuna_outcome

State = optuna.trial.TrialState


@pytest.mark.parametrize(("result", "error", "multi", "want"), [
    ({"objective": 2.0, "head_gflops": 0.5, "is_final": True}, False, True,
     (State.COMPLETE, [2.0, 0.5])),
    ({"objective": 2.0, "head_gflops": 0.5, "is_final": True}, False, False,
     (State.COMPLETE, [2.0])),
    ({"objective": 2.0, "is_final": False}, False, True, (State.PRUNED, None)),
    ({"objective": float("nan"), "head_gflops": 0.5, "is_final": True}, False, True,
     (State.FAIL, None)),
    (None, True, True, (State.FAIL, None)),
])
def test_outcomes(result, error, multi, want):
    assert optuna_outcome(result, error, multi) == want


def test_every_sample_runs_for_every_seed_and_budget_with_the_same_values(tmp_path):
    experiment = tiny_experiment(tmp_path, search={"num_samples": 2,
                                                   "points": [{"optim.arch_lr": 0.02}]})
    plan = SweepPlan(experiment.model_dump(mode="json"))
    searcher = ReplicatedOptunaSearch(plan, experiment.folder / STUDY_FILE, "tiny")
    configs = [searcher.suggest(f"t{i}") for i in range(plan.total_trials)]
    assert searcher.suggest("extra") is Searcher.FINISHED
    keys = [c["key"] for c in configs]
    assert keys[:4] == ["s00-seed0-free", "s00-seed1-free", "s00-seed0-half", "s00-seed1-half"]
    assert {c["provenance"]["params"]["optim.arch_lr"] for c in configs[:4]} == {0.02}
    second = {c["provenance"]["params"]["optim.arch_lr"] for c in configs[4:]}
    assert len(second) == 1 and 0.01 <= second.pop() <= 0.1
    assert all(c["search"]["optim"]["arch_lr"] == c["provenance"]["params"]["optim.arch_lr"]
               for c in configs)
    assert configs[2]["search"]["budget"] == {"gflops": None, "fraction": 0.5, "weight": 1.0}
    # state survives a pickle round trip (Tune saves it with the experiment)
    restored = pickle.loads(pickle.dumps(searcher))
    restored.on_trial_complete("t0", {"objective": 1.0, "head_gflops": 0.1, "is_final": True})
    restored.on_trial_complete("t1", {"objective": 3.0, "is_final": False})
    restored.on_trial_complete("t2", error=True)
    states = {t.user_attrs["key"]: t.state for t in restored.study.trials}
    assert states["s00-seed0-free"] == State.COMPLETE
    assert states["s00-seed1-free"] == State.PRUNED
    assert states["s00-seed0-half"] == State.FAIL
    assert states["s01-seed1-half"] == State.RUNNING


@pytest.mark.parametrize("name", ["quickstart", "nyud", "nyud_hrnet48", "pascal"])
def test_shipped_experiments_validate(tmp_path, monkeypatch, name):
    from atrc_nas.config import load_config
    from atrc_nas.platform.config import ExperimentConfig

    for variable in ("ATRC_NAS_NYUD", "ATRC_NAS_PASCAL", "ATRC_NAS_WEIGHTS"):
        monkeypatch.setenv(variable, str(tmp_path))
    for weights in ("hrnetv2_w18_small-b5a04e21.pth", "hrnetv2_w48-d2186c55.pth"):
        (tmp_path / weights).write_bytes(b"")
    experiment = load_config(f"experiments/{name}.yaml", ExperimentConfig)
    assert SweepPlan(experiment.model_dump(mode="json")).total_trials >= 4
