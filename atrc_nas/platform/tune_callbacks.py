"""Driver-side Tune callbacks of a sweep: the records it leaves, and the view it shows.

The view is one line per trial event (started, finished, stopped early, failed with its
message, retried) and, at most every ``every_s`` seconds, one status line with the counts
and the running trials' step and objective; Tune's own tables are off. At the end
:func:`summary_table` lists every trial.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

from atrc_nas.platform.records import (
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,
    error_message,
    trial_record,
    write_trial,
)


class SweepRecorder(Callback):
    """Writes ``search_trials/<key>.json`` on every result and when a trial ends, and the
    genotype files of ended trials (``atrc_nas.platform.records``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        write_trial(self.folder, trial_record(trial, RUNNING))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        final = (trial.last_result or {}).get("is_final")
        write_trial(self.folder, trial_record(trial, FINISHED if final else STOPPED))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        write_trial(self.folder, trial_record(trial, FAILED, error_message(trial)))


def _objective(result: dict[str, Any]) -> str:
    value = result.get("objective")
    return "-" if value is None else f"{value:.4g}"


def _gflops(result: dict[str, Any]) -> str:
    value = result.get("head_gflops")
    return "-" if value is None else f"{value:.3g}"


class SweepProgress(Callback):
    """A readable live view of one stage (see the module docstring)."""

    def __init__(self, stage: str, total: int, total_steps: int, every_s: float = 30.0,
                 stream: TextIO | None = None) -> None:
        self.stage, self.total, self.total_steps = stage, total, total_steps
        self.every_s = every_s
        self.stream = stream
        self._started = time.monotonic()
        self._last_status = 0.0
        self._ended: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "stream": None}

    def _print(self, text: str) -> None:
        elapsed = int(time.monotonic() - self._started)
        stamp = f"{elapsed // 60:02d}:{elapsed % 60:02d}"
        print(f"[{self.stage} {stamp}] {text}", file=self.stream or sys.stdout, flush=True)

    def _key(self, trial: Any) -> str:
        return trial.config.get("key", trial.trial_id)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"started  {self._key(trial)}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"retrying {self._key(trial)} from its last checkpoint")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        status = FINISHED if result.get("is_final") else STOPPED
        self._ended[trial.trial_id] = status
        how = "finished" if status == FINISHED else "stopped early (ASHA)"
        self._print(f"{how:<21} {self._key(trial)}  step {result.get('step', '-')}  objective "
                    f"{_objective(result)}  head {_gflops(result)} GFLOPs")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended[trial.trial_id] = FAILED
        self._print(f"failed   {self._key(trial)}: {error_message(trial)}")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if now - self._last_status < self.every_s:
            return
        self._last_status = now
        running = [t for t in trials if t.status == "RUNNING"]
        counts = {s: sum(1 for v in self._ended.values() if v == s)
                  for s in (FINISHED, STOPPED, FAILED)}
        pending = max(0, self.total - len(running) - len(self._ended))
        parts = [f"{len(running)} running", f"{counts[FINISHED]} finished",
                 f"{counts[STOPPED]} stopped", f"{counts[FAILED]} failed",
                 f"{pending} pending"]
        detail = ", ".join(
            f"{self._key(t)} {(t.last_result or {}).get('step', 0)}/{self.total_steps}"
            f" ({_objective(t.last_result or {})})" for t in running)
        self._print(" | ".join(parts) + (f" | {detail}" if detail else ""))


def summary_table(records: list[dict[str, Any]]) -> str:
    """A fixed-width table of every trial of the stage."""
    header = ["trial", "status", "step", "objective", "head GFLOPs", "budget met", "genotype",
              "sampled"]
    rows = []
    for record in records:
        report = record["report"]
        params = record["provenance"]["params"]
        meets = report.get("meets_budget")
        rows.append([
            record["key"], record["status"], str(report.get("step", "-")), _objective(report),
            _gflops(report), "-" if meets is None else ("yes" if meets else "no"),
            report.get("genotype_hash", "-"),
            ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in params.items()) or "-",
        ])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in records if r["status"] == FAILED]
    lines += [f"{r['key']} failed: {r['error']}" for r in failed]
    return "\n".join(lines)
