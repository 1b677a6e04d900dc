"""The experiment folder: one launch at a time, and the same experiment on every rerun.

``<output_dir>/<name>/experiment.json`` holds the validated experiment config of the first
launch. A rerun (to continue after an interruption, or to finish the later stages)
must describe the same experiment: settings that change results may not differ (display,
cluster and resource settings may). A lock file keeps a second launcher out while one runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from atrc_nas.config import ConfigError, config_dict, result_changes
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.layout import ExperimentLayout


def check_same_experiment(experiment: ExperimentConfig) -> None:
    saved_file = ExperimentLayout(experiment.folder).experiment_file
    if not saved_file.is_file():
        return
    try:
        saved = json.loads(saved_file.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{saved_file}: not valid JSON ({err}); it records the experiment "
                          "this folder holds") from None
    changes = result_changes(ExperimentConfig, saved, config_dict(experiment))
    if changes:
        raise ConfigError(
            f"{experiment.folder} holds an experiment with other settings: {'; '.join(changes)}. "
            "Rerun with the same settings to continue it, or give it another name "
            "(name=...) to start a new one")


def make_folder(folder: Path, key: str) -> None:
    """Create ``folder`` (and its parents); a folder that cannot be made is a ConfigError
    naming the setting ``key`` that leads to it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{key}: cannot create the folder {folder}: "
                          f"{err.strerror or err}") from None


@contextlib.contextmanager
def experiment_folder(experiment: ExperimentConfig) -> Iterator[ExperimentLayout]:
    """The locked experiment folder, with ``experiment.json`` written (or matched)."""
    check_same_experiment(experiment)
    layout = ExperimentLayout(experiment.folder)
    make_folder(layout.root, "output_dir")
    with open(layout.lock_file, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigError(f"{layout.root} is in use by a running launch (pid {holder}); "
                              "wait for it or stop it first") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        atomic_write_json(layout.experiment_file, config_dict(experiment))
        try:
            yield layout
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
