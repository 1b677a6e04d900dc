"""The leaderboard as CSV, Markdown and JSON (HTML: ``html.py``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from atrc_nas.fileio import strict_json
from atrc_nas.leaderboard.collect import Leaderboard, Row, Stat
from atrc_nas.leaderboard.stats import BETTER, Comparison

NOT_ABOVE_TRIVIAL = "‡"
LEGEND = ("Metrics and Δm: mean ± std (n seeds, half width of the 95% t interval of the "
          "mean). vs multi_task / vs random: the difference in Δm (points) with its 95% "
          "interval, paired by seed where both have the seed (random: the mean per seed of the "
          "experiment's random genotypes, of the same budget where there are some), and "
          "the verdict. "
          f"★ Pareto front of mean Δm vs GFLOPs. {NOT_ABOVE_TRIVIAL} not above the trivial "
          "predictor beyond noise.")


def metric_columns(rows: list[Row]) -> list[str]:
    """The metric keys of a table, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row.metrics))
    return list(seen)


def stat_text(stat: Stat | None, row: Row | None = None, key: str = "") -> str:
    """A mean +- std (n, CI) cell, marked when the row's metric ``key`` is not above the
    trivial predictor beyond noise."""
    if stat is None:
        return "-"
    if row is not None and row.kind == "paper":
        seeds = row.provenance.get("published_seeds")
        return f"{stat.mean:.4g} (published" + (f", {seeds} seeds)" if seeds else ")")
    low = row is not None and key in row.vs_trivial and row.vs_trivial[key] != BETTER
    return stat.text() + (f" {NOT_ABOVE_TRIVIAL}" if low else "")


def comparison_text(comparison: Comparison | None) -> str:
    return "-" if comparison is None else comparison.text()


def _predictor(row: Row) -> str:
    def shown(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, list):
            return "(" + ", ".join(map(shown, value)) + ")"
        return str(value)

    return "; ".join(f"{task} " + ", ".join(f"{k} {shown(v)}" for k, v in value.items())
                     for task, value in row.provenance["predictor"].items())


def compares(rows: list[Row]) -> bool:
    """Whether a table has the comparison columns (multi-task rows are compared)."""
    return any(len(row.tasks) > 1 for row in rows)


def table_notes(rows: list[Row]) -> list[str]:
    """What the cells cannot say: Pareto points within noise of others, metrics that are not
    above the trivial predictor."""
    notes = [f"trivial: a constant per task from the training split ({_predictor(row)})"
             for row in rows if row.kind == "trivial"]
    notes += [f"{row.network}: {row.provenance['source']}" for row in rows
              if row.kind == "paper"]
    notes += [f"{row.network} (★) is within noise of {', '.join(row.pareto_ties)} on Δm"
             for row in rows if row.pareto and row.pareto_ties]
    for row in rows:
        low = {k: v for k, v in row.vs_trivial.items() if v != BETTER}
        if low:
            notes.append(f"{row.network}: " + ", ".join(
                f"{k} not above the trivial predictor ({v})" for k, v in low.items()))
    return notes


def _budgets(row: Row) -> str:
    return ", ".join(row.genotype["budgets"]) if row.genotype else "-"


def _title(rows: list[Row]) -> str:
    first = rows[0]
    h, w = first.input_size
    return (f"{first.dataset} | tasks {', '.join(first.tasks)} | {first.backbone} | "
            f"{h}x{w}")


def to_markdown(board: Leaderboard) -> str:
    out: list[str] = []
    for rows in board.tables:
        metrics = metric_columns(rows)
        versus = ["vs multi_task", "vs random"] if compares(rows) else []
        header = ["network", *metrics, "Δm %", *versus, "params (M)", "GFLOPs", "Pareto",
                  "budgets", "seeds"]
        out += [f"### {_title(rows)}", "", "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header)]
        for row in rows:
            cells = [row.network, *(stat_text(row.metrics.get(m), row, m) for m in metrics),
                     stat_text(row.delta_m),
                     *(comparison_text(c) for c in (row.vs_multi_task, row.vs_random)
                       if versus),
                     "-" if row.params is None else f"{row.params / 1e6:.3f}",
                     "-" if row.gflops is None else f"{row.gflops:.3f}",
                     "★" if row.pareto else "", _budgets(row), str(len(row.seeds))]
            out.append("| " + " | ".join(cells) + " |")
        out += ["", *(f"- {n}" for n in table_notes(rows)), ""]
    if board.tables:
        out += [LEGEND, ""]
    if board.missing:
        out += ["Missing runs:", ""]
        out += [f"- {m['experiment']}: {m['key']} ({m['status']}"
                + (f": {m['error']}" if m.get("error") else "") + ")" for m in board.missing]
        out.append("")
    out += [f"Note: {n}" for n in board.notes]
    if not board.tables and not board.notes:
        out.append("No finished training run yet.")
    return "\n".join(out).rstrip() + "\n"


def _flat(row: Row) -> dict[str, Any]:
    flat: dict[str, Any] = {
        "experiment": row.experiment, "network": row.network, "kind": row.kind,
        "dataset": row.dataset, "tasks": " ".join(row.tasks), "backbone": row.backbone,
        "input_size": "x".join(map(str, row.input_size)),
    }
    for key, stat in [*row.metrics.items(), ("delta_m", row.delta_m)]:
        flat.update({f"{key} mean": stat.mean if stat else None,
                     f"{key} std": stat.std if stat else None,
                     f"{key} n": stat.n if stat else None,
                     f"{key} ci95": stat.ci if stat else None})
        if key in row.vs_trivial:
            flat[f"{key} vs trivial"] = row.vs_trivial[key]
    for name, comparison in (("vs multi_task", row.vs_multi_task),
                             ("vs random", row.vs_random)):
        flat.update({f"{name} difference": comparison.difference if comparison else None,
                     f"{name} ci95": comparison.ci if comparison else None,
                     f"{name} n": comparison.n if comparison else None,
                     f"{name} paired": comparison.paired if comparison else None,
                     f"{name} verdict": comparison.verdict if comparison else None})
    flat.update(params=row.params, gflops=row.gflops, pareto=row.pareto,
                **{"pareto within noise of": " ".join(row.pareto_ties)},
                seeds=" ".join(map(str, row.seeds)),
                missing=" ".join(m["key"] for m in row.missing))
    genotype = row.genotype or {}
    flat.update({"genotype hash": genotype.get("hash"), "genotype file": genotype.get("file"),
                 "budgets": " ".join(genotype.get("budgets", [])),
                 "search trials": " ".join(genotype.get("search_trials", [])),
                 "search objective": genotype.get("objective"),
                 "sampled": json.dumps(genotype.get("sampled")) if genotype else None})
    prov = row.provenance
    flat.update({"config hash": prov["config_hash"], "git commit": prov["git_commit"],
                 "git dirty": prov["git_dirty"],
                 "dataset fingerprint": prov["dataset_fingerprint"],
                 "versions": " ".join(f"{k}={v}" for k, v in prov["versions"].items())})
    return flat


def to_csv(board: Leaderboard) -> str:
    """One CSV of every row of every table (the grouping columns tell the tables apart)."""
    rows = [_flat(r) for table in board.tables for r in table]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(board: Leaderboard) -> str:
    return strict_json({
        "tables": [{"title": _title(t), "rows": [r.as_dict() for r in t],
                    "notes": table_notes(t)}
                   for t in board.tables],
        "missing": board.missing, "notes": board.notes, "legend": LEGEND,
    }, indent=2) + "\n"
