"""The leaderboard from constructed experiment folders: known numbers in, known means,
stds, Delta_m, order and Pareto marks out, in every format."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from atrc_nas.leaderboard import FORMATS, build, write_leaderboard
from atrc_nas.leaderboard.__main__ import main
from atrc_nas.leaderboard.references import reference_rows
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord, write_record

TASKS = ["semseg", "depth"]


def _metrics(test: dict[str, float], seed: int, gflops: float, dataset: str) -> dict:
    return {"dataset": dataset, "backbone": "hrnet_tiny", "input_size": [32, 40],
            "params": 1000, "gflops": gflops, "seed": seed, "dataset_fingerprint": "fp",
            "steps": 4, "test": {f"test/{k}": v for k, v in test.items()}}


def _run(folder: Path, key: str, network: dict, seed: int, test: dict | None,
         gflops: float = 1.0, status: str = "finished", error: str | None = None,
         dataset: str = "synthetic_nyud") -> None:
    outputs = {"metrics": _metrics(test, seed, gflops, dataset)} if test else {}
    record = TrialRecord(stage="train", key=key, status=status, error=error,
                         provenance={"network": network, "seed": seed}, outputs=outputs)
    write_record(ExperimentLayout(folder), record)


def build_experiment(folder: Path, name: str = "exp", dataset: str = "synthetic_nyud",
                     complete: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "experiment.json").write_text(json.dumps({
        "name": name, "data": {"dataset": dataset, "tasks": TASKS},
        "train": {"seeds": [0, 1], "baselines": ["single_task", "multi_task"],
                  "references": {}}}))
    (folder / "provenance.json").write_text(json.dumps({
        "config_hash": "cfg123", "git": {"commit": "abc", "dirty": True},
        "versions": {"torch": "2.13.0"}}))
    (folder / "selection.json").write_text(json.dumps({"genotypes": [
        {"genotype_hash": "g1", "genotype_file": str(folder / "genotypes/g1/t.json"),
         "reasons": ["best of budget 'free'"], "objective": 5.0, "head_gflops": 0.5},
        {"genotype_hash": "g2", "genotype_file": str(folder / "genotypes/g2/t.json"),
         "reasons": ["best of budget 'half'"], "objective": 6.0, "head_gflops": 0.2}]}))
    write_record(ExperimentLayout(folder), TrialRecord(
        stage="search", key="s00-seed0-free", status="finished", tune_trial_id="t1",
        provenance={"budget": "free", "seed": 0, "params": {"optim.arch_lr": 0.01}},
        report={"genotype_hash": "g1"}, run_dir=str(folder / "search/s00")))
    single = {"task": None}
    # single-task references: semseg 40 and 44 -> 42; depth 0.5 and 0.5 -> 0.5
    for seed, miou in ((0, 40.0), (1, 44.0)):
        _run(folder, f"single_task-semseg-seed{seed}",
             {"id": "single_task-semseg", "task": "semseg"}, seed, {"semseg/miou": miou}, 0.3,
             dataset=dataset)
        _run(folder, f"single_task-depth-seed{seed}",
             {"id": "single_task-depth", "task": "depth"}, seed, {"depth/rmse": 0.5}, 0.3,
             dataset=dataset)
    # multi_task: Delta_m 0 (seed 0: +10 / -10) and -10 (seed 1: 0 / -20): mean -5
    _run(folder, "multi_task-seed0", {**single, "id": "multi_task"}, 0,
         {"semseg/miou": 46.2, "depth/rmse": 0.55}, 1.0, dataset=dataset)
    _run(folder, "multi_task-seed1", {**single, "id": "multi_task"}, 1,
         {"semseg/miou": 42.0, "depth/rmse": 0.6}, 1.0, dataset=dataset)
    # g1: Delta_m +10 twice, cheaper than multi_task: Pareto; g2: +5, cheapest: Pareto
    for seed in (0, 1):
        _run(folder, f"atrc-g1-seed{seed}", {**single, "id": "atrc-g1"}, seed,
             {"semseg/miou": 50.4, "depth/rmse": 0.5}, 0.8, dataset=dataset)
    _run(folder, "atrc-g2-seed0", {**single, "id": "atrc-g2"}, 0,
         {"semseg/miou": 46.2, "depth/rmse": 0.5}, 0.6, dataset=dataset)
    if complete:
        _run(folder, "atrc-g2-seed1", {**single, "id": "atrc-g2"}, 1,
             {"semseg/miou": 46.2, "depth/rmse": 0.5}, 0.6, dataset=dataset)
    else:
        _run(folder, "atrc-g2-seed1", {**single, "id": "atrc-g2"}, 1, None,
             status="failed", error="DivergenceError: the loss diverged at step 3")
        ExperimentLayout(folder).record_file("train", "multi_task-seed1").unlink()
    return folder


def test_means_stds_delta_m_order_and_pareto(tmp_path):
    board = build([build_experiment(tmp_path / "exp")])
    main_table = board.tables[0]
    assert [r.network for r in main_table] == ["atrc-g1", "atrc-g2", "multi_task"]
    g1, g2, mt = main_table
    assert g1.delta_m.mean == pytest.approx(10.0) and g1.delta_m.std == pytest.approx(0.0)
    assert g2.delta_m.mean == pytest.approx(5.0)
    assert mt.delta_m.mean == pytest.approx(-5.0)
    assert mt.delta_m.std == pytest.approx(7.0710678, rel=1e-6)
    assert mt.metrics["semseg/miou"].mean == pytest.approx(44.1) and mt.metrics[
        "semseg/miou"].n == 2
    assert [r.pareto for r in main_table] == [True, True, False]
    assert g1.genotype["budgets"] == ["free"] and g1.genotype["search_trials"] == [
        "s00-seed0-free"]
    assert g1.genotype["sampled"] == [{"optim.arch_lr": 0.01}]
    assert g1.provenance == {"config_hash": "cfg123", "git_commit": "abc", "git_dirty": True,
                             "dataset_fingerprint": "fp", "versions": {"torch": "2.13.0"}}
    # the single-task baselines are tables of their own task sets
    assert sorted(t[0].network for t in board.tables[1:]) == ["single_task-depth",
                                                              "single_task-semseg"]
    assert board.missing == []


def test_every_format_holds_every_row(tmp_path):
    folder = build_experiment(tmp_path / "exp")
    paths = write_leaderboard(folder)
    assert set(paths) == set(FORMATS)
    networks = ["atrc-g1", "atrc-g2", "multi_task", "single_task-semseg", "single_task-depth"]
    text = paths["md"].read_text()
    assert ("| atrc-g1 | 50.4 ± 0 (n=2, 95% CI ±0) | 0.5 ± 0 (n=2, 95% CI ±0) "
            "| 10 ± 0 (n=2, 95% CI ±0) | +15 ± 63.5 (paired, n=2): within noise | - |") in text
    assert re.search(r"\| multi_task \| 44\.1 ± 2\.97 \(n=2, 95% CI ±26\.68\) .* "
                     r"\| -5 ± 7\.071 \(n=2, 95% CI ±63\.53\) \| - \| - \|", text)
    assert "- atrc-g1 (★) is within noise of multi_task on Δm" in text
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["network"] for r in rows][:3] == networks[:3]
    assert float(rows[2]["delta_m mean"]) == pytest.approx(-5.0)
    assert rows[0]["pareto"] == "True" and rows[0]["git dirty"] == "True"
    data = json.loads(paths["json"].read_text())
    assert [r["network"] for r in data["tables"][0]["rows"]] == networks[:3]
    page = paths["html"].read_text()
    assert not re.search(r"https?://", page)  # self-contained: nothing to fetch
    assert "<script>" in page and "data:image/png;base64," in page
    for network in networks:
        assert f'<td data-value="{network}">' in page


def test_failed_and_missing_runs_are_listed_not_fatal(tmp_path):
    board = build([build_experiment(tmp_path / "exp", complete=False)])
    by_key = {m["key"]: m for m in board.missing}
    assert by_key["atrc-g2-seed1"]["status"] == "failed"
    assert by_key["atrc-g2-seed1"]["error"].startswith("DivergenceError")
    assert by_key["multi_task-seed1"]["status"] == "not run"
    g2 = next(r for r in board.tables[0] if r.network == "atrc-g2")
    assert g2.seeds == [0] and g2.metrics["semseg/miou"].std is None
    text = FORMATS["md"](board)
    assert "- exp: atrc-g2-seed1 (failed: DivergenceError" in text


def test_two_datasets_never_share_a_table(tmp_path):
    board = build([build_experiment(tmp_path / "a", "a", "synthetic_nyud"),
                   build_experiment(tmp_path / "b", "b", "nyud")])
    for table in board.tables:
        assert len({(r.dataset, tuple(r.tasks)) for r in table}) == 1
    assert {r.experiment for t in board.tables for r in t} == {"a", "b"}


def test_an_unstarted_training_stage_and_the_cli(tmp_path, capsys):
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / "experiment.json").write_text(json.dumps({
        "name": "fresh", "data": {"dataset": "synthetic_nyud", "tasks": None},
        "train": {"seeds": [0], "baselines": ["multi_task"], "references": {}}}))
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "the training stage has not started" in out and "fresh: multi_task-seed0 (not run)" \
        in out
    assert main([str(tmp_path / "nothing")]) == 2
    assert main([str(folder), "--format", "html", "--out", str(tmp_path / "b.html")]) == 0
    assert (tmp_path / "b.html").read_text().startswith("<!DOCTYPE html>")


def test_a_non_finite_metric_is_shown_as_such(tmp_path):
    folder = build_experiment(tmp_path / "exp")
    # a run whose semseg test metric was NaN (metrics.json stores it as null)
    _run(folder, "atrc-g2-seed1", {"id": "atrc-g2", "task": None}, 1,
         {"semseg/miou": None, "depth/rmse": 0.5}, 0.6)
    board = build([folder])
    g2 = next(r for r in board.tables[0] if r.network == "atrc-g2")
    semseg = g2.metrics["semseg/miou"]
    assert (semseg.mean, semseg.n, semseg.non_finite) == (pytest.approx(46.2), 1, 1)
    assert semseg.text() == "46.2 (n=1, 1 non-finite)"
    assert g2.delta_m.non_finite == 1 and g2.delta_m.n == 1
    for fmt in FORMATS.values():
        fmt(board)  # every format renders it


def _standalone(folder: Path, name: str, network: str, seed: int, miou: float,
                tasks: list[str] | None = None, lr: float = 0.01) -> None:
    run = folder / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "name": name, "seed": seed, "output_dir": str(folder),
        "data": {"dataset": "synthetic_nyud", "tasks": tasks},
        "model": {"network": network, "genotype": None, "options": {}},
        "optim": {"lr": lr}}))
    test = {"semseg/miou": miou} if tasks == ["semseg"] else {"semseg/miou": miou,
                                                            "depth/rmse": 0.5}
    (run / "metrics.json").write_text(json.dumps(_metrics(test, seed, 1.0, "synthetic_nyud")))


def test_a_folder_of_standalone_training_runs(tmp_path, capsys):
    """Runs that differ only in their seed are one row (mean and std over the seeds);
    another learning rate is another row; single-task runs give Delta_m's references."""
    runs = tmp_path / "runs"
    _standalone(runs, "mt_a", "multi_task", 0, 44.0)
    _standalone(runs, "mt_b", "multi_task", 1, 48.0)
    _standalone(runs, "mt_lr", "multi_task", 0, 30.0, lr=0.1)
    _standalone(runs, "st", "single_task", 0, 40.0, tasks=["semseg"])
    (runs / "not_a_run").mkdir()
    board = build([runs])
    multi = [r for t in board.tables for r in t if r.network.startswith("multi_task")]
    assert len(multi) == 2 and sorted(len(r.seeds) for r in multi) == [1, 2]
    pair = next(r for r in multi if r.seeds == [0, 1])
    assert pair.metrics["semseg/miou"].mean == pytest.approx(46.0)
    assert pair.metrics["semseg/miou"].std == pytest.approx(2.8284271, rel=1e-6)
    assert pair.delta_m is None  # no depth reference: Delta_m is left out
    assert main([str(runs)]) == 0
    assert "single_task-semseg" in capsys.readouterr().out
    assert main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "neither an experiment folder" in capsys.readouterr().err


