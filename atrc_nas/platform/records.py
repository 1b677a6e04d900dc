"""What the search and training stages leave in the experiment folder, written by the
driver from Tune's results (so it works when trials run on other nodes):

- ``search_trials/<key>.json``: each trial's status (running, finished, stopped early,
  failed with its message), provenance (sample, seed, budget, sampled values, Optuna and
  Tune trial ids), its last report and its search config;
- ``genotypes/<hash>/<key>.json``: the genotype a trial ended with, in the published format
  (``data``, ``step``; loadable as ``model.genotype``), with its search report and
  provenance. Trials that derive the same genotype share its ``<hash>`` folder;
- ``train_runs/<key>.json``: each training run's status, network, seed, metrics and the
  local-attention backend of each worker.
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


def _read_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def read_trials(folder: Path) -> list[dict[str, Any]]:
    """Every search trial record of the experiment, by key."""
    return _read_records(folder / TRIALS_DIR)


TRAIN_RUNS_DIR = "train_runs"


def train_record(trial: Any, status: str, error: str | None = None) -> dict[str, Any]:
    """A training run's record: its network, seed and status; when it finished, its
    metrics.json (test metrics of the best-by-validation checkpoint, pooled over every
    worker) and the local-attention backend of each worker."""
    run = trial.config["run"]
    result = trial.last_result or {}
    return {
        "key": run["key"], "status": status, "error": error,
        "tune_trial_id": trial.trial_id, "network": run["network"], "seed": run["seed"],
        "workers": run["resources"]["workers"],
        "metrics": json.loads(result["metrics"]) if "metrics" in result else None,
        "backends": json.loads(result["backends"]) if "backends" in result else None,
        "last_report": {k: v for k, v in result.items()
                        if k.startswith(("val/", "train/loss")) or k in ("step", "epoch")},
        "run_dir": str(Path(run["train"]["output_dir"]) / run["train"]["name"]),
    }


def write_train_run(folder: Path, record: dict[str, Any]) -> Path:
    return atomic_write_json(folder / TRAIN_RUNS_DIR / f"{record['key']}.json", record)


def read_train_runs(folder: Path) -> list[dict[str, Any]]:
    """Every training run record of the experiment, by key."""
    return _read_records(folder / TRAIN_RUNS_DIR)
