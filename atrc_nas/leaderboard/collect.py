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

from atrc_nas.leaderboard.stats import (
    WITHIN_NOISE,
    Comparison,
    ci_half_width,
    compare,
    verdict,
)
from atrc_nas.metrics.delta import delta_m
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.provenance import config_hash
from atrc_nas.platform.records import FINISHED, TrialRecord, read_records
from atrc_nas.platform.train_plan import RANDOM, Network, run_key, stage_networks
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
    ci: float | None = None  # half width of the 95% interval of the mean (n >= 2)

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat | None:
        values = list(values)
        finite = [v for v in values if v is not None and math.isfinite(v)]
        bad = len(values) - len(finite)
        if not finite:
            return cls(math.nan, None, 0, bad) if bad else None
        return cls(statistics.fmean(finite),
                   statistics.stdev(finite) if len(finite) > 1 else None, len(finite), bad,
                   ci_half_width(finite))

    def text(self, digits: int = 4) -> str:
        bad = f", {self.non_finite} non-finite" if self.non_finite else ""
        if not self.n:
            return f"non-finite (n=0{bad})"
        spread = "" if self.std is None else f" ± {self.std:.{digits}g}"
        interval = "" if self.ci is None else f", 95% CI ±{self.ci:.{digits}g}"
        return f"{self.mean:.{digits}g}{spread} (n={self.n}{interval}{bad})"


@dataclass
class Row:
    experiment: str
    network: str  # e.g. atrc-<hash>, multi_task, single_task-semseg, trivial
    kind: str  # genotype (searched or given), random, baseline, trivial
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
    delta_m_by_seed: dict[int, float] = field(default_factory=dict)
    metrics_by_seed: dict[str, dict[int, float]] = field(default_factory=dict)
    vs_multi_task: Comparison | None = None  # Delta_m against the multi-task baseline
    vs_random: Comparison | None = None  # Delta_m against the random genotypes
    pareto_ties: list[str] = field(default_factory=list)  # Pareto rows within noise of it
    vs_trivial: dict[str, str] = field(default_factory=dict)  # metric -> verdict

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
        "budgets": sorted({t.provenance["budget"] for t in found}) or chosen.get("budgets", []),
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
        per_task: dict[str, dict[int, float]] = {}
        deltas: dict[int, float] = {}
        for run in done:
            seed = run.provenance["seed"]
            for task, value in test_primaries(run_metrics(run)).items():  # type: ignore[arg-type]
                per_task.setdefault(f"{task}/{get_task(task).metric}", {})[seed] = value
            delta = None if net.task else run_delta_m(run, refs)
            if delta is not None:  # None: no reference (not non-finite)
                deltas[seed] = delta
        genotype = genotypes.get(net.genotype_hash or "")
        reasons = (genotype or {}).get("reasons", [])
        random = bool(reasons) and all(r.startswith(RANDOM) for r in reasons)
        rows.append(Row(
            experiment=name, network=net.id,
            kind=RANDOM if random else "genotype" if net.genotype_hash else "baseline",
            dataset=first["dataset"],
            tasks=[net.task] if net.task else list(test_primaries(first)),
            backbone=first["backbone"], input_size=list(first["input_size"]),
            metrics={k: Stat.of(v.values()) for k, v in per_task.items()},
            delta_m=Stat.of(deltas.values()) if deltas else None,
            params=first["params"], gflops=first["gflops"],
            seeds=sorted(r.provenance["seed"] for r in done), missing=missing,
            genotype=genotype, delta_m_by_seed=deltas, metrics_by_seed=per_task,
            provenance={"config_hash": provenance.get("config_hash"),
                        "git_commit": (provenance.get("git") or {}).get("commit"),
                        "git_dirty": (provenance.get("git") or {}).get("dirty"),
                        "dataset_fingerprint": first.get("dataset_fingerprint"),
                        "versions": provenance.get("versions", {})},
        ))
    return rows, missing_all


SingleTaskRuns = dict[str, dict[str, list[TrialRecord]]]  # data key -> experiment -> runs


def _data_key(experiment: dict[str, Any]) -> str:
    """Experiments with equal data and model sections train on the same data from the same
    start: their single-task runs are interchangeable references."""
    return config_hash({"data": experiment.get("data"), "model": experiment.get("model")})


@dataclass
class ExperimentFolder:
    """An experiment folder's ``experiment.json`` and training records, read once per build
    (the rows of every experiment may borrow from the others)."""

    path: Path
    experiment: dict[str, Any] | None
    runs: list[TrialRecord]

    @classmethod
    def read(cls, path: Path) -> ExperimentFolder:
        layout = ExperimentLayout(path)
        return cls(path, _read_json(layout.experiment_file), read_records(layout, "train"))


