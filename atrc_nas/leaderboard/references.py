"""Published numbers as leaderboard rows (``--references FILE``): a YAML file of rows, each
with its source, shown beside the measured rows of the same dataset, tasks, backbone and
input size (e.g. ``experiments/reproduce/paper_references.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from atrc_nas.config import Issue, Section, load_config
from atrc_nas.config.schema import NonEmptyStr, Size
from atrc_nas.leaderboard.collect import Row, Stat
from atrc_nas.tasks import TASKS, get_task

PAPER = "paper"  # the kind of a published row


class ReferenceRow(Section):
    """One row of published numbers."""

    name: NonEmptyStr
    """How the row is named on the leaderboard, e.g. "paper: ATRC"."""
    source: NonEmptyStr
    """Where the numbers come from (publication, table, repository)."""
    dataset: NonEmptyStr
    tasks: Annotated[list[NonEmptyStr], Field(min_length=1)]
    backbone: NonEmptyStr
    input_size: Size
    seeds: Annotated[int, Field(ge=1)] | None = None
    """How many seeds the published mean is over (None: not said)."""
    metrics: dict[str, float]
    """``<task>/<primary metric>`` -> value, e.g. semseg/miou: 46.33."""

    def issues(self) -> list[Issue]:
        found: list[Issue] = []
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            found.append((("tasks",), f"unknown task(s) {unknown}; known: {', '.join(TASKS)}",
                          self.tasks))
            return found
        valid = {f"{t}/{get_task(t).metric}" for t in self.tasks}
        stray = sorted(set(self.metrics) - valid)
        if stray:
            found.append((("metrics",), f"{stray} are not primary metrics of the row's tasks "
                          f"(valid: {', '.join(sorted(valid))})", stray))
        return found


class ReferenceFile(Section):
    references: Annotated[list[ReferenceRow], Field(min_length=1)]


def reference_rows(path: Path) -> list[Row]:
    """The rows of a references file (a ConfigError names the bad key and value)."""
    rows = []
    for ref in load_config(path, ReferenceFile).references:
        rows.append(Row(
            experiment=str(path), network=ref.name, kind=PAPER, dataset=ref.dataset,
            tasks=list(ref.tasks), backbone=ref.backbone, input_size=list(ref.input_size),
            metrics={key: Stat(value, None, ref.seeds or 1) for key, value in ref.metrics.items()},
            delta_m=None, params=None, gflops=None, seeds=[], missing=[], genotype=None,
            provenance={"config_hash": None, "git_commit": None, "git_dirty": None,
                        "dataset_fingerprint": None, "versions": {}, "source": ref.source,
                        "published_seeds": ref.seeds}))
    return rows
