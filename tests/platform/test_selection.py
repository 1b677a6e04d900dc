"""Selection of searched genotypes and Delta_m of the training stage, on constructed records."""

from __future__ import annotations

import pytest

from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord
from atrc_nas.platform.selection import pareto_front, select, write_selection
from atrc_nas.platform.training_results import run_delta_m, single_task_references


def _trial(key, budget, seed, digest, objective, gflops, status="finished"):
    return TrialRecord(stage="search", key=key, status=status,
                       outputs={"genotype": {"data": {}, "step": 1}},
                       provenance={"budget": budget, "seed": seed},
                       report={"genotype_hash": digest, "objective": objective,
                               "head_gflops": gflops})


RECORDS = [
    _trial("s00-seed0-free", "free", 0, "aaa", 10.0, 3.0),
    _trial("s00-seed1-free", "free", 1, "aaa", 14.0, 3.0),   # aaa: mean 12 over 2 seeds
    _trial("s01-seed0-free", "free", 0, "bbb", 11.0, 2.0),   # bbb: 11, cheaper: best of free
    _trial("s00-seed0-half", "half", 0, "ccc", 13.0, 1.0),
    _trial("s00-seed1-half", "half", 1, "ddd", 12.5, 1.5),   # best of half
    _trial("s01-seed0-half", "half", 0, "eee", 9.0, 0.5, status="stopped"),  # never chosen
    _trial("s01-seed1-half", "half", 1, "fff", 20.0, 4.0),   # dominated by everything
]


def test_best_per_budget_uses_the_mean_over_seeds_and_skips_unfinished_trials(tmp_path):
    layout = ExperimentLayout(tmp_path)
    chosen = select(RECORDS, layout, "min")
    assert [c.genotype_hash for c in chosen] == ["bbb", "ddd"]
    assert chosen[0].reasons == ["best of budget 'free' (objective 11, mean over 1 trial(s))"]
    assert chosen[0].genotype_file == str(tmp_path / "genotypes" / "bbb" / "s01-seed0-free.json")
    path = write_selection(layout, chosen, "min")
    assert path.name == "selection.json"


def test_pareto_front_and_top_k(tmp_path):
    layout = ExperimentLayout(tmp_path)
    chosen = {c.genotype_hash: c for c in select(RECORDS, layout, "min",
                                                 best_per_budget=False, pareto=True, top_k=1)}
    # objective vs GFLOPs: bbb (11, 2.0), ccc (13, 1.0), ddd (12.5, 1.5); aaa (12, 3) and
    # fff (20, 4) are dominated by bbb
    assert set(chosen) == {"bbb", "ccc", "ddd"}
    assert chosen["bbb"].reasons == ["on the Pareto front of objective vs head GFLOPs",
                                     "top 1 of 5 by objective"]
    assert select(RECORDS, layout, "max", best_per_budget=False, top_k=1)[0].genotype_hash \
        == "fff"
    assert [c.genotype_hash for c in pareto_front([], "min")] == []


def _run(key, test, task=None, status="finished"):
    return TrialRecord(stage="train", key=key, status=status,
                       provenance={"network": {"task": task}, "seed": 0},
                       outputs={"metrics": {"test": {f"test/{k}": v for k, v in test.items()}}})


def test_delta_m_against_the_experiments_own_single_task_means():
    runs = [
        _run("single_task-semseg-seed0", {"semseg/miou": 40.0}, task="semseg"),
        _run("single_task-semseg-seed1", {"semseg/miou": 44.0}, task="semseg"),  # mean 42
        _run("single_task-depth-seed0", {"depth/rmse": 0.5}, task="depth"),
        _run("multi_task-seed0", {"semseg/miou": 46.2, "depth/rmse": 0.55, "depth/x": 1.0}),
    ]
    refs = single_task_references(runs)
    assert refs["semseg"] == {"value": 42.0, "source": "single_task baselines", "seeds": 2}
    # semseg +10%, depth -10% (lower is better): mean 0
    assert run_delta_m(runs[3], refs) == pytest.approx(0.0)
    assert run_delta_m(runs[0], refs) is None  # single-task runs have none


def test_delta_m_is_absent_without_a_reference_for_every_task_and_yaml_references_fill_in():
    runs = [_run("single_task-semseg-seed0", {"semseg/miou": 40.0}, task="semseg"),
            _run("multi_task-seed0", {"semseg/miou": 44.0, "depth/rmse": 0.4})]
    assert run_delta_m(runs[1], single_task_references(runs)) is None
    refs = single_task_references(runs, {"depth": 0.5, "semseg": 1000.0})
    assert refs["semseg"]["value"] == 40.0  # the experiment's own baseline wins
    assert refs["depth"]["source"] == "train.references"
    assert run_delta_m(runs[1], refs) == pytest.approx((10.0 + 20.0) / 2)
    failed = _run("multi_task-seed1", {"semseg/miou": 1.0, "depth/rmse": 1.0}, status="failed")
    assert run_delta_m(failed, refs) is None


def test_best_per_budget_in_max_mode_takes_the_highest_mean(tmp_path):
    """A metric objective (e.g. semseg mIoU) is maximised: per budget the highest mean wins."""
    layout = ExperimentLayout(tmp_path)
    chosen = select(RECORDS, layout, "max")
    # free: aaa mean 12 beats bbb 11; half: fff 20 beats ccc 13 and ddd 12.5
    assert [c.genotype_hash for c in chosen] == ["fff", "aaa"]
    assert chosen[1].reasons == ["best of budget 'free' (objective 12, mean over 2 trial(s))"]
