"""The NumPy kernel of ``atrc::boundary_counts`` (see ``atrc_nas.ops.boundary``), used
where the compiled extension is not: the maps thinned by ``atrc_nas.boundary_maps.thin``,
matched by a maximum flow. The tests hold the C++ kernel equal to it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

from atrc_nas.boundary_maps import DELETE_TABLES, thin

_THIN_BUDGET = 1 << 24  # pixels thinned at once (thresholds x image), bounds the memory


def disk_offsets(radius: float) -> np.ndarray:
    """Integer offsets ``[K, 2]`` (row, col) with Euclidean length <= radius."""
    reach = math.floor(radius)
    steps = np.arange(-reach, reach + 1)
    rows, cols = np.meshgrid(steps, steps, indexing="ij")
    inside = rows**2 + cols**2 <= radius**2
    return np.stack([rows[inside], cols[inside]], axis=1)


class EdgeMatcher:
    """One-to-one matching of predicted edge pixels to the GT edge pixels of one image.

    Pixels pair up only when their difference is one of ``offsets``. ``count`` returns the
    size of a maximum matching, found as a maximum flow (Dinic) through source ->
    predicted pixel -> GT pixel -> sink with unit capacities. (scipy's
    ``maximum_bipartite_matching`` can take exponential time on the chain-like graphs that
    edge maps produce, scipy issue 26147, so it is not used.)
    """

    _GATHER_BUDGET = 1 << 22  # candidate pairs examined at once

    def __init__(self, gt: np.ndarray, offsets: np.ndarray) -> None:
        self.offsets = offsets
        self.reach = int(np.abs(offsets).max(initial=0))
        gt_rc = np.argwhere(gt)
        self.n_gt = len(gt_rc)
        self.gt_index = np.full(
            (gt.shape[0] + 2 * self.reach, gt.shape[1] + 2 * self.reach), -1, dtype=np.int64
        )
        self.gt_index[gt_rc[:, 0] + self.reach, gt_rc[:, 1] + self.reach] = np.arange(self.n_gt)
        # pixels with at least one GT pixel within the radius
        self.near_gt = np.zeros(gt.shape, dtype=bool)
        for dr, dc in self.offsets:
            self.near_gt |= self.gt_index[
                self.reach + dr:self.reach + dr + gt.shape[0],
                self.reach + dc:self.reach + dc + gt.shape[1],
            ] >= 0

    def count(self, pred: np.ndarray) -> int:
        """Matched pairs between the True pixels of ``pred`` (same shape as gt) and GT."""
        pred_rc = np.argwhere(pred & self.near_gt) + self.reach
        if len(pred_rc) == 0:
            return 0
        pred_ids, gt_ids = [], []
        step = max(1, self._GATHER_BUDGET // len(self.offsets))
        for start in range(0, len(pred_rc), step):
            chunk = pred_rc[start:start + step]
            near = self.gt_index[
                chunk[:, None, 0] + self.offsets[None, :, 0],
                chunk[:, None, 1] + self.offsets[None, :, 1],
            ]  # [chunk, K]: the GT pixel at each offset, or -1
            rows, slots = np.nonzero(near >= 0)
            pred_ids.append(rows + start)
            gt_ids.append(near[rows, slots])
        return _max_bipartite_matching(np.concatenate(pred_ids), np.concatenate(gt_ids))


def _max_bipartite_matching(left: np.ndarray, right: np.ndarray) -> int:
    """Size of a maximum matching of the bipartite graph with edges (left[i], right[i])."""
    left = np.unique(left, return_inverse=True)[1]
    right_ids, right = np.unique(right, return_inverse=True)
    n_left, n_right = int(left.max()) + 1, len(right_ids)
    source, sink = n_left + n_right, n_left + n_right + 1
    tails = np.concatenate([np.full(n_left, source), left, n_left + np.arange(n_right)])
    heads = np.concatenate([np.arange(n_left), n_left + right, np.full(n_right, sink)])
    network = csr_matrix(
        (np.ones(tails.size, dtype=np.int32), (tails, heads)), shape=(sink + 1, sink + 1)
    )
    return int(maximum_flow(network, source, sink, method="dinic").flow_value)


def numpy_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                 offsets: np.ndarray) -> np.ndarray:
    """The NumPy kernel: ``[2, T]`` (matched predicted pixels, predicted pixels)."""
    matcher = EdgeMatcher(gt, offsets)
    counts = np.zeros((2, len(thresholds)), dtype=np.int64)
    chunk = max(1, _THIN_BUDGET // max(1, prob.size))
    previous, matched = None, 0
    for start in range(0, len(thresholds), chunk):
        level = thresholds[start:start + chunk]
        edges = thin(prob[None] >= level[:, None, None])
        for k, edge in enumerate(edges, start=start):
            if previous is None or not np.array_equal(edge, previous):
                matched = matcher.count(edge)  # adjacent thresholds often give the same map
            previous = edge
            counts[:, k] = (matched, int(edge.sum()))
    return counts


def numpy_kernel(prob: torch.Tensor, gt: torch.Tensor, thresholds: torch.Tensor,
                 offsets: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """``atrc::boundary_counts`` for any device (thinning by ``boundary_maps``' own tables)."""
    if not torch.equal(tables.cpu(), torch.from_numpy(DELETE_TABLES)):
        raise ValueError("boundary_counts: the NumPy kernel thins with boundary_maps' tables")
    counts = numpy_counts(prob.cpu().numpy(), gt.cpu().numpy(), thresholds.cpu().numpy(),
                          offsets.cpu().numpy())
    return torch.from_numpy(counts).to(prob.device)
