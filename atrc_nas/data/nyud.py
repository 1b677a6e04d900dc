"""NYUD-v2 (semseg, depth, normals, edge) in either of its two circulating layouts.

"NYUDv2" (the ATRC release): images/<id>.png, segmentation/<id>.png, depth/<id>.npy,
normals/<id>.png, edge/<id>.png. "NYUD_MT": images/<id>.jpg, segmentation/<id>.png,
depth/<id>.npy, normals/<id>.npy, edge/<id>.npy. Both list ids in gt_sets/{train,val}.txt;
"val" is the 654-image test split. The layout is detected from the image files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atrc_nas.data.io import (
    DataFileError,
    FolderDataset,
    Sample,
    check_range,
    read_label_png,
    read_npy,
)
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.tasks import IGNORE_INDEX

NYUD = DatasetSpec(name="nyud", tasks=("semseg", "depth", "normals", "edge"),
                   num_classes={"semseg": 40}, crop_size=(425, 560), edge_pos_weight=0.8,
                   boundary_tolerance=0.011, lr=0.01)
_NUM_CLASSES = NYUD.num_classes["semseg"]


def _semseg(path: Path) -> np.ndarray:
    """Stored 0..40 with 0 = void: void -> 255, class c -> c - 1."""
    raw = read_label_png(path)
    check_range(
        path, raw, f"integers 0..{_NUM_CLASSES} (0 = void)", (raw >= 0) & (raw <= _NUM_CLASSES)
    )
    return np.where(raw == 0, IGNORE_INDEX, raw.astype(np.int32) - 1).astype(np.uint8)


def _depth(path: Path) -> np.ndarray:
    depth = read_npy(path, ndim=2).astype(np.float32)
    check_range(path, depth, "depths in metres >= 0 (0 = missing)", depth >= 0)
    return depth


def _normals_png(path: Path) -> np.ndarray:
    raw = read_label_png(path, channels=3, dtype=np.uint8)
    return (2.0 * raw.astype(np.float32) / 255.0 - 1.0).astype(np.float32)


def _normals_npy(path: Path) -> np.ndarray:
    normals = read_npy(path, ndim=3).astype(np.float32)
    if normals.shape[-1] != 3:
        raise DataFileError(path, f"normals have shape {normals.shape}; expected [H, W, 3]")
    return normals


def _edge_png(path: Path) -> np.ndarray:
    raw = read_label_png(path, dtype=np.uint8)
    check_range(path, raw, "0 or 255", (raw == 0) | (raw == 255))
    return (raw / 255.0).astype(np.float32)


def _edge_npy(path: Path) -> np.ndarray:
    edge = read_npy(path, ndim=2).astype(np.float32)
    check_range(path, edge, f"0, 1 or {IGNORE_INDEX} (ignore)", np.isin(edge, (0, 1, IGNORE_INDEX)))
    return edge


@dataclass(frozen=True)
class LabelFile:
    """Where a task's label lies (``<folder>/<id><suffix>``) and how it is decoded."""

    folder: str
    suffix: str
    decode: Callable[[Path], np.ndarray]


@dataclass(frozen=True)
class NYUDLayout:
    name: str
    image_suffix: str
    labels: Mapping[str, LabelFile]


NYUD_LAYOUTS: dict[str, NYUDLayout] = {
    layout.name: layout
    for layout in (
        NYUDLayout(
            name="NYUDv2",
            image_suffix=".png",
            labels={
                "semseg": LabelFile("segmentation", ".png", _semseg),
                "depth": LabelFile("depth", ".npy", _depth),
                "normals": LabelFile("normals", ".png", _normals_png),
                "edge": LabelFile("edge", ".png", _edge_png),
            },
        ),
        NYUDLayout(
            name="NYUD_MT",
            image_suffix=".jpg",
            labels={
                "semseg": LabelFile("segmentation", ".png", _semseg),
                "depth": LabelFile("depth", ".npy", _depth),
                "normals": LabelFile("normals", ".npy", _normals_npy),
                "edge": LabelFile("edge", ".npy", _edge_npy),
            },
        ),
    )
}


def detect_layout(root: str | Path) -> NYUDLayout:
    """The layout whose image suffix is the only one found in ``root/images``."""
    images = Path(root) / "images"
    expected = " or ".join(
        f"images/<id>{lay.image_suffix} ({lay.name})" for lay in NYUD_LAYOUTS.values()
    )
    if not images.is_dir():
        raise DataFileError(images, f"missing folder (expected {expected})")
    found = [lay for lay in NYUD_LAYOUTS.values() if any(images.glob(f"*{lay.image_suffix}"))]
    if len(found) != 1:
        names = [lay.name for lay in found] or "none"
        raise DataFileError(
            images, f"cannot tell the NYUD layout (images of layouts: {names}); expected {expected}"
        )
    return found[0]


class NYUDDataset(FolderDataset):
    """NYUD-v2 raw samples; ``layout`` says which of ``NYUD_LAYOUTS`` was found."""

    dataset = NYUD

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        tasks: Sequence[str] | None = None,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        super().__init__(root, split, tasks, transform)
        self.layout = detect_layout(self.root)

    @classmethod
    def split_files(cls, root: Path) -> dict[str, Path]:
        return {split: Path(root) / "gt_sets" / f"{split}.txt" for split in ("train", "val")}

    def image_path(self, sample_id: str) -> Path:
        return self.root / "images" / f"{sample_id}{self.layout.image_suffix}"

    def read_label(
        self, task: str, sample_id: str, size: tuple[int, int] | None
    ) -> tuple[np.ndarray, Path]:
        where = self.layout.labels[task]
        path = self.root / where.folder / f"{sample_id}{where.suffix}"
        return where.decode(path), path
