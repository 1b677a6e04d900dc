"""The leaderboard's rows, read from files (no Ray, no torch): launcher experiment folders,
and folders of standalone training runs (``python -m atrc_nas.train`` run folders).

One row per trained network (each genotype, each baseline): its primary test metric per
task as mean +- std over the seeds that finished (with their count; a non-finite value is
counted and shown, not averaged), Delta_m likewise, params and GFLOPs at the training crop,
for genotypes the search provenance, and for every row the experiment config hash, the git
commit (and whether the tree was dirty), the dataset fingerprint and the package versions.
Runs that failed or never ran are listed as missing. Rows are grouped so that different
datasets, task sets, backbones or resolutions never share a table; within a table they are
sorted by Delta_m, and the Pareto front of Delta_m (higher) vs GFLOPs (lower) is marked.

Standalone runs are grouped by their config with the seed, name and output folder left
out: runs that differ only in the seed are one row.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.provenance import config_hash
from atrc_nas.platform.records import FINISHED, TrialRecord, read_records
from atrc_nas.platform.train_plan import Network, run_key, stage_networks
from atrc_nas.platform.training_results import (
    run_delta_m,
    run_metrics,
    single_task_references,
    test_primaries,
)
from atrc_nas.run_dir import CONFIG_FILE, METRICS_FILE
from atrc_nas.tasks import get_task


@dataclass
class Stat:
    mean: float
    std: float | None  # None with fewer than two values
    n: int  # finite values
    non_finite: int = 0  # NaN/inf (or missing) values, left out of mean and std

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat | None:
        values = list(values)
        finite = [v for v in values if v is not None and math.isfinite(v)]
        bad = len(values) - len(finite)
        if not finite:
            return cls(math.nan, None, 0, bad) if bad else None
        return cls(statistics.fmean(finite),
                   statistics.stdev(finite) if len(finite) > 1 else None, len(finite), bad)

    def text(self, digits: int = 4) -> str:
        bad = f", {self.non_finite} non-finite" if self.non_finite else ""
        if not self.n:
            return f"non-finite (n=0{bad})"
        spread = "" if self.std is None else f" ± {self.std:.{digits}g}"
        return f"{self.mean:.{digits}g}{spread} (n={self.n}{bad})"


@dataclass
class Row:
    experiment: str
    network: str  # e.g. atrc-<hash>, multi_task, single_task-semseg
    kind: str  # genotype or baseline
    dataset: str
    tasks: list[str]
    backbone: str
    input_size: list[int]
    metrics: dict[str, Stat | None]  # "<task>/<metric>" -> over finished seeds
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
                         trials: list[TrialRecord]) -> dict[str, Any]:
    chosen = next((g for g in selection if g["genotype_hash"] == digest), {})
    found = sorted((t for t in trials if t.report.get("genotype_hash") == digest
                    and t.status == FINISHED), key=lambda t: t.key)
    return {
        "hash": digest, "file": chosen.get("genotype_file"),
        "reasons": chosen.get("reasons", []), "objective": chosen.get("objective"),
        "head_gflops": chosen.get("head_gflops"),
        "budgets": sorted({t.provenance["budget"] for t in found}),
        "search_seeds": sorted({t.provenance["seed"] for t in found}),
        "search_trials": [t.key for t in found],
        "tune_trial_ids": sorted(t.tune_trial_id or "" for t in found),
        "sampled": [t.provenance["params"] for t in found],
    }


def _network_rows(name: str, networks: list[Network], keys: dict[str, list[str]],
                  runs: dict[str, TrialRecord], refs: dict[str, dict[str, Any]],
                  provenance: dict[str, Any], genotypes: dict[str, dict[str, Any]],
                  ) -> tuple[list[Row], list[dict[str, Any]]]:
    """One row per network with a finished run; the runs that are missing."""
    rows: list[Row] = []
    missing_all: list[dict[str, Any]] = []
    for net in networks:
        done = [runs[k] for k in keys[net.id] if k in runs and run_metrics(runs[k])]
        missing = [{"key": k, "status": runs[k].status if k in runs else "not run",
                    "error": runs[k].error if k in runs else None}
                   for k in keys[net.id] if k not in {r.key for r in done}]
        missing_all += [{"experiment": name, **m} for m in missing]
        if not done:
            continue
        first: dict[str, Any] = run_metrics(done[0])  # type: ignore[assignment]
        per_task: dict[str, list[float]] = {}
        for run in done:
            for task, value in test_primaries(run_metrics(run)).items():  # type: ignore[arg-type]
                per_task.setdefault(f"{task}/{get_task(task).metric}", []).append(value)
        rows.append(Row(
            experiment=name, network=net.id,
            kind="genotype" if net.genotype_hash else "baseline",
            dataset=first["dataset"],
            tasks=[net.task] if net.task else list(test_primaries(first)),
            backbone=first["backbone"], input_size=list(first["input_size"]),
            metrics={k: Stat.of(v) for k, v in per_task.items()},
            delta_m=None if net.task else Stat.of(   # None: no reference (not non-finite)
                d for d in (run_delta_m(r, refs) for r in done) if d is not None),
            params=first["params"], gflops=first["gflops"],
            seeds=sorted(r.provenance["seed"] for r in done), missing=missing,
            genotype=genotypes.get(net.genotype_hash or ""),
            provenance={"config_hash": provenance.get("config_hash"),
                        "git_commit": (provenance.get("git") or {}).get("commit"),
                        "git_dirty": (provenance.get("git") or {}).get("dirty"),
                        "dataset_fingerprint": first.get("dataset_fingerprint"),
                        "versions": provenance.get("versions", {})},
        ))
    return rows, missing_all


def experiment_rows(folder: Path) -> tuple[list[Row], list[dict[str, Any]], list[str]]:
    """Rows, missing runs and notes of one experiment folder (finished or not)."""
    layout = ExperimentLayout(folder)
    experiment = _read_json(layout.experiment_file)
    if experiment is None:
        return [], [], [f"{folder}: no {layout.EXPERIMENT}: not an experiment folder"]
    name = experiment["name"]
    notes: list[str] = []
    provenance = _read_json(layout.provenance_file) or {}
    selection = (_read_json(layout.selection_file) or {}).get("genotypes")
    trials = read_records(layout, "search")
    runs = {r.key: r for r in read_records(layout, "train")}
    if selection is None:
        notes.append(f"{name}: the training stage has not started (no {layout.SELECTION}): "
                     "no genotype is trained yet")
        selection = []
    data, train = experiment["data"], experiment["train"]
    tasks = data["tasks"] or list(_dataset_tasks(data["dataset"]))
    networks = stage_networks(tasks, train["baselines"], selection)
    keys = {net.id: [run_key(net, seed) for seed in train["seeds"]] for net in networks}
    refs = single_task_references(list(runs.values()), train.get("references"))
    genotypes = {g["genotype_hash"]: _genotype_provenance(g["genotype_hash"], selection, trials)
                 for g in selection}
    rows, missing = _network_rows(name, networks, keys, runs, refs, provenance, genotypes)
    return rows, missing, notes


def _dataset_tasks(dataset: str) -> tuple[str, ...]:
    from atrc_nas.data.registry import get_dataset_spec

    return get_dataset_spec(dataset).tasks


# -- standalone training runs -------------------------------------------------------------

_NOT_IDENTITY = ("name", "seed", "output_dir")  # what may differ between one row's runs


def standalone_runs(folder: Path) -> list[Path]:
    """The finished training run folders directly under ``folder``."""
    return sorted(p for p in Path(folder).iterdir() if (p / CONFIG_FILE).is_file()
                  and (p / METRICS_FILE).is_file())


def _standalone_network(config: dict[str, Any], identity: str) -> Network:
    model = config["model"]
    tasks = config["data"].get("tasks") or []
    if model["network"] == "single_task" or (model["network"] == "multi_task"
                                             and len(tasks) == 1):
        task = model.get("options", {}).get("task") or tasks[0]
        return Network(f"single_task-{task}-{identity}", "single_task", task=task)
    if model.get("genotype"):
        from atrc_nas.models.genotype import resolve_genotype

        digest = resolve_genotype(model["genotype"]).stable_hash()
        return Network(f"atrc-{digest}-{identity}", model["network"], digest, model["genotype"])
    return Network(f"{model['network']}-{identity}", model["network"])


def standalone_rows(folder: Path) -> tuple[list[Row], list[dict[str, Any]], list[str]]:
    """Rows of a folder of standalone training runs: runs whose configs differ only in the
    seed (and name) are one row, named by its network and the hash of that config."""
    networks: dict[str, Network] = {}
    keys: dict[str, list[str]] = {}
    runs: dict[str, TrialRecord] = {}
    for run_dir in standalone_runs(folder):
        config = json.loads((run_dir / CONFIG_FILE).read_text())
        identity = config_hash({k: v for k, v in config.items() if k not in _NOT_IDENTITY})[:8]
        net = _standalone_network(config, identity)
        networks.setdefault(net.id, net)
        keys.setdefault(net.id, []).append(run_dir.name)
        runs[run_dir.name] = TrialRecord(
            stage="train", key=run_dir.name, status=FINISHED,
            provenance={"network": net.as_dict(), "seed": config["seed"]},
            outputs={"metrics": json.loads((run_dir / METRICS_FILE).read_text())},
            run_dir=str(run_dir))
    refs = single_task_references(list(runs.values()))
    genotypes = {n.genotype_hash: {"hash": n.genotype_hash, "file": n.genotype_file,
                                   "reasons": [], "budgets": []}
                 for n in networks.values() if n.genotype_hash}
    rows, missing = _network_rows(Path(folder).name, list(networks.values()), keys, runs,
                                  refs, {}, genotypes)
    return rows, missing, []


# -- the board ------------------------------------------------------------------------------

def _pareto(rows: list[Row]) -> None:
    """Mark rows no other row beats on Delta_m without costing more GFLOPs (and vice versa)."""
    scored = [r for r in rows if r.delta_m is not None and r.delta_m.n
              and r.gflops is not None]
    for row in scored:
        row.pareto = not any(
            o.delta_m.mean >= row.delta_m.mean and o.gflops <= row.gflops  # type: ignore[union-attr,operator]
            and (o.delta_m.mean > row.delta_m.mean or o.gflops < row.gflops)  # type: ignore[union-attr,operator]
            for o in scored if o is not row)


def _order(row: Row) -> tuple[bool, float, str]:
    delta = row.delta_m.mean if row.delta_m is not None and row.delta_m.n else None
    return (delta is None, -(delta or 0.0), row.network)


def build(folders: list[Path]) -> Leaderboard:
    """The leaderboard of experiment folders and folders of standalone training runs."""
    groups: dict[tuple, list[Row]] = {}
    missing: list[dict[str, Any]] = []
    notes: list[str] = []
    named: dict[str, Path] = {}
    for folder in folders:
        folder = Path(folder)
        if ExperimentLayout.holds_experiment(folder):
            named[(_read_json(ExperimentLayout(folder).experiment_file) or {}).get(
                "name", folder.name)] = folder
            rows, gone, said = experiment_rows(folder)
        else:
            rows, gone, said = standalone_rows(folder)
        missing += gone
        notes += said
        for row in rows:
            groups.setdefault(row.group, []).append(row)
    tables = []
    for group in sorted(groups, key=lambda g: (len(g[1]) == 1, g)):
        rows = groups[group]
        _pareto(rows)
        rows.sort(key=_order)
        tables.append(rows)
    return Leaderboard(tables, missing, notes, named)