def _with_random_and_trivial(folder: Path) -> Path:
    """The experiment of ``build_experiment`` with one random genotype (budget 'free'; Delta_m
    0 and +5 on seeds 0 and 1) and the trivial predictor (semseg 10, depth 0.55)."""
    selection = json.loads((folder / "selection.json").read_text())
    selection["genotypes"].append({
        "genotype_hash": "r1", "genotype_file": str(folder / "genotypes/r1/random-free-1.json"),
        "reasons": ["random genotype 1 of 1 under budget 'free'"], "objective": None,
        "head_gflops": 0.3, "budgets": ["free"]})
    (folder / "selection.json").write_text(json.dumps(selection))
    for seed, miou in ((0, 42.0), (1, 46.2)):
        _run(folder, f"atrc-r1-seed{seed}", {"task": None, "id": "atrc-r1"}, seed,
             {"semseg/miou": miou, "depth/rmse": 0.5}, 0.7)
    (folder / "trivial.json").write_text(json.dumps({
        "dataset": "synthetic_nyud", "tasks": TASKS, "input_size": [32, 40],
        "predictor": {"semseg": {"class": 0}, "depth": {"mean": 2.0}},
        "test": {"test/semseg/miou": 10.0, "test/depth/rmse": 0.55}}))
    return folder


