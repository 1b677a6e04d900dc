"""What the search sweep leaves in the experiment folder, written by the driver from Tune's
results (so it works when trials run on other nodes):

- ``search_trials/<key>.json``: each trial's status (running, finished, stopped early,
  failed with its message), provenance (sample, seed, budget, sampled values, Optuna and
  Tune trial ids), its last report and its search config;
- ``genotypes/<hash>/<key>.json``: the genotype a trial ended with, in the published format
  (``data``, ``step``; loadable as ``model.genotype``), with its search report and
  provenance. Trials that derive the same genotype share its ``<hash>`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atrc_nas.fileio import atomic_write_json

TRIALS_DIR = "search_trials"
GENOTYPES_DIR = "genotypes"
REPORT_KEYS = ("objective", "step", "is_final", "head_gflops", "meets_budget", "genotype_hash",
               "training_iteration", "time_total_s")
RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"


def report_of(result: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Tune result worth keeping (our report keys and val metrics)."""
    return {k: v for k, v in result.items() if k in REPORT_KEYS or k.startswith("val/")}


def error_message(trial: Any) -> str:
    """The failed trial's exception as one line (type and message)."""
    error = trial.get_pickled_error()
    cause = getattr(error, "cause", None) or error
    if cause is not None:
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    text = trial.get_error() or "unknown error"
    return next((line for line in reversed(text.splitlines()) if line.strip()), text)


def trial_record(trial: Any, status: str, error: str | None = None) -> dict[str, Any]:
    config = trial.config
    result = trial.last_result or {}
    return {
        "key": config["key"], "status": status, "error": error,
        "tune_trial_id": trial.trial_id,
        "provenance": config["provenance"],
        "objective_key": config["objective"]["key"],
        "report": report_of(result),
        "genotype": json.loads(result["genotype"]) if "genotype" in result else None,
        "run_dir": str(Path(config["search"]["output_dir"]) / config["search"]["name"]),
    }


def write_trial(folder: Path, record: dict[str, Any]) -> Path:
    """The trial's record, and its genotype file once it has ended with one."""
    path = atomic_write_json(folder / TRIALS_DIR / f"{record['key']}.json", record)
    if record["status"] in (FINISHED, STOPPED) and record["genotype"] is not None:
        report = record["report"]
        atomic_write_json(
            folder / GENOTYPES_DIR / report["genotype_hash"] / f"{record['key']}.json",
            {**record["genotype"], "genotype_hash": report["genotype_hash"],
             "search_report": {**report, "objective_key": record["objective_key"],
                               "status": record["status"]},
             "provenance": {**record["provenance"], "key": record["key"],
                            "tune_trial_id": record["tune_trial_id"]}},
        )
    return path


def read_trials(folder: Path) -> list[dict[str, Any]]:
    """Every trial record of the experiment, by key."""
    return [json.loads(p.read_text())
            for p in sorted((folder / TRIALS_DIR).glob("*.json"))]

