"""The leaderboard as CSV, Markdown and JSON (HTML: ``html.py``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from atrc_nas.fileio import strict_json
from atrc_nas.leaderboard.collect import Leaderboard, Row, Stat


def metric_columns(rows: list[Row]) -> list[str]:
    """The metric keys of a table, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row.metrics))
    return list(seen)


def _stat(stat: Stat | None) -> str:
    return "-" if stat is None else stat.text()


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
        header = ["network", *metrics, "Δm %", "params (M)", "GFLOPs", "Pareto", "budgets",
                  "seeds"]
        out += [f"### {_title(rows)}", "", "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header)]
        for row in rows:
            cells = [row.network, *(_stat(row.metrics.get(m)) for m in metrics),
                     _stat(row.delta_m),
                     "-" if row.params is None else f"{row.params / 1e6:.3f}",
                     "-" if row.gflops is None else f"{row.gflops:.3f}",
                     "★" if row.pareto else "", _budgets(row), str(len(row.seeds))]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
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
    for key, stat in row.metrics.items():
        flat[f"{key} mean"], flat[f"{key} std"], flat[f"{key} n"] = stat.mean, stat.std, stat.n
    flat["delta_m mean"] = row.delta_m.mean if row.delta_m else None
    flat["delta_m std"] = row.delta_m.std if row.delta_m else None
    flat.update(params=row.params, gflops=row.gflops, pareto=row.pareto,
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
        "tables": [{"title": _title(t), "rows": [r.as_dict() for r in t]}
                   for t in board.tables],
        "missing": board.missing, "notes": board.notes,
    }, indent=2) + "\n"
