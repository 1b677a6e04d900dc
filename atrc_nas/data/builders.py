"""Build a dataset from its spec name: one table maps names to classes and splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from atrc_nas.data.nyud import NYUDDataset
from atrc_nas.data.pascal import PascalContextDataset
from atrc_nas.data.synthetic import SyntheticDataset


@dataclass(frozen=True)
class DatasetEntry:
    factory: Callable[..., Any]
    held_out_split: str  # the split kept apart for final numbers
    needs_root: bool

    @property
    def splits(self) -> tuple[str, str]:
        return ("train", self.held_out_split)


DATASET_BUILDERS: dict[str, DatasetEntry] = {
    "synthetic_nyud": DatasetEntry(
        partial(SyntheticDataset, spec_name="synthetic_nyud"), "test", needs_root=False
    ),
    "synthetic_pascal": DatasetEntry(
        partial(SyntheticDataset, spec_name="synthetic_pascal"), "test", needs_root=False
    ),
    "nyud": DatasetEntry(NYUDDataset, "val", needs_root=True),
    "pascal": DatasetEntry(PascalContextDataset, "val", needs_root=True),
}


def dataset_entry(name: str) -> DatasetEntry:
    try:
        return DATASET_BUILDERS[name]
    except KeyError:
        raise KeyError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(DATASET_BUILDERS)}"
        ) from None


def build_dataset(
    name: str,
    split: str,
    root: str | Path | None = None,
    tasks: Sequence[str] | None = None,
    transform: Callable[..., Any] | None = None,
    **options: Any,
) -> Any:
    """The ``split`` of dataset ``name``; ``options`` go to the dataset class (e.g.
    ``num_images``, ``image_size``, ``seed``, ``local_structure`` for the synthetic ones)."""
    entry = dataset_entry(name)
    if split not in entry.splits:
        raise ValueError(
            f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(entry.splits)}"
        )
    if entry.needs_root and root is None:
        raise ValueError(f"dataset {name!r} needs root=<folder holding the dataset>")
    return entry.factory(
        root=root,
        split=split,
        tasks=None if tasks is None else list(tasks),
        transform=transform,
        **options,
    )
