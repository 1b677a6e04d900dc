"""The auxiliary targets' classes: log-spaced depth bins and normals clusters.

Normals clusters are spherical k-means centroids of valid training normals, computed
deterministically and cached on disk keyed by dataset, sample ids, k and settings.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.fileio import atomic_write_bytes
from atrc_nas.tasks import IGNORE_INDEX, get_task


class RawDataset(Protocol):
    spec: DatasetSpec
    ids: Sequence[str]

    def load_raw(self, index: int) -> dict[str, Any]: ...


def depth_to_bin(depth: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Log-spaced depth bin of each pixel (any shape), ``IGNORE_INDEX`` where invalid.

    ``bin = floor(n * ln(d / d_min) / ln(d_max / d_min))`` clamped to ``[0, n - 1]``, with
    n = ``spec.depth_bins`` and (d_min, d_max) = ``spec.depth_range``.
    """
    n = spec.depth_bins
    d_min, d_max = spec.depth_range
    valid = get_task("depth").valid_mask(depth)
    safe = torch.where(valid, depth, torch.full_like(depth, d_min))
    bins = torch.floor(n * torch.log(safe / d_min) / math.log(d_max / d_min))
    bins = bins.clamp(0, n - 1).long()
    return torch.where(valid, bins, torch.full_like(bins, IGNORE_INDEX))


def valid_unit_normals(normals: np.ndarray) -> np.ndarray:
    """The valid vectors of a [H, W, 3] normals map, L2-normalised, as [N, 3] float64.

    Invalid: any channel 255, or the zero vector.
    """
    flat = normals.reshape(-1, 3).astype(np.float64)
    norm = np.linalg.norm(flat, axis=1)
    keep = (flat != IGNORE_INDEX).all(axis=1) & (norm > 1e-6)
    return flat[keep] / norm[keep, None]


def _kmeans_pp_init(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with the cosine distance 1 - p.c."""
    centroids = [points[rng.integers(len(points))]]
    dist = 1.0 - points @ centroids[0]
    for _ in range(1, k):
        weights = np.clip(dist, 0.0, None)
        total = weights.sum()
        idx = rng.choice(len(points), p=weights / total) if total > 0 else rng.integers(len(points))
        centroids.append(points[idx])
        dist = np.minimum(dist, 1.0 - points @ points[idx])
    return np.stack(centroids)


def spherical_kmeans(points: np.ndarray, k: int, seed: int = 0, max_iters: int = 100) -> np.ndarray:
    """k unit centroids [k, 3] of unit vectors ``points`` [N, 3], maximising total cosine.

    Deterministic for a seed. A cluster that loses all its points is re-seeded with the
    point worst served by the current centroids.
    """
    if len(points) < k:
        raise ValueError(f"spherical_kmeans: {len(points)} points cannot make {k} clusters")
    rng = np.random.default_rng(seed)
    centroids = _kmeans_pp_init(points, k, rng)
    assign = None
    for _ in range(max_iters):
        similarity = points @ centroids.T
        new_assign = similarity.argmax(axis=1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        sums = np.stack(
            [np.bincount(assign, weights=points[:, j], minlength=k) for j in range(3)], axis=1
        )
        norms = np.linalg.norm(sums, axis=1)
        for c in np.flatnonzero(norms < 1e-12):
            worst = int(similarity.max(axis=1).argmin())
            sums[c], norms[c] = points[worst], 1.0
            similarity[worst] = np.inf  # do not hand the same point to two clusters
        centroids = sums / norms[:, None]
    return centroids


def _cache_path(
    cache_dir: Path, spec_name: str, ids: Sequence[str], k: int, settings: dict[str, Any]
) -> Path:
    key = json.dumps({"ids": list(ids), "k": k, **settings}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / "normals_clusters" / f"{spec_name}-k{k}-{digest}.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def normals_clusters(
    dataset: RawDataset,
    cache_dir: str | Path,
    indices: Sequence[int] | None = None,
    k: int | None = None,
    fingerprint: str = "",
    points_per_image: int = 1024,
    seed: int = 0,
) -> torch.Tensor:
    """Unit-vector centroids [k, 3] (float32) of the valid normals of ``dataset[indices]``.

    ``k`` defaults to ``dataset.spec.normals_clusters``. Up to ``points_per_image`` normals
    are drawn from each image (seeded per image). ``fingerprint`` should identify anything
    that changes the data but not the ids (e.g. generator options). Results are cached in
    ``cache_dir/normals_clusters/`` and written atomically, so concurrent ranks are safe.
    """
    k = dataset.spec.normals_clusters if k is None else k
    indices = list(range(len(dataset.ids))) if indices is None else list(indices)
    settings = {"fingerprint": fingerprint, "points_per_image": points_per_image, "seed": seed}
    path = _cache_path(
        Path(cache_dir), dataset.spec.name, [dataset.ids[i] for i in indices], k, settings
    )
    if path.exists():
        return torch.from_numpy(np.load(path)).float()
    chunks = []
    for i in indices:
        vectors = valid_unit_normals(dataset.load_raw(i)["normals"])
        if len(vectors) > points_per_image:
            pick = np.random.default_rng((seed, i)).choice(len(vectors), points_per_image, False)
            vectors = vectors[np.sort(pick)]
        chunks.append(vectors)
    points = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    if len(points) < k:
        raise ValueError(
            f"dataset {dataset.spec.name!r}: {len(points)} valid normals in {len(indices)} "
            f"images, fewer than the {k} clusters asked for"
        )
    centroids = spherical_kmeans(points, k, seed=seed)
    _save_npy(path, centroids)
    return torch.from_numpy(centroids).float()