def single_task_runs(folders: list[ExperimentFolder]) -> SingleTaskRuns:
    """The finished single-task runs of each experiment folder, by the data they ran on."""
    found: SingleTaskRuns = {}
    for folder in folders:
        experiment = folder.experiment or {}
        name = experiment.get("name", folder.path.name)
        for run in folder.runs:
            if run_metrics(run) and run.provenance["network"].get("task"):
                found.setdefault(_data_key(experiment), {}).setdefault(name, []).append(run)
    return found


def _borrowed(experiment: dict[str, Any], runs: list[TrialRecord], tasks: list[str],
              others: SingleTaskRuns) -> tuple[list[TrialRecord], list[str]]:
    """Single-task runs of other experiments with the same data and model settings for the
    tasks this one has no reference of: an experiment that trains only genotypes gets its
    Delta_m from another one's baselines."""
    name = experiment["name"]
    own = {r.provenance["network"].get("task") for r in runs if run_metrics(r)}
    given = experiment["train"].get("references") or {}
    lacking = [t for t in tasks if t not in own and t not in given]
    out: list[TrialRecord] = []
    notes: list[str] = []
    for other, theirs in others.get(_data_key(experiment), {}).items():
        found = [r for r in theirs if other != name
                 and r.provenance["network"]["task"] in lacking]
        if found:
            taken = sorted({r.provenance["network"]["task"] for r in found})
            notes.append(f"{name}: Δm references for {', '.join(taken)} from {other}'s "
                         "single-task runs (the same data and model settings)")
            out += found
            lacking = [t for t in lacking if t not in taken]
    return out, notes


def experiment_rows(folder: ExperimentFolder, others: SingleTaskRuns | None = None
                    ) -> tuple[list[Row], list[dict[str, Any]], list[str]]:
    """Rows, missing runs and notes of one experiment folder (finished or not); Delta_m
    references it lacks come from ``others`` (see :func:`_borrowed`)."""
    layout = ExperimentLayout(folder.path)
    experiment = folder.experiment
    if experiment is None:
        return [], [], [f"{folder.path}: no {layout.EXPERIMENT}: not an experiment folder"]
    name = experiment["name"]
    notes: list[str] = []
    provenance = _read_json(layout.provenance_file) or {}
    selection = (_read_json(layout.selection_file) or {}).get("genotypes")
    trials = read_records(layout, "search")
    runs = {r.key: r for r in folder.runs}
    if selection is None:
        notes.append(f"{name}: the training stage has not started (no {layout.SELECTION}): "
                     "no genotype is trained yet")
        selection = []
    data, train = experiment["data"], experiment["train"]
    tasks = data["tasks"] or list(_dataset_tasks(data["dataset"]))
    networks = stage_networks(tasks, train["baselines"], selection)
    keys = {net.id: [run_key(net, seed) for seed in train["seeds"]] for net in networks}
    borrowed, said = _borrowed(experiment, list(runs.values()), tasks, others or {})
    notes += said
    refs = single_task_references([*runs.values(), *borrowed], train.get("references"))
    genotypes = {g["genotype_hash"]: _genotype_provenance(g["genotype_hash"], selection, trials)
                 for g in selection}
    rows, missing = _network_rows(name, networks, keys, runs, refs, provenance, genotypes)
    trivial = _read_json(layout.trivial_file)
    if trivial is not None:
        rows += trivial_rows(name, rows, trivial, refs)
    return rows, missing, notes


def trivial_rows(name: str, rows: list[Row], trivial: dict[str, Any],
                 refs: dict[str, dict[str, Any]]) -> list[Row]:
    """The trivial predictor as a row of every table of the experiment (its tasks)."""
    primaries = test_primaries(trivial)
    out: dict[tuple, Row] = {}
    for row in rows:
        if row.group in out:
            continue
        tasks = [t for t in row.tasks if t in primaries]
        values = {t: primaries[t] for t in tasks}
        delta = (delta_m(values, {t: r["value"] for t, r in refs.items()})
                 if len(tasks) > 1 and all(t in refs for t in tasks) else None)
        out[row.group] = Row(
            experiment=name, network="trivial", kind="trivial", dataset=row.dataset,
            tasks=row.tasks, backbone=row.backbone, input_size=row.input_size,
            metrics={f"{t}/{get_task(t).metric}": Stat(v, None, 1) for t, v in values.items()},
            delta_m=None if delta is None else Stat(delta, None, 1), params=None,
            gflops=None, seeds=[], missing=[],
            genotype=None, provenance={**row.provenance, "predictor": {
                t: trivial["predictor"][t] for t in tasks}})
    return list(out.values())


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

REFERENCE_KINDS = ("trivial", "paper")  # rows that are not this board's trained networks


def _measured(row: Row) -> bool:
    return (row.kind not in REFERENCE_KINDS and row.delta_m is not None
            and bool(row.delta_m.n))


