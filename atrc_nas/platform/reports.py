"""What a trial reports to Ray Tune, and its final report, kept in its run folder.

A report is flat: scalars (``step``, ``objective``, ``val/...`` metrics) and, as JSON text,
its structured parts (a genotype, a run's metrics; Tune would flatten a mapping into many
keys): :func:`encode` and :func:`decode`. The last report of a run that reached its end
says ``is_final``. When its work is completely done (search report, test metrics and
``metrics.json`` written), the trial saves that report as ``final_report.json`` in its run
folder; a trial started again for a run that had finished (the launcher died before Tune
saved that it had) reports the saved one instead of running: :func:`replay_final`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from atrc_nas.fileio import atomic_write_json

FINAL = "is_final"
FINAL_REPORT_FILE = "final_report.json"


def encode(structured: Mapping[str, Any]) -> dict[str, str]:
    """Structured values as JSON text, to travel in a flat report."""
    return {key: json.dumps(value) for key, value in structured.items()}


def decode(result: Mapping[str, Any], structured: Iterable[str]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A report split into its scalars and its structured parts (decoded)."""
    keys = set(structured)
    scalars = {k: v for k, v in result.items() if k not in keys}
    return scalars, {k: json.loads(result[k]) for k in keys if k in result}


def is_final(report: Mapping[str, Any] | None) -> bool:
    return bool((report or {}).get(FINAL))


def save_final(run_dir: Path, report: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the final report of a finished run in its folder; returns it."""
    final = {**report, FINAL: True}
    atomic_write_json(Path(run_dir) / FINAL_REPORT_FILE, final)
    return final


def saved_final(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / FINAL_REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def replay_final(run_dir: Path) -> bool:
    """In a Tune trial: report the run's saved final report again (True), if it has one."""
    saved = saved_final(run_dir)
    if saved is None:
        return False
    from ray import tune

    tune.report(saved)
    return True
