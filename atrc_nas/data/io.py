"""Reading dataset folders: file readers that fail with an error naming the file and what
was expected, and ``FolderDataset``, the base of datasets stored as files under a root.

Images go through OpenCV. Label PNGs go through Pillow because OpenCV expands palette
PNGs (the usual format of segmentation masks) to colours and loses the class indices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image

from atrc_nas.data.spec import DatasetSpec

Sample = dict[str, Any]


class DataFileError(ValueError):
    """A dataset file is missing, unreadable or holds values other than those expected."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:  # survives worker processes
        return type(self), (self.path, self.problem)


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise saying which ``what`` was expected there."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, f"missing file (expected {what})")
    return path


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file (PNG, JPEG, ...) as uint8 RGB ``[H, W, 3]``."""
    path = require_file(path, "an RGB image")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFileError(path, "unreadable image (expected a PNG or JPEG file)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label_png(
    path: str | Path, channels: int = 1, dtype: type[np.generic] | None = None
) -> np.ndarray:
    """A PNG's stored values, palette indices kept: ``[H, W]`` or ``[H, W, channels]``."""
    path = require_file(path, "a PNG label map")
    try:
        with Image.open(path) as img:
            array = np.array(img)
    except Exception as err:  # parsers fail in many ways on a corrupt file
        raise DataFileError(path, f"unreadable PNG ({err!r})") from None
    got = 1 if array.ndim == 2 else array.shape[-1]
    if array.ndim not in (2, 3) or got != channels:
        raise DataFileError(
            path, f"PNG has shape {array.shape}; expected {channels} channel(s) per pixel"
        )
    if dtype is not None and array.dtype != dtype:
        raise DataFileError(path, f"PNG holds {array.dtype} values; expected {np.dtype(dtype)}")
    return array


def read_npy(path: str | Path, ndim: int) -> np.ndarray:
    """A ``.npy`` array with ``ndim`` dimensions, finite values only."""
    path = require_file(path, "a NumPy .npy array")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as err:  # parsers fail in many ways on a corrupt file
        raise DataFileError(path, f"unreadable .npy file ({err!r})") from None
    if array.ndim != ndim:
        raise DataFileError(path, f"array has shape {array.shape}; expected {ndim} dimensions")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise DataFileError(path, f"array holds non-finite or non-numeric values ({array.dtype})")
    return array


def read_mat(path: str | Path) -> dict[str, Any]:
    """A MATLAB file; structs become attribute objects and singleton dimensions are dropped."""
    import scipy.io  # only PASCAL reads .mat files

    path = require_file(path, "a MATLAB .mat file")
    try:
        return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as err:  # parsers fail in many ways on a corrupt file
        raise DataFileError(path, f"unreadable .mat file ({err!r})") from None


def read_split(path: str | Path) -> list[str]:
    """Sample ids listed one per line (blank lines skipped)."""
    path = require_file(path, "a split file with one sample id per line")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataFileError(path, "split file lists no sample ids")
    return ids


def check_range(path: str | Path, values: np.ndarray, allowed: str, ok: np.ndarray) -> None:
    """Raise naming the file and the first offending values where ``ok`` is False."""
    if not ok.all():
        bad = np.unique(values[~ok])[:8].tolist()
        raise DataFileError(path, f"values {bad} out of range; expected {allowed}")


def check_shape(
    path: str | Path, array: np.ndarray, size: tuple[int, ...], of: str = "the image"
) -> None:
    """Raise unless ``array``'s first two dimensions equal ``size`` (H, W) of ``of``."""
    if tuple(array.shape[:2]) != tuple(size[:2]):
        raise DataFileError(
            path, f"size {tuple(array.shape[:2])} differs from the size {tuple(size[:2])} of {of}"
        )


class FolderDataset(ABC):
    """A dataset stored as files under a root folder, one file per sample and label (a
    map-style dataset for torch's DataLoader: ``__len__`` and ``__getitem__``).

    ``load_raw(i)`` returns a raw sample (docs/conventions.md); ``__getitem__`` passes it
    through ``transform`` when one is given. Subclasses name their ``DatasetSpec`` and say
    where the split files and images are and how one task's label is read; those whose
    spec lists evaluation targets also say how those are read (``load_eval_targets``).
    """

    dataset: ClassVar[DatasetSpec]  # the dataset's constants (its registry entry holds it)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        tasks: Sequence[str] | None = None,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFileError(
                self.root, f"dataset folder not found (expected the {self.dataset.name} root)"
            )
        full = self.dataset
        self.spec: DatasetSpec = full.with_tasks(tuple(full.tasks if tasks is None else tasks))
        splits = self.split_files(self.root)
        if split not in splits:
            raise ValueError(
                f"unknown split {split!r} for dataset {self.dataset.name!r}; expected one of "
                f"{list(splits)}"
            )
        self.split = split
        self.ids: list[str] = read_split(splits[split])
        self.transform = transform

    @classmethod
    @abstractmethod
    def split_files(cls, root: Path) -> dict[str, Path]:
        """Split name -> the file listing its sample ids."""

    @abstractmethod
    def image_path(self, sample_id: str) -> Path: ...

    @abstractmethod
    def read_label(
        self, task: str, sample_id: str, size: tuple[int, int] | None
    ) -> tuple[np.ndarray, Path]:
        """One decoded, validated label and the file it came from. ``size`` is the image's
        (H, W), or None when unknown (a label that needs it then takes its own size)."""

    def load_task(self, task: str, sample_id: str, size: tuple[int, int] | None) -> np.ndarray:
        """A task's raw label, checked against the image size when ``size`` is given."""
        label, path = self.read_label(task, sample_id, size)
        if size is not None:
            check_shape(path, label, size)
        return label

    def load_eval_targets(self, sample_id: str, size: tuple[int, int]) -> dict[str, np.ndarray]:
        """The sample's evaluation targets (``spec.eval_targets``, image-sized maps)."""
        if self.spec.eval_targets:
            raise NotImplementedError(
                f"{type(self).__name__} lists evaluation targets {self.spec.eval_targets} "
                "but does not say how to read them"
            )
        return {}

    def content_fingerprint(self, cache_dir: Path) -> str:
        """A hash of the bytes of this split's files (see ``atrc_nas.data.fingerprint``)."""
        from atrc_nas.data.fingerprint import files_digest, folder_files

        split_file = self.split_files(self.root)[self.split]
        return files_digest(folder_files(self.root, self.ids, [split_file]), cache_dir)

    def load_raw(self, index: int) -> Sample:
        sample_id = self.ids[index]
        image = read_rgb(self.image_path(sample_id))
        size = (int(image.shape[0]), int(image.shape[1]))
        sample: Sample = {"image": image}
        for task in self.spec.tasks:
            sample[task] = self.load_task(task, sample_id, size)
        sample.update(self.load_eval_targets(sample_id, size))
        sample["meta"] = {"id": sample_id, "size": size, "dataset": self.spec.name}
        return sample

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Any:
        sample = self.load_raw(index)
        return sample if self.transform is None else self.transform(sample)
