"""Driver-side Tune callbacks of any stage: the records it leaves, and the view it shows.

The view is one line per trial event (started, finished, stopped early, failed with its
message, retried) and, at most every ``every_s`` seconds, one status line with the counts
and the running trials' steps; Tune's own tables are off. At the end the stage's
``summarise`` lists every trial.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

from atrc_nas.platform.records import FAILED, FINISHED, RUNNING, STOPPED
from atrc_nas.platform.reports import is_final
from atrc_nas.platform.stage import Stage


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

class StageRecorder(Callback):
    """Writes each trial's record (``stage.record``, stored by ``stage.write``) on every
    result and when the trial ends: finished when its last report is final, stopped when
    not, failed with its message."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.stage.write(self.stage.record(trial, RUNNING))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        status = FINISHED if is_final(trial.last_result) else STOPPED
        self.stage.write(self.stage.record(trial, status))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.stage.write(self.stage.record(trial, FAILED, error_message(trial)))


class StageProgress(Callback):
    """A readable live view of one stage (see the module docstring)."""

    def __init__(self, stage: Stage, total: int, total_steps: int, every_s: float = 30.0,
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
        print(f"[{self.stage.name} {stamp}] {text}", file=self.stream or sys.stdout,
              flush=True)

    def _key(self, trial: Any) -> str:
        return trial.config.get("key") or trial.trial_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"started  {self._key(trial)}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"retrying {self._key(trial)} from its last checkpoint")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        status = FINISHED if is_final(result) else STOPPED
        self._ended[trial.trial_id] = status
        how = "finished" if status == FINISHED else "stopped early"
        self._print(f"{how:<14} {self._key(trial)}  {self.stage.describe(result)}")

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
