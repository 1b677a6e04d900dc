"""Render raw samples as a picture: one row per sample, the image then each task's label."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from atrc_nas.data.io import Sample
from atrc_nas.tasks import IGNORE_INDEX

HEADER = 22  # px band naming the columns
GAP = 2  # px between cells
MIN_CELL_WIDTH = 160  # small images are enlarged (integer factor) so the header fits
BACKGROUND = (40, 40, 40)
IGNORE_GREY = 128
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_palette(num: int = 256) -> np.ndarray:
    """A fixed [num, 3] uint8 RGB palette: bits of the class id spread over the high bits
    of R, G and B, so neighbouring ids get distinct colours; the ignore id is white."""
    ids = np.arange(num)
    palette = np.zeros((num, 3), np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    if num > IGNORE_INDEX:
        palette[IGNORE_INDEX] = 255
    return palette.astype(np.uint8)


_PALETTE = class_palette()


def render_classes(label: np.ndarray) -> np.ndarray:
    return _PALETTE[label.astype(np.int64) % 256]


def render_depth(depth: np.ndarray) -> np.ndarray:
    """Viridis over the valid range of this image; invalid (<= 0 or 255) black."""
    valid = (depth > 0) & (depth != IGNORE_INDEX)
    out = np.zeros((*depth.shape, 3), np.uint8)
    if valid.any():
        lo, hi = float(depth[valid].min()), float(depth[valid].max())
        scaled = np.clip((depth - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        colours = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
        out[valid] = colours[valid]
    return out


def render_normals(normals: np.ndarray) -> np.ndarray:
    """RGB = (n + 1) / 2; invalid (any channel 255, or the zero vector) black."""
    valid = (normals != IGNORE_INDEX).all(-1) & (np.abs(normals).sum(-1) > 0)
    rgb = np.clip((normals + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)
    return np.where(valid[..., None], rgb, 0).astype(np.uint8)


def render_binary(label: np.ndarray) -> np.ndarray:
    """1 white, 0 black, ignore grey (edges, saliency)."""
    grey = np.where(label == IGNORE_INDEX, IGNORE_GREY, np.where(label > 0.5, 255, 0))
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)


RENDERERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "semseg": render_classes,
    "human_parts": render_classes,
    "sal": render_binary,
    "edge": render_binary,
    "depth": render_depth,
    "normals": render_normals,
}


def _cell(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if array.shape[:2] == size:
        return array
    return cv2.resize(array, (size[1], size[0]), interpolation=interpolation)


def _put_text(canvas: np.ndarray, text: str, x: int, y: int, width: int) -> None:
    scale = 0.45
    while scale > 0.25 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    cv2.putText(canvas, text, (x + 2, y), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def cell_size(image_shape: Sequence[int]) -> tuple[int, int]:
    """(H, W) of every cell: the first image's size, enlarged to ``MIN_CELL_WIDTH``."""
    h, w = int(image_shape[0]), int(image_shape[1])
    factor = max(1, math.ceil(MIN_CELL_WIDTH / w))
    return h * factor, w * factor


def render_grid(samples: Sequence[Sample], tasks: Sequence[str]) -> np.ndarray:
    """uint8 RGB grid of ``HEADER + rows * ch + (rows - 1) * GAP`` by
    ``cols * cw + (cols - 1) * GAP`` pixels, cols = 1 + len(tasks); see ``cell_size``."""
    if not samples:
        raise ValueError("render_grid: no samples to show")
    unknown = [t for t in tasks if t not in RENDERERS]
    if unknown:
        raise KeyError(f"no renderer for task(s) {unknown}; known: {', '.join(RENDERERS)}")
    columns = ["image", *tasks]
    ch, cw = cell_size(samples[0]["image"].shape)
    height = HEADER + len(samples) * ch + (len(samples) - 1) * GAP
    width = len(columns) * cw + (len(columns) - 1) * GAP
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    for col, name in enumerate(columns):
        _put_text(canvas, name, col * (cw + GAP), HEADER - 7, cw)
    for row, sample in enumerate(samples):
        top = HEADER + row * (ch + GAP)
        cells = [_cell(sample["image"], (ch, cw), cv2.INTER_LINEAR)]
        for task in tasks:
            if task not in sample:
                raise KeyError(f"sample {sample.get('meta', {}).get('id')!r} has no {task!r}")
            cells.append(_cell(RENDERERS[task](sample[task]), (ch, cw), cv2.INTER_NEAREST))
        for col, cell in enumerate(cells):
            left = col * (cw + GAP)
            canvas[top : top + ch, left : left + cw] = cell
        sample_id = str(sample.get("meta", {}).get("id", row))
        _put_text(canvas, sample_id, 0, top + ch - 5, cw)
    return canvas


def save_grid(samples: Sequence[Sample], tasks: Sequence[str], path: str | Path) -> Path:
    """Write ``render_grid`` as a PNG (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = render_grid(samples, tasks)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write the PNG {path}")
    return path