def _pareto(rows: list[Row]) -> None:
    """Mark rows no other row beats on mean Delta_m without costing more GFLOPs (and vice
    versa); each marked row names the rows whose Delta_m is within noise of its own."""
    scored = [r for r in rows if _measured(r) and r.gflops is not None]
    for row in scored:
        row.pareto = not any(
            o.delta_m.mean >= row.delta_m.mean and o.gflops <= row.gflops  # type: ignore[union-attr,operator]
            and (o.delta_m.mean > row.delta_m.mean or o.gflops < row.gflops)  # type: ignore[union-attr,operator]
            for o in scored if o is not row)
    for row in (r for r in scored if r.pareto):
        for other in scored:
            found = other is not row and compare(other.delta_m_by_seed, row.delta_m_by_seed)
            if found and found.verdict == WITHIN_NOISE:
                row.pareto_ties.append(other.network)


def _random_pool(rows: list[Row], budgets: list[str], experiment: str) -> dict[int, float]:
    """Per seed, the mean Delta_m of the experiment's random genotypes (drawn from its own
    search space; of ``budgets`` where there are some, else of all): the random baseline as
    one network, paired by seed."""
    randoms = [r for r in rows if r.kind == RANDOM and _measured(r)
               and r.experiment == experiment]
    matching = [r for r in randoms if set(budgets) & set((r.genotype or {}).get("budgets", []))]
    by_seed: dict[int, list[float]] = {}
    for row in matching or randoms:
        for seed, value in row.delta_m_by_seed.items():
            by_seed.setdefault(seed, []).append(value)
    return {seed: statistics.fmean(values) for seed, values in by_seed.items()}


def _compare_rows(rows: list[Row]) -> None:
    """Every multi-task row's Delta_m against the multi-task baseline and the random pool."""
    baseline = next((r for r in rows if r.network == "multi_task" and _measured(r)), None)
    for row in rows:
        if not _measured(row) or len(row.tasks) < 2:
            continue
        if baseline is not None and row is not baseline:
            row.vs_multi_task = compare(row.delta_m_by_seed, baseline.delta_m_by_seed)
        if row.kind != RANDOM:
            pool = _random_pool(rows, (row.genotype or {}).get("budgets", []), row.experiment)
            row.vs_random = compare(row.delta_m_by_seed, pool) if pool else None


def _against_trivial(rows: list[Row]) -> None:
    """Per metric of each row: its mean minus the trivial predictor's value, judged with the
    row's own interval (the trivial predictor has no seed noise)."""
    trivial = next((r for r in rows if r.kind == "trivial"), None)
    if trivial is None:
        return
    for row in rows:
        if row.kind in REFERENCE_KINDS:
            continue
        for key, stat in row.metrics.items():
            floor = trivial.metrics.get(key)
            if stat is None or not stat.n or floor is None:
                continue
            task = key.split("/", 1)[0]
            row.vs_trivial[key] = verdict(stat.mean - floor.mean, stat.ci,
                                          get_task(task).higher_is_better)


def _order(row: Row) -> tuple[bool, bool, float, str]:
    delta = row.delta_m.mean if _measured(row) else None  # type: ignore[union-attr]
    return (row.kind in REFERENCE_KINDS, delta is None, -(delta or 0.0), row.network)


def build(folders: list[Path], references: list[Row] | None = None) -> Leaderboard:
    """The leaderboard of experiment folders and folders of standalone training runs, with
    ``references`` (published rows, ``references.py``) in the tables they match."""
    groups: dict[tuple, list[Row]] = {}
    missing: list[dict[str, Any]] = []
    notes: list[str] = []
    named: dict[str, Path] = {}
    folders = [Path(f) for f in folders]
    experiments = {f: ExperimentFolder.read(f) for f in folders
                   if ExperimentLayout.holds_experiment(f)}
    others = single_task_runs(list(experiments.values()))
    for folder in folders:
        if folder in experiments:
            found = experiments[folder]
            named[(found.experiment or {}).get("name", folder.name)] = folder
            rows, gone, said = experiment_rows(found, others)
        else:
            rows, gone, said = standalone_rows(folder)
        missing += gone
        notes += said
        for row in rows:
            table = groups.setdefault(row.group, [])
            if row.kind == "trivial":
                same = [r for r in table if r.kind == "trivial"]
                fingerprint = row.provenance["dataset_fingerprint"]
                if any(r.provenance["dataset_fingerprint"] == fingerprint for r in same):
                    continue  # the same data's trivial predictor, from another experiment
                if same:
                    row.network = f"trivial ({row.experiment})"
            table.append(row)
    for row in references or []:
        if row.group in groups:
            groups[row.group].append(row)
        else:
            notes.append(f"reference row {row.network!r} ({row.dataset}, "
                         f"{', '.join(row.tasks)}, {row.backbone}, "
                         f"{'x'.join(map(str, row.input_size))}) matches no table")
    tables = []
    for group in sorted(groups, key=lambda g: (len(g[1]) == 1, g)):
        rows = groups[group]
        _pareto(rows)
        _compare_rows(rows)
        _against_trivial(rows)
        rows.sort(key=_order)
        tables.append(rows)
    return Leaderboard(tables, missing, notes, named)