def test_comparisons_random_pool_and_trivial_rows(tmp_path):
    board = build([_with_random_and_trivial(build_experiment(tmp_path / "exp"))])
    rows = {r.network: r for r in board.tables[0]}
    assert [r.network for r in board.tables[0]] == ["atrc-g1", "atrc-g2", "atrc-r1",
                                                    "multi_task", "trivial"]
    g1, r1, mt, trivial = rows["atrc-g1"], rows["atrc-r1"], rows["multi_task"], rows["trivial"]
    assert r1.kind == "random" and trivial.kind == "trivial" and g1.kind == "genotype"
    # g1 - multi_task: paired differences 10 and 20
    assert g1.vs_multi_task.difference == pytest.approx(15.0)
    assert g1.vs_multi_task.ci == pytest.approx(12.7062047 * 5.0, rel=1e-7)
    assert g1.vs_multi_task.verdict == "within noise" and g1.vs_multi_task.paired
    # g1 - random (same budget): paired differences 10 and 5
    assert g1.vs_random.difference == pytest.approx(7.5)
    assert g1.vs_random.ci == pytest.approx(12.7062047 * 2.5, rel=1e-7)
    assert r1.vs_random is None and r1.vs_multi_task.difference == pytest.approx(7.5)
    assert mt.vs_multi_task is None and mt.vs_random.difference == pytest.approx(-7.5)
    # trivial: Delta_m of (10 vs 42, 0.55 vs 0.5) = (-76.19 - 10) / 2
    assert trivial.delta_m.mean == pytest.approx((-3200 / 42 - 10) / 2)
    assert trivial.metrics["depth/rmse"].mean == 0.55 and not trivial.pareto
    assert g1.vs_trivial == {"semseg/miou": "better", "depth/rmse": "better"}
    assert mt.vs_trivial["depth/rmse"] == "within noise"  # 0.575 +- 0.318 vs 0.55
    paths = write_leaderboard(tmp_path / "exp")
    text = paths["md"].read_text()
    assert "| atrc-g1 | 50.4 ± 0 (n=2, 95% CI ±0) |" in text
    assert "+7.5 ± 31.8 (paired, n=2): within noise |" in text
    assert "0.575 ± 0.03536 (n=2, 95% CI ±0.3177) ‡" in text
    assert "- multi_task: depth/rmse not above the trivial predictor (within noise)" in text
    assert re.search(r"\| trivial \| 10 \(n=1\) \| 0\.55 \(n=1\) \| -43\.1 \(n=1\) \|", text)
    flat = {r["network"]: r for r in csv.DictReader(io.StringIO(paths["csv"].read_text()))}
    assert flat["atrc-g1"]["vs random verdict"] == "within noise"
    assert float(flat["atrc-g1"]["vs multi_task difference"]) == pytest.approx(15.0)
    assert flat["multi_task"]["depth/rmse vs trivial"] == "within noise"
    assert float(flat["multi_task"]["delta_m ci95"]) == pytest.approx(12.7062047 * 5.0)
    data = json.loads(paths["json"].read_text())
    first = data["tables"][0]["rows"][0]
    assert first["vs_multi_task"]["verdict"] == "within noise"
    assert "atrc-g1 (★) is within noise of atrc-r1, multi_task on Δm" in data["tables"][0][
        "notes"]
    page = paths["html"].read_text()
    assert "+7.5 ± 31.8 (paired, n=2): within noise" in page
    assert "depth/rmse not above the trivial predictor (within noise)" in page


