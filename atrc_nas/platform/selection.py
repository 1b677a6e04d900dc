"""Which searched genotypes the training stage trains, and why.

From the search stage's finished trials (stopped and failed ones are left out), genotypes
are deduplicated by hash. A genotype's score is its search objective averaged over the
trials that derived it (several seeds may reach the same one); per budget, over that
budget's trials. Chosen, as the experiment says (``train.select``): the best genotype of
each budget, the Pareto front of objective vs head GFLOPs, the k best overall. Each choice
keeps the reasons it was chosen. Genotypes given in ``train.genotypes`` join them. Written
to ``<experiment>/selection.json``: the genotypes the training stage trains.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord


@dataclass
class Candidate:
    genotype_hash: str
    genotype_file: str  # one of its genotype files (all hold the same), or published:<name>
    head_gflops: float | None
    objective: float | None  # mean over every trial that derived it (None: given)
    trials: list[str] = field(default_factory=list)
    budgets: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _better(mode: str):
    return (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)


def candidates(records: list[TrialRecord], layout: ExperimentLayout) -> dict[str, Candidate]:
    """The distinct genotypes of the finished trials, by hash."""
    groups: dict[str, list[TrialRecord]] = {}
    for record in records:
        if record.finished and record.outputs.get("genotype") is not None:
            groups.setdefault(record.report["genotype_hash"], []).append(record)
    out = {}
    for digest, group in sorted(groups.items()):
        first = sorted(group, key=lambda r: r.key)[0]
        out[digest] = Candidate(
            genotype_hash=digest,
            genotype_file=str(layout.genotype_file(digest, first.key)),
            head_gflops=float(first.report["head_gflops"]),
            objective=statistics.fmean(r.report["objective"] for r in group),
            trials=sorted(r.key for r in group),
            budgets=sorted({r.provenance["budget"] for r in group}),
            seeds=sorted({r.provenance["seed"] for r in group}),
        )
    return out


def pareto_front(items: list[Candidate], mode: str) -> list[Candidate]:
    """Candidates no other one beats in objective without costing more, and vice versa."""
    better = _better(mode)

    def dominates(a: Candidate, b: Candidate) -> bool:
        no_worse = not better(b.objective, a.objective) and a.head_gflops <= b.head_gflops
        return no_worse and (better(a.objective, b.objective) or a.head_gflops < b.head_gflops)

    return [c for c in items if not any(dominates(o, c) for o in items if o is not c)]


def select(records: list[TrialRecord], layout: ExperimentLayout, mode: str, *,
           best_per_budget: bool = True, pareto: bool = False, top_k: int = 0
           ) -> list[Candidate]:
    """The chosen genotypes (each once, with every reason it was chosen)."""
    pool = candidates(records, layout)
    chosen: dict[str, Candidate] = {}

    def choose(candidate: Candidate, reason: str) -> None:
        chosen.setdefault(candidate.genotype_hash, candidate).reasons.append(reason)

    ordered = sorted(pool.values(), key=lambda c: c.objective, reverse=mode == "max")
    if best_per_budget:
        budgets = sorted({b for c in pool.values() for b in c.budgets})
        for budget in budgets:
            scores: dict[str, list[float]] = {}
            for record in records:
                if (record.finished and record.provenance["budget"] == budget
                        and record.report["genotype_hash"] in pool):
                    scores.setdefault(record.report["genotype_hash"], []).append(
                        record.report["objective"])
            means = {h: statistics.fmean(v) for h, v in scores.items()}
            best = min(means, key=means.get) if mode == "min" else max(means, key=means.get)
            choose(pool[best], f"best of budget {budget!r} (objective {means[best]:.4g}, "
                               f"mean over {len(scores[best])} trial(s))")
    if pareto:
        for candidate in pareto_front(list(pool.values()), mode):
            choose(candidate, "on the Pareto front of objective vs head GFLOPs")
    for rank, candidate in enumerate(ordered[:top_k], start=1):
        choose(candidate, f"top {rank} of {len(ordered)} by objective")
    return sorted(chosen.values(), key=lambda c: c.objective, reverse=mode == "max")


def given(genotype: str, genotype_hash: str) -> Candidate:
    """A genotype of ``train.genotypes`` (a file or published:<name>)."""
    return Candidate(genotype_hash=genotype_hash, genotype_file=genotype, head_gflops=None,
                     objective=None, reasons=["given in train.genotypes"])


def write_selection(layout: ExperimentLayout, chosen: list[Candidate], mode: str) -> Path:
    return atomic_write_json(layout.selection_file, {
        "objective_mode": mode, "genotypes": [asdict(c) for c in chosen]})
