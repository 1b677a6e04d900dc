"""The dataset registry: one entry per dataset, and the one place a dataset is added.

An entry holds the dataset's constants (:class:`~atrc_nas.data.spec.DatasetSpec`, defined
beside its loader), its loader class, its held-out split, whether it lives in a folder
(then ``python -m atrc_nas.data check`` validates it and ``data.root`` is required), what
to download and where to put it, and the archives it has been published as. The loader's
options (``data.options``) are read off its constructor. Adding a dataset: an entry here
plus its loader module (a ``FolderDataset`` for files on disk). Nothing here imports
torch: configs are checked with it before any heavy import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from atrc_nas.config import ConfigError, parse_config, signature_model
from atrc_nas.data.nyud import NYUD, NYUDDataset
from atrc_nas.data.pascal import PASCAL, PascalContextDataset
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.data.synthetic import PRESETS, SyntheticDataset

# Constructor arguments the data module sets itself; the rest are the dataset's options.
_BUILDER_ARGS = ("root", "split", "tasks", "transform")


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset has been published; ``sha256`` of the first URL's file when known."""

    urls: tuple[str, ...]
    sha256: str | None
    note: str


@cache
def _options_model(cls: type, bound: tuple[str, ...]) -> type:
    return signature_model(cls.__init__, f"{cls.__name__}Options",
                           exclude=(*_BUILDER_ARGS, *bound))


HELD_OUT = "test"
"""What the platform calls every dataset's held-out split (its metrics are ``test/...``),
whatever the dataset's own name for it (NYUD-v2 and PASCAL-Context: ``val``, which
``build_dataset`` accepts too); ``val`` in metric names and config keys always means the
validation split carved from train."""


@dataclass(frozen=True)
class DatasetEntry:
    spec: DatasetSpec
    loader: type  # takes root, split, tasks, transform and the dataset's options
    held_out_split: str  # the split kept apart for final numbers
    in_folder: bool  # files under data.root (checked by `data check`); else generated
    fixed: Mapping[str, Any] = field(default_factory=dict)  # loader arguments bound here
    how_to_get: str = ""  # what to download and where to put it (folder datasets)
    sources: DatasetSource | None = None  # published archives (`data download`)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def splits(self) -> tuple[str, str]:
        return ("train", self.held_out_split)

    @property
    def options_model(self) -> type:
        """The schema of this dataset's options, read off its loader's constructor."""
        return _options_model(self.loader, tuple(self.fixed))

    def parse_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validated options (only those given: the loader keeps its defaults)."""
        parsed = parse_config(self.options_model, options,
                              source=f"dataset {self.name!r} options")
        return parsed.model_dump(exclude_unset=True)


_DEAD_LINKS = (
    "The original ATRC archives (first URL) are no longer served and no checksum was "
    "published; copies of both layouts circulate. Pass --url to a copy you trust and "
    "--sha256 if you know its digest."
)


def _how_to_get(name: str, layout: str, folders: str) -> str:
    return (f"{layout} (docs/datasets.md): fetch it with `python -m atrc_nas.data download "
            f"--dataset {name} --url URL --dest DIR` and point data.root at the folder holding "
            f"{folders}")


DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        *(DatasetEntry(spec, SyntheticDataset, "test", in_folder=False,
                       fixed={"spec_name": name}) for name, spec in PRESETS.items()),
        DatasetEntry(
            NYUD, NYUDDataset, "val", in_folder=True,
            how_to_get=_how_to_get(
                "nyud", "NYUD-v2 in the 'NYUDv2' or 'NYUD_MT' layout",
                "images/, segmentation/, depth/, normals/, edge/ and gt_sets/"),
            sources=DatasetSource(
                urls=("https://data.vision.ee.ethz.ch/brdavid/atrc/NYUDv2.tar.gz",
                      "https://data.vision.ee.ethz.ch/kmaninis/share/MTL/NYUD_MT.tgz"),
                sha256=None, note=_DEAD_LINKS),
        ),
        DatasetEntry(
            PASCAL, PascalContextDataset, "val", in_folder=True,
            how_to_get=_how_to_get(
                "pascal", "PASCAL-Context in the PASCAL_MT layout",
                "JPEGImages/, semseg/, pascal-context/, human_parts/, normals_distill/, "
                "sal_distill/ and ImageSets/"),
            sources=DatasetSource(
                urls=("https://data.vision.ee.ethz.ch/brdavid/atrc/PASCALContext.tar.gz",
                      "https://data.vision.ee.ethz.ch/kmaninis/share/MTL/PASCAL_MT.tgz"),
                sha256=None, note=_DEAD_LINKS),
        ),
    )
}


def dataset_entry(name: str) -> DatasetEntry:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}"
                       ) from None


def get_dataset_spec(name: str) -> DatasetSpec:
    return dataset_entry(name).spec


def build_dataset(
    name: str,
    split: str,
    root: str | Path | None = None,
    tasks: Sequence[str] | None = None,
    transform: Callable[..., Any] | None = None,
    **options: Any,
) -> Any:
    """The ``split`` of dataset ``name`` (``"test"``: its held-out split under any name);
    ``options`` go to its loader (e.g. ``num_images``,
    ``image_size``, ``seed``, ``local_structure`` for the synthetic ones) after validation
    against its options schema (a ConfigError otherwise)."""
    entry = dataset_entry(name)
    if split == HELD_OUT:
        split = entry.held_out_split
    if split not in entry.splits:
        also = "" if entry.held_out_split == HELD_OUT else f" ({HELD_OUT!r}: the held-out one)"
        raise ConfigError(f"dataset {name!r} has no split {split!r}; valid splits: "
                          f"{', '.join(entry.splits)}{also}")
    if entry.in_folder and root is None:
        raise ConfigError(f"dataset {name!r} needs root=<folder holding the dataset>: "
                          f"{entry.how_to_get}")
    return entry.loader(
        root=root,
        split=split,
        tasks=None if tasks is None else list(tasks),
        transform=transform,
        **entry.fixed,
        **entry.parse_options(options),
    )
