"""Builders of tiny dataset folders in the NYUDv2, NYUD_MT and PASCAL_MT layouts.

Each builder draws decoded labels first, encodes them the way the layout stores them,
writes a few samples under ``root`` and returns the raw samples a loader must give back,
keyed by id. For PASCAL that dict holds ``label_map`` (the context map) instead of
``edge``, which tests derive from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io
from PIL import Image

SIZE = (24, 32)
NYUD_TRAIN = ("0001", "0002", "0003")
NYUD_VAL = ("0004", "0005")
PASCAL_TRAIN = ("2008_000002", "2008_000003", "2008_000007")
PASCAL_VAL = ("2008_000009",)

# LabelMap classes used by the PASCAL fixture: wall and person carry valid normals,
# sky and unlabelled (0) do not.
WALL, PERSON, SKY = 440, 284, 360

Expected = dict[str, dict[str, Any]]


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    quality = [cv2.IMWRITE_JPEG_QUALITY, 100]
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), quality)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def write_mat(path: Path, variables: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, variables)


def write_split(path: Path, ids: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in ids))


def smooth_image(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A colour gradient: survives JPEG compression within a few grey levels."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, size=3)
    image = base + 40 * np.stack([yy / h, xx / w, (yy + xx) / (h + w)], axis=-1)
    return image.round().astype(np.uint8)


def random_normals(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    n = rng.normal(size=(*size, 3))
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def build_nyud(
    root: Path,
    layout: str = "NYUDv2",
    train: Sequence[str] = NYUD_TRAIN,
    val: Sequence[str] = NYUD_VAL,
    size: tuple[int, int] = SIZE,
    seed: int = 0,
) -> Expected:
    """A NYUD-v2 folder in ``layout`` ("NYUDv2" or "NYUD_MT")."""
    rng = np.random.default_rng(seed)
    expected: Expected = {}
    for sample_id in (*train, *val):
        semseg = rng.integers(0, 40, size=size).astype(np.uint8)
        semseg[rng.random(size) < 0.1] = 255
        depth = rng.uniform(0.5, 10.0, size=size).astype(np.float32)
        depth[rng.random(size) < 0.05] = 0.0
        edge = (rng.random(size) < 0.1).astype(np.float32)
        write_png(
            root / "segmentation" / f"{sample_id}.png",
            np.where(semseg == 255, 0, semseg + 1).astype(np.uint8),
        )
        write_npy(root / "depth" / f"{sample_id}.npy", depth)
        if layout == "NYUDv2":
            image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            write_rgb(root / "images" / f"{sample_id}.png", image)
            stored = np.round((random_normals(rng, size) + 1.0) * 127.5).astype(np.uint8)
            write_png(root / "normals" / f"{sample_id}.png", stored)
            normals = 2.0 * stored.astype(np.float32) / 255.0 - 1.0
            write_png(root / "edge" / f"{sample_id}.png", (edge * 255).astype(np.uint8))
        else:
            image = smooth_image(rng, size)
            write_rgb(root / "images" / f"{sample_id}.jpg", image)
            normals = random_normals(rng, size)
            write_npy(root / "normals" / f"{sample_id}.npy", normals)
            write_npy(root / "edge" / f"{sample_id}.npy", edge)
        expected[sample_id] = {
            "image": image,
            "semseg": semseg,
            "depth": depth,
            "normals": normals,
            "edge": edge,
        }
    write_split(root / "gt_sets" / "train.txt", train)
    write_split(root / "gt_sets" / "val.txt", val)
    return expected


PartList = list[tuple[str, np.ndarray]]


def write_anno(
    path: Path, imname: str, objects: list[tuple[str, int, np.ndarray, PartList]]
) -> None:
    """A Pascal-Part annotation: ``anno`` with ``imname`` and the ``objects`` struct array
    (class, class_ind, mask, parts), parts being a struct array (part_name, mask) or []."""
    part_dtype = [("part_name", object), ("mask", object)]
    obj_dtype = [("class", object), ("class_ind", object), ("mask", object), ("parts", object)]
    objs = np.zeros((1, len(objects)), dtype=obj_dtype)
    for k, (cls, class_ind, mask, parts) in enumerate(objects):
        if parts:
            struct = np.zeros((1, len(parts)), dtype=part_dtype)
            for j, (name, part_mask) in enumerate(parts):
                struct[0, j] = (name, part_mask.astype(np.uint8))
        else:
            struct = np.zeros((0, 0))
        objs[0, k] = (cls, class_ind, mask.astype(np.uint8), struct)
    write_mat(path, {"anno": {"imname": imname, "objects": objs}})


def box(size: tuple[int, int], top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def person_with_parts(size: tuple[int, int]) -> tuple[list, np.ndarray]:
    """Pascal-Part objects of a person (with overlapping parts), a person without parts and
    a dog with parts, and the 7-class map they give (later parts overwrite earlier ones)."""
    parts = [
        ("head", box(size, 0, 10, 6, 16)),
        ("hair", box(size, 0, 10, 2, 16)),
        ("reye", box(size, 2, 11, 3, 12)),
        ("neck", box(size, 6, 12, 7, 14)),
        ("torso", box(size, 7, 9, 14, 17)),
        ("luarm", box(size, 7, 6, 10, 9)),
        ("rlarm", box(size, 10, 17, 13, 19)),
        ("lhand", box(size, 13, 6, 14, 8)),
        ("ruleg", box(size, 14, 9, 19, 12)),
        ("lfoot", box(size, 19, 13, 20, 16)),
        ("llleg", box(size, 18, 13, 19, 17)),
    ]
    groups = {"head": 1, "hair": 1, "reye": 1, "neck": 2, "torso": 2, "luarm": 3}
    groups |= {"rlarm": 4, "lhand": 4, "ruleg": 5, "lfoot": 6, "llleg": 6}
    expected = np.zeros(size, dtype=np.uint8)
    for name, mask in parts:
        expected[mask] = groups[name]
    person_mask = box(size, 0, 6, 20, 19)
    objects = [
        ("person", 15, person_mask, parts),
        ("person", 15, box(size, 20, 20, 24, 24), []),
        ("dog", 12, box(size, 0, 24, 8, 32), [("head", box(size, 0, 24, 3, 28))]),
    ]
    return objects, expected


def build_pascal(
    root: Path,
    train: Sequence[str] = PASCAL_TRAIN,
    val: Sequence[str] = PASCAL_VAL,
    size: tuple[int, int] = SIZE,
    seed: int = 0,
) -> Expected:
    """A PASCAL-Context folder in the PASCAL_MT layout. The first id has a person with
    parts (semseg under semseg/VOC12), the second only a cat, the others no objects."""
    rng = np.random.default_rng(seed)
    h, w = size
    expected: Expected = {}
    for k, sample_id in enumerate((*train, *val)):
        image = smooth_image(rng, size)
        write_rgb(root / "JPEGImages" / f"{sample_id}.jpg", image)

        semseg = rng.integers(0, 21, size=size).astype(np.uint8)
        semseg[rng.random(size) < 0.1] = 255
        folder = "VOC12" if k == 0 else "pascal-context"
        write_png(root / "semseg" / folder / f"{sample_id}.png", semseg)

        label_map = np.full(size, WALL, dtype=np.uint16)
        label_map[: h // 2, w // 2 :] = SKY
        label_map[h // 2 :, w // 2 :] = PERSON
        label_map[:2, :2] = 0
        write_mat(
            root / "pascal-context" / "trainval" / f"{sample_id}.mat", {"LabelMap": label_map}
        )

        stored = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        write_png(root / "normals_distill" / f"{sample_id}.png", stored)
        valid = np.isin(label_map, (WALL, PERSON))[..., None]
        normals = np.where(valid, 2.0 * stored.astype(np.float32) / 255.0 - 1.0, 0.0)

        stored_sal = rng.integers(0, 256, size=size, dtype=np.uint8)
        write_png(root / "sal_distill" / f"{sample_id}.png", stored_sal)

        if k == 0:
            objects, parts = person_with_parts(size)
        elif k == 1:
            objects, parts = [("cat", 8, box(size, 2, 2, 9, 9), [])], np.zeros(size, np.uint8)
        else:
            objects, parts = [], np.zeros(size, np.uint8)
        write_anno(root / "human_parts" / f"{sample_id}.mat", sample_id, objects)

        expected[sample_id] = {
            "image": image,
            "semseg": semseg,
            "human_parts": parts,
            "sal": (stored_sal > 127).astype(np.uint8),
            "normals": normals.astype(np.float32),
            "label_map": label_map,
        }
    write_split(root / "ImageSets" / "Context" / "train.txt", train)
    write_split(root / "ImageSets" / "Context" / "val.txt", val)
    return expected
