"""Depth bins and normals clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from atrc_nas.data import aux_targets
from atrc_nas.data.aux_targets import (
    depth_to_bin,
    normals_clusters,
    spherical_kmeans,
    valid_unit_normals,
)
from atrc_nas.data.registry import get_dataset_spec


def test_depth_to_bin_hand_values():
    depth = torch.tensor([0.7, 0.5, 2.0, 9.99, 10.0, 40.0, 0.0, 255.0])
    expected_mid = math.floor(40 * math.log(2.0 / 0.7) / math.log(10 / 0.7))
    assert expected_mid == 15
    assert depth_to_bin(depth, get_dataset_spec("nyud")).tolist() == [
        0, 0, 15, 39, 39, 39, 255, 255
    ]


def test_depth_bins_are_log_spaced_between_the_range_ends():
    spec = get_dataset_spec("nyud")
    edges = np.geomspace(0.7, 10.0, 41)  # bin k covers [edges[k], edges[k + 1])
    inside = torch.from_numpy(np.sqrt(edges[:-1] * edges[1:]))  # geometric bin centres
    assert depth_to_bin(inside, spec).tolist() == list(range(40))
    just_above = torch.from_numpy(edges[1:-1] * (1 + 1e-9))
    assert depth_to_bin(just_above, spec).tolist() == list(range(1, 40))


def test_valid_unit_normals_drops_invalid_and_normalises():
    normals = np.array([[[0, 0, 2], [255, 255, 255]], [[0, 0, 0], [3, 4, 0]]], np.float32)
    np.testing.assert_allclose(valid_unit_normals(normals), [[0, 0, 1], [0.6, 0.8, 0]])


def _brute_force_cost(points: np.ndarray, centroids: np.ndarray) -> float:
    return float(sum(max(float(p @ c) for c in centroids) for p in points))


def test_spherical_kmeans_finds_separated_clusters_deterministically():
    rng = np.random.default_rng(0)
    axes = np.eye(3)
    points = np.concatenate([a + 0.05 * rng.normal(size=(50, 3)) for a in axes])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    a = spherical_kmeans(points, 3, seed=1)
    b = spherical_kmeans(points, 3, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    # each true axis is matched by one centroid
    assert sorted(np.argmax(a @ axes.T, axis=1)) == [0, 1, 2]
    assert np.min(np.max(a @ axes.T, axis=1)) > 0.99
    # a local optimum: no centroid can move closer to the mean of its points
    assign = np.argmax(points @ a.T, axis=1)
    for c in range(3):
        mean = points[assign == c].mean(0)
        np.testing.assert_allclose(a[c], mean / np.linalg.norm(mean), atol=1e-12)
    assert _brute_force_cost(points, a) >= _brute_force_cost(points, axes[[0, 1, 1]])


def test_spherical_kmeans_handles_duplicate_points_and_too_few():
    points = np.repeat(np.eye(3), 10, axis=0)
    centroids = spherical_kmeans(points, 3)
    np.testing.assert_allclose(np.sort(np.abs(centroids).argmax(1)), [0, 1, 2])
    with pytest.raises(ValueError, match="2 points"):
        spherical_kmeans(points[:2], 3)


class FakeNormalsDataset:
    """A dataset of random normals maps, counting load_raw calls."""

    def __init__(self, n: int = 6, seed: int = 0) -> None:
        self.spec = get_dataset_spec("synthetic_nyud")
        self.ids = [f"img{i}" for i in range(n)]
        self.loads = 0
        self._seed = seed

    def load_raw(self, index: int) -> dict:
        self.loads += 1
        rng = np.random.default_rng((self._seed, index))
        normals = rng.normal(size=(16, 16, 3)).astype(np.float32)
        normals[:4] = 255.0
        return {"normals": normals}


def test_normals_clusters_cached_and_reused(tmp_path, monkeypatch):
    data = FakeNormalsDataset()
    first = normals_clusters(data, tmp_path, k=8, points_per_image=100)
    assert first.shape == (8, 3) and first.dtype == torch.float32
    torch.testing.assert_close(first.norm(dim=1), torch.ones(8))
    files = list((tmp_path / "normals_clusters").glob("*.npy"))
    assert len(files) == 1 and "synthetic_nyud-k8" in files[0].name
    assert data.loads == 6

    monkeypatch.setattr(aux_targets, "spherical_kmeans", lambda *a, **k: pytest.fail("recomputed"))
    again = normals_clusters(data, tmp_path, k=8, points_per_image=100)
    torch.testing.assert_close(first, again)
    assert data.loads == 6
    monkeypatch.undo()

    # other ids, other k or another fingerprint get their own cache entry
    normals_clusters(data, tmp_path, indices=[0, 1, 2], k=8, points_per_image=100)
    normals_clusters(data, tmp_path, k=4, points_per_image=100)
    normals_clusters(data, tmp_path, k=8, points_per_image=100, fingerprint="other")
    assert len(list((tmp_path / "normals_clusters").glob("*.npy"))) == 4
    assert not list((tmp_path / "normals_clusters").glob("*.tmp"))


def test_normals_clusters_deterministic_without_cache(tmp_path):
    a = normals_clusters(FakeNormalsDataset(), tmp_path / "a", k=5, points_per_image=64)
    b = normals_clusters(FakeNormalsDataset(), tmp_path / "b", k=5, points_per_image=64)
    torch.testing.assert_close(a, b)


def test_normals_clusters_too_few_valid(tmp_path):
    data = FakeNormalsDataset(n=1)
    with pytest.raises(ValueError, match="fewer than the 500 clusters"):
        normals_clusters(data, tmp_path, k=500, points_per_image=100)
