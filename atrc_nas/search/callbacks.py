"""Files a search writes after every validation: the genotype, the history and its plot.

- ``atrc_genotype.json``: the derived genotype in the published format (atomic write).
- ``arch_history.jsonl``: one JSON line per validation with the per-pair op probabilities
  (softmax of the logits), which pairs are fixed, the schedule values, costs and metrics.
- ``arch_history.png``: the probability curves of every pair (rows targets, columns sources).

On resume, history lines after the checkpoint's step are dropped so the history equals
that of an uninterrupted run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from atrc_nas.fileio import atomic_write_bytes, atomic_write_text, strict_json
from atrc_nas.search.module import SearchModule

GENOTYPE_FILE = "atrc_genotype.json"
HISTORY_FILE = "arch_history.jsonl"
HISTORY_PLOT = "arch_history.png"


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The records of a history file (a missing file is an empty history)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def history_record(module: SearchModule) -> dict[str, Any]:
    """What a history line holds for the current state of ``module``."""
    arch, step = module.arch, module.global_step
    record: dict[str, Any] = {
        "step": step,
        "tau": module.schedule.tau(step),
        "entropy_weight": module.schedule.entropy_lambda(step),
        "probs": arch.table(arch.probabilities()),
        "fixed": arch.fixed_table(),
        "genotype": arch.genotype(step).stable_hash(),
        "ops_run_total": module.ops_run_total,
        "ops_full_total": module.ops_full_total,
        "val": dict(module.val_metrics),
    }
    if module.cost_model is not None:
        expected = module.cost_model.expected(arch.cost_probabilities())
        record["expected_head_gflops"] = float(expected) / 1e9
        record["genotype_head_gflops"] = module.cost_model.genotype_cost(arch.genotype()) / 1e9
    return record


def plot_history(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Probability curves per pair: a grid of targets (rows) by sources (columns)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(records[-1]["probs"])
    n = len(tasks)
    fig = Figure(figsize=(2.6 * n + 1.5, 2.0 * n + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, n, sharex=True, sharey=True, squeeze=False)
    steps = [r["step"] for r in records]
    handles: dict[str, Any] = {}
    for i, target in enumerate(tasks):
        for j, source in enumerate(tasks):
            ax = axes[i][j]
            for op in records[-1]["probs"][target][source]:
                line, = ax.plot(steps, [r["probs"][target][source][op] for r in records],
                                marker="." if len(steps) < 30 else None, label=op)
                handles.setdefault(op, line)
            fixed = records[-1]["fixed"][target][source]
            ax.set_title(f"{target} <- {source}" + (f" [{fixed}]" if fixed else ""), fontsize=8)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    for row in axes:
        row[0].set_ylabel("p(op)", fontsize=8)
    fig.legend(list(handles.values()), list(handles), loc="upper right", fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.86, bottom=0.08, top=0.93, wspace=0.15, hspace=0.45)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return atomic_write_bytes(path, buffer.getvalue())


class SearchArtifacts(pl.Callback):
    """Writes the genotype, the history line and the plot after every validation."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY_FILE

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        kept = [r for r in read_history(self.history_path) if r["step"] <= trainer.global_step]
        self._write_history(kept)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, SearchModule):
            return
        step = pl_module.global_step
        pl_module.arch.genotype(step).save(self.run_dir / GENOTYPE_FILE)
        records = [r for r in read_history(self.history_path) if r["step"] < step]
        records.append(history_record(pl_module))
        self._write_history(records)
        plot_history(records, self.run_dir / HISTORY_PLOT)

    def _write_history(self, records: list[dict[str, Any]]) -> None:
        atomic_write_text(self.history_path, "".join(strict_json(r) + "\n" for r in records))
