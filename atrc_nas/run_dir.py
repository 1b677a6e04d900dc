"""Run folders: never overwritten without ``--resume``, resumed only with the same settings,
and from an intact checkpoint.

A run folder (``<output_dir>/<name>/``) holds ``config.json``, ``checkpoints/`` and the
run's results. Starting a run where results already lie is refused; ``--resume`` checks
that the saved config matches in every setting that can change results, and picks the
newest checkpoint that is not truncated.
"""

from __future__ import annotations

import csv
import logging
import zipfile
from pathlib import Path

from pydantic import BaseModel

from atrc_nas.config import ConfigError, check_resumable, config_dict
from atrc_nas.fileio import atomic_write_json

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
METRICS_FILE = "metrics.json"  # a finished training run's results
LOGS_DIR = "logs"  # logs/version_N/metrics.csv: one folder per start of the run


def csv_logs(run_dir: Path) -> list[list[dict[str, str]]]:
    """The rows of the run's CSV log, one list per start (first start first)."""
    starts = []
    logs = sorted((Path(run_dir) / LOGS_DIR).glob("version_*/metrics.csv"),
                  key=lambda p: int(p.parent.name.removeprefix("version_")))
    for log in logs:
        with log.open() as handle:
            starts.append(list(csv.DictReader(handle)))
    return starts


def trained_steps(run_dir: Path) -> list[list[int]]:
    """The steps each start of the run trained (the rows that logged a training loss)."""
    return [[int(row["step"]) for row in rows if row.get("train/loss")]
            for rows in csv_logs(run_dir)]


def checkpoint_is_intact(path: Path) -> bool:
    """Whether ``path`` is a complete torch checkpoint (a zip archive whose every member
    passes its CRC check); a truncated or empty file is not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def resume_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint to resume ``run_dir`` from: ``last.ckpt`` when intact, else the newest
    intact checkpoint (with a warning); None when there is none yet."""
    folder = run_dir / CHECKPOINT_DIR
    last = folder / LAST_CHECKPOINT
    candidates = sorted(folder.glob("*.ckpt"), key=lambda p: (p != last, -p.stat().st_mtime))
    broken = []
    for path in candidates:
        if checkpoint_is_intact(path):
            if broken:
                log.warning("%s is truncated or corrupt; resuming from %s, the newest intact "
                            "checkpoint", ", ".join(map(str, broken)), path)
            return path
        broken.append(path)
    if broken:
        raise ConfigError(f"{run_dir}: every checkpoint is truncated or corrupt "
                          f"({', '.join(map(str, broken))}); nothing intact to resume from: "
                          "start a new run under another name")
    return None


def holds_results(run_dir: Path) -> list[str]:
    """What in ``run_dir`` marks it as a run's folder (config, checkpoints, results)."""
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))


def check_run_dir(run_dir: Path, cfg: BaseModel, resume: bool) -> Path | None:
    """Check that ``run_dir`` can take a start (or a resume) with ``cfg``, writing nothing;
    returns the checkpoint to resume from (None: start at step 0)."""
    config_file = run_dir / CONFIG_FILE
    if not resume:
        found = holds_results(run_dir)
        if found:
            raise ConfigError(f"{run_dir} already holds a run ({', '.join(found[:5])}); pass "
                              "--resume to continue it, or choose another name (name=...)")
        return None
    if not config_file.is_file():
        raise ConfigError(f"--resume: nothing to resume in {run_dir} (no {CONFIG_FILE}: the run "
                          "never started there); drop --resume to start it")
    check_resumable(type(cfg), config_file, cfg)
    checkpoint = resume_checkpoint(run_dir)
    if checkpoint is None:
        log.warning("%s has no checkpoint yet (stopped before its first validation); "
                    "starting it again from step 0", run_dir)
    return checkpoint


def write_config(run_dir: Path, cfg: BaseModel) -> Path:
    """``config.json`` of the run: written once the run is about to start (after every
    check), so a run that fails on its inputs leaves no folder to clash with. A run folder
    that cannot be created is a ConfigError naming ``output_dir``."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output_dir: cannot create the run folder {run_dir}: "
                          f"{err.strerror or err}") from None
    return atomic_write_json(run_dir / CONFIG_FILE, config_dict(cfg))