def test_an_experiment_of_genotypes_only_borrows_references_on_the_same_data(tmp_path):
    """A second experiment on the same data trains genotypes only: its Delta_m uses the first
    one's single-task runs (said in a note), its rows share the first one's table and are
    compared with its multi-task baseline, and the trivial row appears once."""
    first = _with_random_and_trivial(build_experiment(tmp_path / "exp"))
    second = tmp_path / "wide"
    second.mkdir()
    (second / "experiment.json").write_text(json.dumps({
        "name": "wide", "data": {"dataset": "synthetic_nyud", "tasks": TASKS},
        "train": {"seeds": [0, 1], "baselines": [], "references": {}}}))
    (second / "selection.json").write_text(json.dumps({"genotypes": [
        {"genotype_hash": "w1", "genotype_file": "w1.json", "reasons": ["best of budget 'free'"],
         "objective": 4.0, "head_gflops": 0.9}]}))
    (second / "trivial.json").write_text((first / "trivial.json").read_text())
    for seed in (0, 1):  # Delta_m +10 on both seeds against exp's references (42, 0.5)
        _run(second, f"atrc-w1-seed{seed}", {"task": None, "id": "atrc-w1"}, seed,
             {"semseg/miou": 50.4, "depth/rmse": 0.5}, 0.9)
    board = build([first, second])
    table = board.tables[0]
    wide = next(r for r in table if r.network == "atrc-w1")
    assert wide.experiment == "wide" and wide.delta_m.mean == pytest.approx(10.0)
    assert wide.vs_multi_task.difference == pytest.approx(15.0)  # exp's multi_task
    assert [r.network for r in table].count("trivial") == 1
    assert ("wide: Δm references for depth, semseg from exp's single-task runs (the same "
            "data and model settings)") in board.notes


