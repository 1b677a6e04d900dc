"""PASCAL-Context (semseg, human_parts, sal, normals, edge) in the PASCAL_MT layout.

JPEGImages/<id>.jpg; semseg/VOC12/<id>.png, else semseg/pascal-context/<id>.png (21
classes, 255 ignore); pascal-context/trainval/<id>.mat (``LabelMap``, the 459-class
context map: edges and the normals mask); human_parts/<id>.mat (Pascal-Part ``anno``);
normals_distill/<id>.png; sal_distill/<id>.png; ImageSets/Context/{train,val}.txt, where
"val" is the 5,105-image test split.

Rules of the reference multi-task loaders:

* edge = thin(|Laplacian(LabelMap)| > 0), the Laplacian being the 4-neighbour one: the
  training label (and the label the edge losses read).
* edge_boundary_gt (an evaluation target, ``atrc_nas.tasks.EDGE_BOUNDARY_GT``) =
  seg2bmap(LabelMap), not thinned: the boundaries SEISM scores predictions against, and so
  the edge metric's default ground truth here (docs/boundary_metric.md).
* normals keep their distilled value only where LabelMap is one of the context classes
  that also exist in NYUD (``NORMALS_VALID_CLASSES``); elsewhere they are the zero vector,
  which marks them invalid.
* human_parts paints the parts of every ``person`` object (class_ind 15) that has parts,
  grouped into 6 parts (``PART_GROUPS``); 0 is background, also for images without such
  a person (the parts metric leaves those images out).
* sal = distilled saliency / 255 > 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from atrc_nas.boundary_maps import edges_from_label_map, seg2bmap
from atrc_nas.data.io import (
    DataFileError,
    FolderDataset,
    check_range,
    check_shape,
    read_label_png,
    read_mat,
    require_file,
)
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.tasks import EDGE_BOUNDARY_GT

CONTEXT_CLASSES = 459  # LabelMap values are 0 (unlabelled) .. 459
PERSON_CLASS_IND = 15  # PASCAL VOC index of "person" in Pascal-Part's class_ind

PART_GROUPS: dict[str, int] = {
    **dict.fromkeys(
        ("hair", "head", "leye", "reye", "lear", "rear", "lebrow", "rebrow", "nose", "mouth"), 1
    ),
    **dict.fromkeys(("torso", "neck"), 2),
    **dict.fromkeys(("luarm", "ruarm"), 3),
    **dict.fromkeys(("llarm", "rlarm", "lhand", "rhand"), 4),
    **dict.fromkeys(("luleg", "ruleg"), 5),
    **dict.fromkeys(("llleg", "rlleg", "lfoot", "rfoot"), 6),
}

# LabelMap indices of the context classes whose names are also NYUD classes ("unknown"
# excluded), plus tvmonitor (427): the pixels where the distilled normals are trusted.
NORMALS_VALID_CLASSES = np.array(
    [
        3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43,
        46, 49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87,
        88, 95, 96, 101, 104, 105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146,
        150, 154, 157, 158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202,
        213, 215, 216, 219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250,
        251, 252, 255, 260, 261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288,
        290, 291, 292, 293, 295, 304, 307, 309, 310, 314, 315, 319, 323, 329, 330, 331, 336,
        342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380, 383, 384, 397,
        401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432,
        440, 441, 442, 443, 444, 446, 454, 457,
    ]
)  # fmt: skip

PASCAL = DatasetSpec(
    name="pascal", tasks=("semseg", "human_parts", "sal", "normals", "edge"),
    num_classes={"semseg": 21, "human_parts": 7, "sal": 2}, crop_size=(512, 512),
    edge_pos_weight=0.95, boundary_tolerance=0.0075, lr=0.005,
    # SEISM scored the published numbers against seg2bmap(LabelMap), not against the thinned
    # Laplacian edges the network trains on (docs/boundary_metric.md)
    boundary_ground_truth="seg2bmap", eval_targets=(EDGE_BOUNDARY_GT,))
_SEMSEG_CLASSES = PASCAL.num_classes["semseg"]


def _label_map(root: Path, sample_id: str) -> tuple[np.ndarray, Path]:
    """The 2-D integer LabelMap of a sample's context .mat file, and that file. The edge
    label, the normals mask and the boundary ground truth all come from it: the last few
    reads are cached, keyed by the file's size and modification time."""
    path = root / "pascal-context" / "trainval" / f"{sample_id}.mat"
    try:
        stat = path.stat()
    except OSError:
        return _read_label_map(path, None), path
    return _read_label_map(path, (stat.st_size, stat.st_mtime_ns)), path


@lru_cache(maxsize=4)
def _read_label_map(path: Path, version: tuple[int, int] | None) -> np.ndarray:
    mat = read_mat(path)
    if "LabelMap" not in mat:
        raise DataFileError(path, f"no variable 'LabelMap' (found {sorted(mat)})")
    label_map = np.asarray(mat["LabelMap"])
    if label_map.ndim != 2 or not np.issubdtype(label_map.dtype, np.integer):
        raise DataFileError(
            path, f"LabelMap is {label_map.dtype} {label_map.shape}; expected a 2-D integer map"
        )
    check_range(
        path, label_map, f"0..{CONTEXT_CLASSES}", (label_map >= 0) & (label_map <= CONTEXT_CLASSES)
    )
    label_map.setflags(write=False)  # shared by the cache's readers
    return label_map


