"""Where an experiment's results come from: the code (git commit, and whether the tree had
uncommitted changes), the package versions and the experiment config's hash. Written by
the launcher to ``<experiment>/provenance.json`` at every launch; the leaderboard prints it
with every row."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.layout import ExperimentLayout

PACKAGES = ("atrc-nas", "torch", "lightning", "ray", "optuna", "torchmetrics", "pydantic",
            "numpy")


def source_checkout() -> Path | None:
    """The git checkout the package runs from (an editable install), None for an installed
    wheel (whose version ``versions()`` gives)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() and (root / "pyproject.toml").is_file() else None


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the source tree (None when it is not a git checkout)."""
    repo = repo or source_checkout()
    if repo is None:
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_provenance(layout: ExperimentLayout, config: dict[str, Any]) -> Path:
    return atomic_write_json(layout.provenance_file, {
        "config_hash": config_hash(config), "git": git_state(), "versions": versions()})
