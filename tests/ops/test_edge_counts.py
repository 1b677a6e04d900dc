"""The boundary-count op: the compiled kernel against the NumPy kernel, and the NumPy
kernel's own pieces (the metric against a brute-force reference: tests/metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from atrc_nas.boundary_maps import DELETE_TABLES
from atrc_nas.ops import edge_counts
from atrc_nas.ops.boundary import boundary_counts
from atrc_nas.ops.edge_counts import EdgeMatcher, disk_offsets, numpy_counts


def _case(seed: int):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(4, 48, size=2))
    prob = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(0.3, 2.5))
    prob = ((prob - prob.min()) / (np.ptp(prob) + 1e-9)).astype(np.float32)
    if seed % 3 == 0:
        prob[rng.random((h, w)) < 0.15] = -np.inf  # pixels that may not be predicted
    gt = rng.random((h, w)) < rng.uniform(0.0, 0.4)
    thresholds = np.linspace(0.01, 0.99, int(rng.integers(1, 25)))
    return prob, gt, thresholds, float(rng.uniform(0.5, 4.0))


@pytest.mark.parametrize("threads", [1, 3])
def test_compiled_kernel_equals_the_numpy_kernel(compiled, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # thresholds split into blocks, each with its own buffers
    try:
        for seed in range(40):
            prob, gt, thresholds, radius = _case(seed)
            np.testing.assert_array_equal(
                boundary_counts(prob, gt, thresholds, radius),
                numpy_counts(prob, gt, thresholds, disk_offsets(radius)),
                err_msg=f"case {seed}")
    finally:
        torch.set_num_threads(previous)


def test_compiled_kernel_finds_long_augmenting_paths(compiled):
    # Predictions on row 0 at the odd columns reach the GT pixels of row 1 at the even
    # columns on either side (radius 1.5); a first-free-neighbour start pairs each with its
    # left one. The prediction at row 2, column 0 reaches only GT (1, 0), so it is matched
    # only by shifting the whole row one GT pixel to the right: one augmenting path through
    # all 2 n + 1 vertices.
    n = 2000
    gt = np.zeros((3, 2 * n + 1), dtype=bool)
    gt[1, ::2] = True
    prob = np.zeros(gt.shape, dtype=np.float32)
    prob[0, 1::2] = 1.0  # isolated pixels survive thinning
    prob[2, 0] = 1.0
    thresholds = np.array([0.5])
    got = boundary_counts(prob, gt, thresholds, 1.5)
    np.testing.assert_array_equal(got, numpy_counts(prob, gt, thresholds, disk_offsets(1.5)))
    assert got[:, 0].tolist() == [n + 1, n + 1]  # every prediction matched


def test_empty_maps(compiled):
    prob = np.full((6, 7), -np.inf, dtype=np.float32)
    gt = np.zeros((6, 7), dtype=bool)
    thresholds = np.linspace(0.01, 0.99, 3)
    assert boundary_counts(prob, gt, thresholds, 1.5).tolist() == [[0] * 3, [0] * 3]
    prob[:] = 1.0
    counts = boundary_counts(prob, gt, thresholds, 1.5)
    assert counts[0].tolist() == [0] * 3 and (counts[1] > 0).all()  # nothing to match


def test_edge_matcher_prefers_a_complete_matching():
    # a greedy nearest-first choice would pair pred (0,1) with GT (0,1) and leave GT (0,0)
    # without partner; the maximum matching pairs both
    gt = np.zeros((3, 4), dtype=bool)
    gt[0, 0] = gt[0, 2] = True
    pred = np.zeros_like(gt)
    pred[0, 1] = pred[0, 3] = True
    assert EdgeMatcher(gt, disk_offsets(1.0)).count(pred) == 2
    assert EdgeMatcher(gt, disk_offsets(0.5)).count(pred) == 0
    assert EdgeMatcher(np.zeros_like(gt), disk_offsets(3.0)).count(pred) == 0


def test_numpy_kernel_chunked_thinning_and_gathering_give_the_same_counts(monkeypatch):
    prob, gt, _, radius = _case(4)
    thresholds = np.linspace(0.01, 0.99, 7)
    whole = numpy_counts(prob, gt, thresholds, disk_offsets(radius))
    monkeypatch.setattr(edge_counts, "_THIN_BUDGET", prob.size * 2)  # two thresholds a chunk
    monkeypatch.setattr(EdgeMatcher, "_GATHER_BUDGET", 64)
    np.testing.assert_array_equal(
        numpy_counts(prob, gt, thresholds, disk_offsets(radius)), whole)


def test_numpy_kernel_runs_behind_the_op_and_checks_its_tables():
    prob, gt, thresholds, radius = _case(5)
    args = [torch.from_numpy(prob), torch.from_numpy(gt), torch.from_numpy(thresholds),
            torch.from_numpy(disk_offsets(radius))]
    tables = torch.from_numpy(DELETE_TABLES)
    np.testing.assert_array_equal(edge_counts.numpy_kernel(*args, tables).numpy(),
                                  numpy_counts(prob, gt, thresholds, disk_offsets(radius)))
    with pytest.raises(ValueError, match="tables"):
        edge_counts.numpy_kernel(*args, ~tables)
