"""The leaderboard's rows, read from the files of experiment folders (no Ray, no cluster).

One row per trained network of an experiment (each selected genotype, each baseline):
its primary test metric per task as mean +- std over the seeds that finished (with their
count), Delta_m likewise, params and GFLOPs at the training crop, for genotypes the search
provenance, and for every row the experiment config hash, the git commit (and whether the
tree was dirty), the dataset fingerprint and the package versions. Runs that failed or
never ran are listed as missing. Rows are grouped so that different datasets, task sets,
backbones or resolutions never share a table; within a table they are sorted by Delta_m,
and the Pareto front of Delta_m (higher) vs GFLOPs (lower) is marked.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atrc_nas.data.spec import get_dataset_spec
from atrc_nas.platform.records import FINISHED, read_train_runs, read_trials
from atrc_nas.platform.selection import SELECTION_FILE
from atrc_nas.platform.train_plan import run_key, stage_networks
from atrc_nas.platform.training_results import (
    run_delta_m,
    single_task_references,
    test_primaries,
)
from atrc_nas.tasks import get_task

EXPERIMENT_FILE = "experiment.json"
PROVENANCE_FILE = "provenance.json"


@dataclass
class Stat:
    mean: float
    std: float | None  # None with fewer than two values
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        if not values:
            return None
        return cls(statistics.fmean(values),
                   statistics.stdev(values) if len(values) > 1 else None, len(values))

    def text(self, digits: int = 4) -> str:
        spread = "" if self.std is None else f" ± {self.std:.{digits}g}"
        return f"{self.mean:.{digits}g}{spread} (n={self.n})"


@dataclass
class Row:
    experiment: str
    network: str  # e.g. atrc-<hash>, multi_task, single_task-semseg
    kind: str  # genotype or baseline
    dataset: str
    tasks: list[str]
    backbone: str
    input_size: list[int]
    metrics: dict[str, Stat]  # "<task>/<metric>" -> over finished seeds
    delta_m: Stat | None
    params: int | None
    gflops: float | None
    seeds: list[int]
    missing: list[dict[str, Any]]  # runs of this network that failed or never ran
    genotype: dict[str, Any] | None
    provenance: dict[str, Any]
    pareto: bool = False

    @property
    def group(self) -> tuple[str, tuple[str, ...], str, tuple[int, ...]]:
        return (self.dataset, tuple(self.tasks), self.backbone, tuple(self.input_size))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Leaderboard:
    tables: list[list[Row]]
    missing: list[dict[str, Any]] = field(default_factory=list)  # across all folders
    notes: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)  # experiment name -> folder


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _genotype_provenance(digest: str, selection: list[dict[str, Any]],
                         trials: list[dict[str, Any]]) -> dict[str, Any]:
    chosen = next((g for g in selection if g["genotype_hash"] == digest), {})
    found = [t for t in trials if t["report"].get("genotype_hash") == digest
             and t["status"] == FINISHED]
    return {
        "hash": digest, "file": chosen.get("genotype_file"),
        "reasons": chosen.get("reasons", []), "objective": chosen.get("objective"),
        "head_gflops": chosen.get("head_gflops"),
        "budgets": sorted({t["provenance"]["budget"] for t in found}),
        "search_seeds": sorted({t["provenance"]["seed"] for t in found}),
        "search_trials": sorted(t["key"] for t in found),
        "tune_trial_ids": sorted(t["tune_trial_id"] for t in found),
        "sampled": [t["provenance"]["params"] for t in sorted(found, key=lambda t: t["key"])],
    }


def experiment_rows(folder: Path) -> tuple[list[Row], list[dict[str, Any]], list[str]]:
    """Rows, missing runs and notes of one experiment folder (finished or not)."""
    folder = Path(folder)
    experiment = _read_json(folder / EXPERIMENT_FILE)
    if experiment is None:
        return [], [], [f"{folder}: no {EXPERIMENT_FILE}: not an experiment folder"]
    name = experiment["name"]
    notes: list[str] = []
    provenance = _read_json(folder / PROVENANCE_FILE) or {}
    selection = (_read_json(folder / SELECTION_FILE) or {}).get("genotypes")
    trials = read_trials(folder)
    runs = {r["key"]: r for r in read_train_runs(folder)}
    if selection is None:
        notes.append(f"{name}: the search stage has not finished (no {SELECTION_FILE}): no "
                     "genotype is trained yet")
        selection = []
    data, train = experiment["data"], experiment["train"]
    tasks = data["tasks"] or list(get_dataset_spec(data["dataset"]).tasks)
    networks = stage_networks(tasks, train["baselines"], selection)
    refs = single_task_references(list(runs.values()), train.get("references"))
    rows: list[Row] = []
    missing_all: list[dict[str, Any]] = []
    for net in networks:
        keys = [run_key(net, seed) for seed in train["seeds"]]
        done = [runs[k] for k in keys if k in runs and runs[k]["status"] == FINISHED
                and runs[k].get("metrics")]
        missing = [{"key": k, "status": runs[k]["status"] if k in runs else "not run",
                    "error": runs.get(k, {}).get("error")} for k in keys
                   if k not in {r["key"] for r in done}]
        missing_all += [{"experiment": name, **m} for m in missing]
        if not done:
            continue
        first = done[0]["metrics"]
        per_task: dict[str, list[float]] = {}
        for run in done:
            for task, value in test_primaries(run["metrics"]).items():
                per_task.setdefault(f"{task}/{get_task(task).metric}", []).append(value)
        deltas = [d for d in (run_delta_m(r, refs) for r in done) if d is not None]
        rows.append(Row(
            experiment=name, network=net.id,
            kind="genotype" if net.genotype_hash else "baseline",
            dataset=first["dataset"], tasks=[net.task] if net.task else list(tasks),
            backbone=first["backbone"], input_size=list(first["input_size"]),
            metrics={k: Stat.of(v) for k, v in per_task.items()},
            delta_m=Stat.of(deltas), params=first["params"], gflops=first["gflops"],
            seeds=sorted(r["seed"] for r in done), missing=missing,
            genotype=_genotype_provenance(net.genotype_hash, selection, trials)
            if net.genotype_hash else None,
            provenance={"config_hash": provenance.get("config_hash"),
                        "git_commit": provenance.get("git", {}).get("commit"),
                        "git_dirty": provenance.get("git", {}).get("dirty"),
                        "dataset_fingerprint": first.get("dataset_fingerprint"),
                        "versions": provenance.get("versions", {})},
        ))
    return rows, missing_all, notes


def _pareto(rows: list[Row]) -> None:
    """Mark rows no other row beats on Delta_m without costing more GFLOPs (and vice versa)."""
    scored = [r for r in rows if r.delta_m is not None and r.gflops is not None]
    for row in scored:
        row.pareto = not any(
            o.delta_m.mean >= row.delta_m.mean and o.gflops <= row.gflops  # type: ignore[union-attr]
            and (o.delta_m.mean > row.delta_m.mean or o.gflops < row.gflops)  # type: ignore[union-attr]
            for o in scored if o is not row)


def build(folders: list[Path]) -> Leaderboard:
    """The leaderboard of one or more experiment folders."""
    groups: dict[tuple, list[Row]] = {}
    missing: list[dict[str, Any]] = []
    notes: list[str] = []
    named: dict[str, Path] = {}
    for folder in folders:
        experiment = _read_json(Path(folder) / EXPERIMENT_FILE)
        if experiment is not None:
            named[experiment["name"]] = Path(folder)
        rows, gone, said = experiment_rows(folder)
        missing += gone
        notes += said
        for row in rows:
            groups.setdefault(row.group, []).append(row)
    tables = []
    for group in sorted(groups, key=lambda g: (len(g[1]) == 1, g)):
        rows = groups[group]
        _pareto(rows)
        rows.sort(key=lambda r: (r.delta_m is None, -(r.delta_m.mean if r.delta_m else 0),
                                 r.network))
        tables.append(rows)
    return Leaderboard(tables, missing, notes, named)
