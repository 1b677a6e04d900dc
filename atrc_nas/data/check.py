"""Validate a dataset folder file by file, for ``python -m atrc_nas.data check``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from atrc_nas.data.io import DataFileError, FolderDataset, read_rgb
from atrc_nas.data.registry import DATASETS


def folder_datasets() -> list[str]:
    """The datasets that live in a folder (the ones ``check_dataset`` validates)."""
    return [name for name, entry in DATASETS.items() if entry.in_folder]


def check_dataset(name: str, root: str | Path) -> list[str]:
    """One line per missing or corrupt file (path first), in both splits and for every
    task of the dataset; an empty list when the folder is complete and readable."""
    if name not in folder_datasets():
        raise KeyError(
            f"cannot check dataset {name!r}; checkable datasets: {', '.join(folder_datasets())}"
        )
    cls: type[FolderDataset] = DATASETS[name].loader
    problems: list[str] = []
    for split, split_file in cls.split_files(Path(root)).items():
        try:
            dataset = cls(root, split=split)
        except DataFileError as err:
            problems.append(str(err))
            continue
        repeated = [i for i, count in Counter(dataset.ids).items() if count > 1]
        if repeated:
            problems.append(f"{split_file}: ids listed more than once: {repeated[:8]}")
        problems.extend(_check_samples(dataset))
    return list(dict.fromkeys(problems))  # a shared file fails once, not once per split


def _check_samples(dataset: FolderDataset) -> list[str]:
    problems: list[str] = []
    for sample_id in dict.fromkeys(dataset.ids):
        try:
            image = read_rgb(dataset.image_path(sample_id))
            size: tuple[int, int] | None = (int(image.shape[0]), int(image.shape[1]))
        except DataFileError as err:
            problems.append(str(err))
            size = None
        for task in dataset.spec.tasks:
            try:
                dataset.load_task(task, sample_id, size)
            except DataFileError as err:
                problems.append(str(err))
    return problems