def _as_list(value: Any) -> list[Any]:
    """A loaded MATLAB struct array as a list (one struct loads unwrapped, none as [])."""
    return list(value.ravel()) if isinstance(value, np.ndarray) else [value]


def human_parts_from_anno(anno: Any, path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 [H, W] of part groups 0..6 from a Pascal-Part ``anno`` struct.

    ``size`` is only used when no person has parts (then the map is all 0); without it,
    such a map takes the shape of the file's first object mask, or (0, 0).
    """
    target: np.ndarray | None = None
    try:
        objects = _as_list(anno.objects)
        for obj in objects:
            parts = _as_list(obj.parts)
            if int(obj.class_ind) != PERSON_CLASS_IND or not parts:
                continue
            if target is None:
                target = np.zeros(np.shape(obj.mask), dtype=np.uint8)
            for part in parts:
                name = str(part.part_name)
                if name not in PART_GROUPS:
                    raise DataFileError(
                        path, f"unknown person part {name!r}; expected one of {sorted(PART_GROUPS)}"
                    )
                mask = np.asarray(part.mask).astype(bool)
                check_shape(path, mask, target.shape)
                target[mask] = PART_GROUPS[name]
    except DataFileError:
        raise
    except (AttributeError, TypeError, ValueError) as err:
        raise DataFileError(
            path,
            "not a Pascal-Part annotation (expected anno.objects with class_ind, mask and "
            f"parts.part_name / parts.mask; {err})",
        ) from None
    if target is not None:
        return target
    if size is None:
        size = np.shape(objects[0].mask) if objects else (0, 0)
    return np.zeros(size, dtype=np.uint8)


Reader = Callable[[Path, str, tuple[int, int] | None], tuple[np.ndarray, Path]]


def _semseg(root: Path, sample_id: str, size: tuple[int, int] | None) -> tuple[np.ndarray, Path]:
    voc = root / "semseg" / "VOC12" / f"{sample_id}.png"
    path = voc if voc.is_file() else root / "semseg" / "pascal-context" / f"{sample_id}.png"
    require_file(path, f"a 21-class semseg PNG here or at {voc}")
    raw = read_label_png(path)
    allowed = f"0..{_SEMSEG_CLASSES - 1} or 255"
    check_range(path, raw, allowed, ((raw >= 0) & (raw < _SEMSEG_CLASSES)) | (raw == 255))
    return raw.astype(np.uint8), path


def _human_parts(
    root: Path, sample_id: str, size: tuple[int, int] | None
) -> tuple[np.ndarray, Path]:
    path = root / "human_parts" / f"{sample_id}.mat"
    mat = read_mat(path)
    if "anno" not in mat:
        raise DataFileError(path, f"no variable 'anno' (found {sorted(mat)})")
    return human_parts_from_anno(mat["anno"], path, size), path


def _edge(root: Path, sample_id: str, size: tuple[int, int] | None) -> tuple[np.ndarray, Path]:
    label_map, path = _label_map(root, sample_id)
    return edges_from_label_map(label_map), path


def _normals(root: Path, sample_id: str, size: tuple[int, int] | None) -> tuple[np.ndarray, Path]:
    path = root / "normals_distill" / f"{sample_id}.png"
    raw = read_label_png(path, channels=3, dtype=np.uint8)
    label_map, map_path = _label_map(root, sample_id)
    check_shape(map_path, label_map, raw.shape[:2], of=str(path))
    normals = 2.0 * raw.astype(np.float32) / 255.0 - 1.0
    valid = np.isin(label_map, NORMALS_VALID_CLASSES)
    return np.where(valid[..., None], normals, 0.0).astype(np.float32), path


def _sal(root: Path, sample_id: str, size: tuple[int, int] | None) -> tuple[np.ndarray, Path]:
    path = root / "sal_distill" / f"{sample_id}.png"
    raw = read_label_png(path, dtype=np.uint8)
    return (raw.astype(np.float32) / 255.0 > 0.5).astype(np.uint8), path


_READERS: dict[str, Reader] = {
    "semseg": _semseg,
    "human_parts": _human_parts,
    "sal": _sal,
    "normals": _normals,
    "edge": _edge,
}


class PascalContextDataset(FolderDataset):
    """PASCAL-Context raw samples in the PASCAL_MT layout."""

    dataset = PASCAL

    @classmethod
    def split_files(cls, root: Path) -> dict[str, Path]:
        return {
            split: Path(root) / "ImageSets" / "Context" / f"{split}.txt"
            for split in ("train", "val")
        }

    def image_path(self, sample_id: str) -> Path:
        return self.root / "JPEGImages" / f"{sample_id}.jpg"

    def read_label(
        self, task: str, sample_id: str, size: tuple[int, int] | None
    ) -> tuple[np.ndarray, Path]:
        return _READERS[task](self.root, sample_id, size)

    def load_eval_targets(self, sample_id: str, size: tuple[int, int]) -> dict[str, np.ndarray]:
        """``edge_boundary_gt``: float32 {0, 1} seg2bmap boundaries of the LabelMap."""
        if EDGE_BOUNDARY_GT not in self.spec.eval_targets:
            return {}
        label_map, path = _label_map(self.root, sample_id)
        check_shape(path, label_map, size)
        return {EDGE_BOUNDARY_GT: seg2bmap(label_map).astype(np.float32)}