def test_published_reference_rows_join_their_table_and_bad_files_are_refused(tmp_path, capsys):
    folder = build_experiment(tmp_path / "exp")
    refs = tmp_path / "refs.yaml"
    refs.write_text(
        "references:\n"
        "  - {name: 'paper: X', source: 'Someone 2021, table 2', dataset: synthetic_nyud,\n"
        "     tasks: [semseg, depth], backbone: hrnet_tiny, input_size: [32, 40], seeds: 5,\n"
        "     metrics: {semseg/miou: 55.5, depth/rmse: 0.45}}\n"
        "  - {name: 'paper: Y', source: 'elsewhere', dataset: nyud, tasks: [semseg],\n"
        "     backbone: hrnet48, input_size: [425, 560], metrics: {semseg/miou: 46.3}}\n")
    out = tmp_path / "board.md"
    assert main([str(folder), "--references", str(refs), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| paper: X | 55.5 (published, 5 seeds) | 0.45 (published, 5 seeds) | - |" in text
    assert "- paper: X: Someone 2021, table 2" in text
    assert ("Note: reference row 'paper: Y' (nyud, semseg, hrnet48, 425x560) matches no "
            "table") in text
    board = build([folder], reference_rows(refs))
    first = board.tables[0]
    assert first[-1].network == "paper: X" and not first[-1].pareto  # after measured rows
    assert first[0].vs_multi_task is not None  # comparisons unchanged by the reference row
    refs.write_text("references:\n  - {name: a, source: b, dataset: nyud, tasks: [semseg],\n"
                    "     backbone: hrnet48, input_size: [4, 4], metrics: {semseg/rmse: 1.0}}\n")
    capsys.readouterr()
    assert main([str(folder), "--references", str(refs)]) == 2
    err = capsys.readouterr().err
    assert "references[0].metrics: ['semseg/rmse'] are not primary metrics" in err
    assert "Traceback" not in err
