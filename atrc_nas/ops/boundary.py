"""``boundary_counts``: per-threshold counts of the boundary F-measure for one image.

For every threshold t the map ``prob >= t`` is thinned (``atrc_nas.boundary_maps.thin``) and
its pixels are matched one-to-one to the GT edge pixels at Euclidean distance <= radius; the
op returns the size of a maximum matching and the number of thinned pixels per threshold.
It runs as the ``atrc::boundary_counts`` op: the compiled extension's C++ kernel
(``csrc/boundary_counts_cpu.cpp``: thinning on a work list, Hopcroft-Karp matching,
thresholds on torch's intra-op threads) or the NumPy kernel (``atrc_nas.ops.edge_counts``).
"""

from __future__ import annotations

import numpy as np
import torch

from atrc_nas.boundary_maps import DELETE_TABLES
from atrc_nas.ops.backend import ensure_backend
from atrc_nas.ops.edge_counts import disk_offsets
from atrc_nas.ops.library import boundary_counts_op


def boundary_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                    radius: float) -> np.ndarray:
    """``[2, T]`` int64 per threshold: (matched predicted pixels, predicted pixels).

    ``prob``: float32 ``[H, W]`` (``-inf`` where nothing may be predicted); ``gt``: bool
    ``[H, W]``; ``thresholds``: float64 ``[T]``. Each matched predicted pixel has its own GT
    pixel, so the matched GT count is the same number.
    """
    ensure_backend()
    counts = boundary_counts_op(
        torch.from_numpy(np.ascontiguousarray(prob, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(gt, dtype=bool)),
        torch.from_numpy(np.ascontiguousarray(thresholds, dtype=np.float64)),
        torch.from_numpy(disk_offsets(radius).astype(np.int64)),
        torch.from_numpy(DELETE_TABLES),
    )
    return counts.numpy()
