"""The sweep's searcher without a cluster: replicates, Optuna states, resume of its state."""

from __future__ import annotations

import pickle

import optuna
import pytest
from platform_fixtures import tiny_experiment
from ray.tune.search import Searcher

from atrc_nas.platform.search_stage import SearchStage
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
    stage = SearchStage(experiment)
    specs = stage.plan({})
    searcher = ReplicatedOptunaSearch(stage, specs, stage.layout.study_file, "tiny")
    configs = [searcher.suggest(f"t{i}") for i in range(len(specs))]
    assert searcher.suggest("extra") is Searcher.FINISHED
    keys = [c["key"] for c in configs]
    assert keys[:4] == ["s00-seed0-free", "s00-seed1-free", "s00-seed0-half", "s00-seed1-half"]
    assert {c["provenance"]["params"]["optim.arch_lr"] for c in configs[:4]} == {0.02}
    second = {c["provenance"]["params"]["optim.arch_lr"] for c in configs[4:]}
    assert len(second) == 1 and 0.01 <= second.pop() <= 0.1
    assert all(c["config"]["optim"]["arch_lr"] == c["provenance"]["params"]["optim.arch_lr"]
               for c in configs)
    assert configs[2]["config"]["budget"] == {"gflops": None, "fraction": 0.5, "weight": 1.0}
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


@pytest.mark.parametrize("name", ["quickstart", "synthetic_study", "synthetic_study_wide", "nyud",
                                  "nyud_hrnet48", "pascal"])
def test_shipped_experiments_validate(tmp_path, monkeypatch, name):
    from atrc_nas.config import load_config
    from atrc_nas.platform.config import ExperimentConfig
    from atrc_nas.platform.stages import check_experiment

    for variable in ("ATRC_NAS_NYUD", "ATRC_NAS_PASCAL", "ATRC_NAS_WEIGHTS"):
        monkeypatch.setenv(variable, str(tmp_path))
    for weights in ("hrnetv2_w18_small-b5a04e21.pth", "hrnetv2_w48-d2186c55.pth"):
        (tmp_path / weights).write_bytes(b"")
    # as on a GPU node (a local cluster's resources are checked before it starts)
    synthetic = name in ("quickstart", "synthetic_study", "synthetic_study_wide")
    overrides = [] if synthetic else ["ray.num_cpus=32", "ray.num_gpus=4"]
    experiment = load_config(f"experiments/{name}.yaml", ExperimentConfig, overrides,
                             checks=check_experiment)
    search = experiment.search
    assert len(SearchStage(experiment).plan({})) == (
        len(search.seeds) * len(search.budgets) * search.num_samples) >= 2


class _Trial:
    """What the schedulers read of a Tune trial."""

    def __init__(self, trial_id: str, budget: str) -> None:
        self.trial_id = trial_id
        self.config = {"provenance": {"budget": budget}}

    def __repr__(self) -> str:
        return self.trial_id


def test_asha_runs_per_budget_and_in_the_objective_direction():
    from ray.tune.schedulers import TrialScheduler

    from atrc_nas.platform.searcher import PerBudgetASHA

    def result(value: float) -> dict:
        return {"training_iteration": 1, "objective": value}

    for mode, good, bad in (("max", 10.0, 5.0), ("min", 5.0, 10.0)):
        asha = PerBudgetASHA(mode, max_t=4, grace_period=1, reduction_factor=2)
        first, second, other = _Trial("a1", "a"), _Trial("a2", "a"), _Trial("b1", "b")
        for trial in (first, second, other):
            asha.on_trial_add(None, trial)
        assert asha.on_trial_result(None, first, result(good)) == TrialScheduler.CONTINUE
        assert asha.on_trial_result(None, second, result(bad)) == TrialScheduler.STOP
        # budget b has its own rungs: far worse than budget a, yet not stopped
        worst = -1e9 if mode == "max" else 1e9
        assert asha.on_trial_result(None, other, result(worst)) == TrialScheduler.CONTINUE


def test_a_metric_objective_is_maximised_by_optuna(tmp_path):
    experiment = tiny_experiment(tmp_path, search={"objective": "semseg"})
    stage = SearchStage(experiment)
    assert stage.objective == ("val/semseg/miou", "max")
    searcher = ReplicatedOptunaSearch(stage, stage.plan({}), stage.layout.study_file, "tiny")
    assert searcher.directions == ["maximize", "minimize"]
    assert searcher.study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                         optuna.study.StudyDirection.MINIMIZE]
