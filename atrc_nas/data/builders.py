"""Build a dataset from its spec name: one table maps names to classes, splits and options."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from atrc_nas.config import ConfigError, parse_config, signature_model
from atrc_nas.data.nyud import NYUDDataset
from atrc_nas.data.pascal import PascalContextDataset
from atrc_nas.data.synthetic import SyntheticDataset

# Constructor arguments the data module sets itself; the rest are the dataset's options.
_BUILDER_ARGS = ("root", "split", "tasks", "transform")


@cache
def _options_model(cls: type, bound: tuple[str, ...]) -> type:
    return signature_model(cls.__init__, f"{cls.__name__}Options",
                           exclude=(*_BUILDER_ARGS, *bound))


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    cls: type
    held_out_split: str  # the split kept apart for final numbers
    needs_root: bool
    fixed: Mapping[str, Any] = field(default_factory=dict)  # arguments bound by the entry
    how_to_get: str = ""  # what to download and where to put it (real datasets)

    @property
    def splits(self) -> tuple[str, str]:
        return ("train", self.held_out_split)

    @property
    def options_model(self) -> type:
        """The schema of this dataset's options, read off its constructor."""
        return _options_model(self.cls, tuple(self.fixed))

    def parse_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validated options (only those given: the class keeps its defaults)."""
        parsed = parse_config(self.options_model, options,
                              source=f"dataset {self.name!r} options")
        return parsed.model_dump(exclude_unset=True)


_NYUD_HELP = ("NYUD-v2 in the 'NYUDv2' or 'NYUD_MT' layout (docs/datasets.md); the original "
              "ATRC archive links are dead: fetch a copy with `python -m atrc_nas.data "
              "download --dataset nyud --url URL --dest DIR` and point data.root at the folder "
              "holding images/, segmentation/, depth/, normals/, edge/ and gt_sets/")
_PASCAL_HELP = ("PASCAL-Context in the PASCAL_MT layout (docs/datasets.md): fetch it with "
                "`python -m atrc_nas.data download --dataset pascal --url URL --dest DIR` and "
                "point data.root at the folder holding JPEGImages/, semseg/, "
                "pascal-context/, human_parts/, normals_distill/, sal_distill/ and ImageSets/")

DATASET_BUILDERS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DatasetEntry("synthetic_nyud", SyntheticDataset, "test", needs_root=False,
                     fixed={"spec_name": "synthetic_nyud"}),
        DatasetEntry("synthetic_pascal", SyntheticDataset, "test", needs_root=False,
                     fixed={"spec_name": "synthetic_pascal"}),
        DatasetEntry("nyud", NYUDDataset, "val", needs_root=True, how_to_get=_NYUD_HELP),
        DatasetEntry("pascal", PascalContextDataset, "val", needs_root=True,
                     how_to_get=_PASCAL_HELP),
    )
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
    ``num_images``, ``image_size``, ``seed``, ``local_structure`` for the synthetic ones)
    after validation against its options schema (a ConfigError otherwise)."""
    entry = dataset_entry(name)
    if split not in entry.splits:
        raise ValueError(
            f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(entry.splits)}"
        )
    if entry.needs_root and root is None:
        raise ConfigError(f"dataset {name!r} needs root=<folder holding the dataset>: "
                          f"{entry.how_to_get}")
    return entry.cls(
        root=root,
        split=split,
        tasks=None if tasks is None else list(tasks),
        transform=transform,
        **entry.fixed,
        **entry.parse_options(options),
    )
