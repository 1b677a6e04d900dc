"""The genotype leaderboard: read from experiment folders (or folders of standalone training
runs), written as CSV, Markdown, JSON and one self-contained HTML page. A reader of files:
no Ray, no cluster, no torch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from atrc_nas.fileio import atomic_write_text
from atrc_nas.leaderboard.collect import Leaderboard, build
from atrc_nas.leaderboard.formats import to_csv, to_json, to_markdown
from atrc_nas.leaderboard.html import to_html
from atrc_nas.platform.layout import ExperimentLayout

FORMATS: dict[str, Callable[[Leaderboard], str]] = {
    "csv": to_csv, "md": to_markdown, "json": to_json, "html": to_html}


def write_leaderboard(folder: Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """``<folder>/leaderboard.<format>`` for each format; returns the paths."""
    board = build([folder])
    layout = ExperimentLayout(folder)
    return {fmt: atomic_write_text(layout.leaderboard_file(fmt), FORMATS[fmt](board))
            for fmt in formats}


__all__ = ["FORMATS", "Leaderboard", "build", "write_leaderboard"]
