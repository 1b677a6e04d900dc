"""Driver-side Tune callbacks of a sweep: the records it leaves, and the view it shows.

The view is one line per trial event (started, finished, stopped early, failed with its
message, retried) and, at most every ``every_s`` seconds, one status line with the counts
and the running trials' step and objective; Tune's own tables are off. At the end
:func:`summary_table` lists every trial.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

from atrc_nas.platform.records import (
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,
    trial_record,
    write_trial,
)


def root_cause(error: BaseException) -> BaseException:
    """The exception that started it: through Ray's task wrappers and, for a failed Ray
    Train run, the first failing worker's error."""
    while True:
        failures = getattr(error, "worker_failures", None)
        if failures:
            error = failures[min(failures)]
        elif getattr(error, "cause", None) is not None:
            error = error.cause
        else:
            return error


def error_message(trial: Any) -> str:
    """The failed trial's error as one line (type and message). Tune writes the error to
    the trial's local folder before it reaches its storage: read it there."""
    from ray import cloudpickle

    local = trial.pickled_error_file
    error = None
    if local and Path(local).is_file():
        error = cloudpickle.loads(Path(local).read_bytes())
    if error is None:
        error = trial.get_pickled_error()
    if error is not None:
        cause = root_cause(error)
        return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0]}"
    text = (Path(trial.error_file).read_text() if trial.error_file
            and Path(trial.error_file).is_file() else trial.get_error()) or "unknown error"
    return next((line for line in reversed(text.splitlines()) if line.strip()), text)

Record = Callable[..., dict[str, Any]]  # (trial, status, error=None) -> record
Write = Callable[[Path, dict[str, Any]], Path]


class StageRecorder(Callback):
    """Writes each trial's record (``record(trial, status)``, stored by ``write``) on every
    result and when the trial ends: finished when its last report is final, stopped when
    not, failed with its message."""

    def __init__(self, folder: Path, record: Record = trial_record,
                 write: Write = write_trial) -> None:
        self.folder = Path(folder)
        self.record, self.write = record, write

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.write(self.folder, self.record(trial, RUNNING))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        final = (trial.last_result or {}).get("is_final")
        self.write(self.folder, self.record(trial, FINISHED if final else STOPPED))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.write(self.folder, self.record(trial, FAILED, error_message(trial)))


def _objective(result: dict[str, Any]) -> str:
    value = result.get("objective")
    return "-" if value is None else f"{value:.4g}"


def _gflops(result: dict[str, Any]) -> str:
    value = result.get("head_gflops")
    return "-" if value is None else f"{value:.3g}"


def describe_search(result: dict[str, Any]) -> str:
    return (f"step {result.get('step', '-')}  objective {_objective(result)}  head "
            f"{_gflops(result)} GFLOPs")


def describe_training(result: dict[str, Any]) -> str:
    step = result.get("step", "-")
    loss = result.get("val/loss")
    return f"step {step}" + ("" if loss is None else f"  val loss {loss:.4g}")


class StageProgress(Callback):
    """A readable live view of one stage (see the module docstring)."""

    def __init__(self, stage: str, total: int, total_steps: int, every_s: float = 30.0,
                 describe: Callable[[dict[str, Any]], str] = describe_search,
                 stream: TextIO | None = None) -> None:
        self.stage, self.total, self.total_steps = stage, total, total_steps
        self.describe = describe
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
        config = trial.config
        return config.get("key") or config.get("run", {}).get("key") or trial.trial_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"started  {self._key(trial)}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"retrying {self._key(trial)} from its last checkpoint")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        status = FINISHED if result.get("is_final") else STOPPED
        self._ended[trial.trial_id] = status
        how = "finished" if status == FINISHED else "stopped early"
        self._print(f"{how:<14} {self._key(trial)}  {self.describe(result)}")

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
            for t in running)
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
