"""Boundary maps of label maps and binary maps: one home for the data and the metrics.

* :func:`thin`: morphological thinning to 1-pixel-wide curves (the boundary metric thins
  predictions with it; the PASCAL edge label is thinned with it).
* :func:`edges_from_label_map`: the PASCAL edge *training* label of the reference loaders,
  ``thin(|Laplacian(LabelMap)| > 0)``.
* :func:`seg2bmap`: the boundaries SEISM scores PASCAL predictions against, from the same
  label map (not thinned).

Thinning is the two-subiteration algorithm that MATLAB documents for
``bwmorph(BW, 'thin', Inf)`` (Lam, Lee & Suen, 1992). With the neighbours of a pixel
numbered x1..x8 counter-clockwise from the east neighbour (x9 = x1), a foreground pixel is
deleted when

* G1: exactly one ``i`` in 1..4 has ``x(2i-1) = 0`` and ``x(2i) or x(2i+1)``;
* G2: ``2 <= min(n1, n2) <= 3`` with ``n1 = sum_k (x(2k-1) or x(2k))`` and
  ``n2 = sum_k (x(2k) or x(2k+1))``;
* G3 (first subiteration): ``(x2 or x3 or not x8) and x1`` is false, or
  G3' (second subiteration): ``(x6 or x7 or not x4) and x5`` is false.

Each subiteration decides for all pixels at once from the same state; the two alternate
until neither deletes a pixel. Outside the map counts as background.
"""

from __future__ import annotations

import cv2
import numpy as np

# (row, col) offsets of x1..x8.
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def _deletable(code: int, second: bool) -> bool:
    x = [bool(code >> k & 1) for k in range(8)]
    x.append(x[0])  # x9 = x1; x[k - 1] is x_k
    crossings = sum(not x[2 * i] and (x[2 * i + 1] or x[2 * i + 2]) for i in range(4))
    n1 = sum(x[2 * k] or x[2 * k + 1] for k in range(4))
    n2 = sum(x[2 * k + 1] or x[2 * k + 2] for k in range(4))
    if second:
        g3 = not ((x[5] or x[6] or not x[3]) and x[4])
    else:
        g3 = not ((x[1] or x[2] or not x[7]) and x[0])
    return crossings == 1 and 2 <= min(n1, n2) <= 3 and g3


# deletion tables [2, 256] of the two subiterations, indexed by the neighbour code
# sum_k x_k << (k-1) (the compiled boundary kernel takes them as they are)
DELETE_TABLES = np.array([[_deletable(code, second) for code in range(256)]
                          for second in (False, True)], dtype=bool)


def thin(masks: np.ndarray) -> np.ndarray:
    """Thin a boolean map ``[H, W]`` or a stack ``[..., H, W]`` (each map on its own).

    A pixel is examined again only when a neighbour was deleted since the subiteration
    last examined it, so most of the work follows the number of deletions.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim < 2:
        raise ValueError(f"thin expects a map [..., H, W], got shape {masks.shape}")
    *lead, height, width = masks.shape
    stack = masks.reshape(-1, height, width)
    padded = np.zeros((stack.shape[0], height + 2, width + 2), dtype=bool)
    padded[:, 1:-1, 1:-1] = stack
    flat = padded.reshape(-1)
    row = width + 2
    offsets = np.array([dr * row + dc for dr, dc in _NEIGHBOURS], dtype=np.int64)

    # pixels each subiteration still has to examine: every pixel at first, afterwards
    # the foreground neighbours of pixels deleted since that subiteration last ran
    pending = [flat.copy(), flat.copy()]
    idle = 0
    sub = 0
    while idle < 2:
        candidates = np.flatnonzero(pending[sub])
        pending[sub][candidates] = False
        candidates = candidates[flat[candidates]]
        code = np.zeros(candidates.size, dtype=np.uint8)
        for bit, offset in enumerate(offsets):
            code |= flat[candidates + offset].view(np.uint8) << np.uint8(bit)
        deleted = candidates[DELETE_TABLES[sub][code]]
        flat[deleted] = False
        idle = idle + 1 if deleted.size == 0 else 0
        if deleted.size:
            touched = (deleted[:, None] + offsets[None, :]).reshape(-1)
            touched = touched[flat[touched]]
            pending[0][touched] = True
            pending[1][touched] = True
        sub = 1 - sub
    return padded[:, 1:-1, 1:-1].reshape(*lead, height, width)


def seg2bmap(label_map: np.ndarray) -> np.ndarray:
    """Boolean ``[H, W]`` boundaries of a label map, as SEISM's ``seg2bmap`` computes them at
    the map's own size.

    A pixel is a boundary pixel when its label differs from its east, south or south-east
    neighbour. In the last row only the east neighbour counts, in the last column only the
    south one, and the bottom-right pixel is never a boundary (the image border is not a
    boundary). The boundary lies on the pixel above / left of each label change (half a
    pixel towards the origin) and is not thinned.
    """
    seg = np.asarray(label_map)
    if seg.ndim != 2:
        raise ValueError(f"seg2bmap expects a label map [H, W], got shape {seg.shape}")
    east = seg[:, :-1] != seg[:, 1:]
    south = seg[:-1, :] != seg[1:, :]
    out = np.zeros(seg.shape, dtype=bool)
    if seg.size == 0:
        return out
    out[:-1, :-1] = east[:-1] | south[:, :-1] | (seg[:-1, :-1] != seg[1:, 1:])
    out[-1, :-1] = east[-1]
    out[:-1, -1] = south[:, -1]
    return out


def edges_from_label_map(label_map: np.ndarray) -> np.ndarray:
    """float32 {0, 1} edge label: thin(|Laplacian(label_map)| > 0), the Laplacian being
    OpenCV's 4-neighbour one (borders reflected)."""
    laplacian = cv2.Laplacian(np.asarray(label_map).astype(np.float64), cv2.CV_64F)
    return thin(np.abs(laplacian) > 0).astype(np.float32)
