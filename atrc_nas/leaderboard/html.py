"""The leaderboard as ONE self-contained HTML file: no network needed to open it.

Plots are PNGs inlined as base64 data, the only script (sorting the tables by a click on a
column header) is inline. The page holds every table, a Pareto plot per table (Delta_m vs
GFLOPs, genotypes coloured by budget, baselines marked), each genotype's heatmap, the
search's probability curves per trial and the training curves of every run.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from atrc_nas.leaderboard.collect import Leaderboard, Row
from atrc_nas.leaderboard.formats import (
    LEGEND,
    _title,
    compares,
    comparison_text,
    metric_columns,
    stat_text,
    table_notes,
)
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import read_records
from atrc_nas.run_dir import csv_logs

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
td:first-child, th:first-child { text-align: left; }
tr.pareto td:first-child { font-weight: bold; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
.figures img { max-width: 460px; }
code { font-size: 12px; }
"""

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var up = th.dataset.order !== "up";
      th.dataset.order = up ? "up" : "down";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _img(data: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _figure(width: float = 5.0, height: float = 3.2) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def pareto_plot(rows: list[Row]) -> str | None:
    """Delta_m vs GFLOPs of a table's rows (base64 PNG), or None without Delta_m."""
    points = [r for r in rows if r.delta_m is not None and r.gflops is not None]
    if not points:
        return None
    fig, ax = _figure()
    budgets = sorted({r.genotype["budgets"][0] for r in points if r.genotype
                      and r.genotype["budgets"]})
    for row in points:
        if row.genotype:
            budget = row.genotype["budgets"][0] if row.genotype["budgets"] else None
            color = f"C{budgets.index(budget) % 10}" if budget in budgets else "C7"
            ax.scatter(row.gflops, row.delta_m.mean, color=color, marker="o", s=50,  # type: ignore[union-attr]
                       edgecolors="black" if row.pareto else "none", linewidths=1.5,
                       label=f"budget {budget}")
        else:
            ax.scatter(row.gflops, row.delta_m.mean, color="black", marker="s", s=40,  # type: ignore[union-attr]
                       label="baseline")
        ax.annotate(row.network, (row.gflops, row.delta_m.mean), fontsize=7,  # type: ignore[union-attr]
                    xytext=(4, 4), textcoords="offset points")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7)
    ax.set_xlabel("GFLOPs (training crop)")
    ax.set_ylabel("Δm (%)")
    ax.set_title("Δm vs GFLOPs (outlined: Pareto front)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def training_curves(run_dir: Path, title: str) -> str | None:
    """Training and validation loss of one run (base64 PNG), from its CSV logs."""
    rows = [row for start in csv_logs(run_dir) for row in start]
    curves: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key in ("train/loss", "val/loss"):
            if row.get(key):
                curves.setdefault(key, []).append((int(row["step"]), float(row[key])))
    if not curves:
        return None
    fig, ax = _figure(4.2, 2.6)
    for key, points in curves.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _cell(value: Any, shown: str) -> str:
    data = "" if value is None else html.escape(str(value))
    return f'<td data-value="{data}">{html.escape(shown)}</td>'


def _table(rows: list[Row]) -> str:
    metrics = metric_columns(rows)
    versus = ["vs multi_task", "vs random"] if compares(rows) else []
    header = ["network", *metrics, "Δm %", *versus, "params (M)", "GFLOPs", "Pareto",
              "budgets", "seeds", "genotype"]
    out = ['<table class="sortable"><thead><tr>',
           *(f"<th>{html.escape(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        cells = [_cell(row.network, row.network)]
        for metric in metrics:
            stat = row.metrics.get(metric)
            cells.append(_cell(stat.mean if stat else None, stat_text(stat, row, metric)))
        cells += [
            _cell(row.delta_m.mean if row.delta_m else None, stat_text(row.delta_m)),
            *(_cell(c.difference if c else None, comparison_text(c))
              for c in (row.vs_multi_task, row.vs_random) if versus),
            _cell(row.params, "-" if row.params is None else f"{row.params / 1e6:.3f}"),
            _cell(row.gflops, "-" if row.gflops is None else f"{row.gflops:.3f}"),
            _cell(int(row.pareto), "★" if row.pareto else ""),
            _cell(None, ", ".join(row.genotype["budgets"]) if row.genotype else "-"),
            _cell(len(row.seeds), str(len(row.seeds))),
            _cell(None, row.genotype["hash"] if row.genotype else "-"),
        ]
        css = ' class="pareto"' if row.pareto else ""
        out.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _provenance(rows: list[Row]) -> str:
    seen = []
    for row in rows:
        prov = row.provenance
        line = (f"{row.experiment}: config {prov['config_hash']}, git {prov['git_commit']}"
                f"{' (dirty)' if prov['git_dirty'] else ''}, data "
                f"{prov['dataset_fingerprint']}, "
                + ", ".join(f"{k} {v}" for k, v in prov["versions"].items()))
        if line not in seen:
            seen.append(line)
    return "".join(f"<p><code>{html.escape(s)}</code></p>" for s in seen)


def _genotype_figures(rows: list[Row]) -> list[str]:
    from atrc_nas.models.genotype import resolve_genotype

    figures = []
    for row in rows:
        ref = (row.genotype or {}).get("file")
        if not ref:
            continue
        try:
            genotype = resolve_genotype(ref)
        except (OSError, ValueError, KeyError):
            continue  # the file is gone (another machine's experiment folder)
        data = base64.b64encode(genotype.heatmap_png(row.network)).decode()
        reasons = "; ".join(row.genotype["reasons"]) or ref  # type: ignore[index]
        figures.append(_img(data, f"{row.network}: {reasons}"))
    return figures


def _search_figures(layout: ExperimentLayout) -> list[str]:
    figures = []
    for record in read_records(layout, "search"):
        plot = Path(record.run_dir) / "arch_history.png"
        if plot.is_file():
            figures.append(_img(base64.b64encode(plot.read_bytes()).decode(),
                                f"{record.key} ({record.status})"))
    return figures


def to_html(board: Leaderboard) -> str:
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
             "<title>atrc-nas leaderboard</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Leaderboard</h1>",
             f"<p>{html.escape(LEGEND)} Δm against the experiment's own single-task "
             "baselines. Click a column header to sort.</p>"]
    for rows in board.tables:
        parts += [f"<h2>{html.escape(_title(rows))}</h2>", _table(rows)]
        notes = table_notes(rows)
        if notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                         + "</ul>")
        plot = pareto_plot(rows)
        figures = ([_img(plot, "Δm vs GFLOPs")] if plot else []) + _genotype_figures(rows)
        if figures:
            parts.append('<div class="figures">' + "".join(figures) + "</div>")
        parts += ["<h3>Provenance</h3>", _provenance(rows)]
    if board.missing:
        parts.append("<h2>Missing runs</h2><ul>")
        parts += [f"<li>{html.escape(m['experiment'])}: {html.escape(m['key'])} "
                  f"({html.escape(m['status'])}"
                  + (f": {html.escape(str(m['error']))}" if m.get("error") else "") + ")</li>"
                  for m in board.missing]
        parts.append("</ul>")
    parts += [f"<p>Note: {html.escape(n)}</p>" for n in board.notes]
    for name, folder in board.folders.items():
        layout = ExperimentLayout(folder)
        searches = _search_figures(layout)
        if searches:
            parts += [f"<h2>{html.escape(name)}: search, op probabilities per trial</h2>",
                      '<div class="figures">', *searches, "</div>"]
        curves = []
        for run_dir in sorted(layout.stage_dir("train").glob("*")):
            data = training_curves(run_dir, run_dir.name)
            if data:
                curves.append(_img(data, run_dir.name))
        if curves:
            parts += [f"<h2>{html.escape(name)}: training curves</h2>",
                      '<div class="figures">', *curves, "</div>"]
    parts += [f"<script>{_SORT_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
