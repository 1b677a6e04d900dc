"""Label renderers and the sample grid."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from atrc_nas.data.visualize import (
    GAP,
    HEADER,
    class_palette,
    render_binary,
    render_depth,
    render_grid,
    render_normals,
    save_grid,
)


def test_palette_distinct_and_ignore_white():
    palette = class_palette()
    assert len({tuple(c) for c in palette[:64]}) == 64
    assert tuple(palette[255]) == (255, 255, 255)
    assert tuple(palette[0]) == (0, 0, 0)


def test_depth_invalid_black_and_ordered():
    depth = np.array([[0.0, 1.0, 2.0, 255.0]], np.float32)
    rgb = render_depth(depth)
    assert (rgb[0, 0] == 0).all() and (rgb[0, 3] == 0).all()
    assert not (rgb[0, 1] == rgb[0, 2]).all()


def test_normals_rgb_and_invalid_black():
    normals = np.array([[[0, 0, 1], [255, 255, 255], [0, 0, 0], [-1, 0, 0]]], np.float32)
    rgb = render_normals(normals)
    np.testing.assert_array_equal(rgb[0], [[127, 127, 255], [0, 0, 0], [0, 0, 0], [0, 127, 127]])


def test_binary_white_on_black_ignore_grey():
    rgb = render_binary(np.array([[0.0, 1.0, 255.0]], np.float32))
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 255, 128])


def test_grid_size_and_cells(tmp_path):
    rng = np.random.default_rng(0)
    samples = [
        {
            "image": rng.integers(0, 255, (30, 40, 3), dtype=np.uint8),
            "semseg": rng.integers(0, 5, (30, 40), dtype=np.uint8),
            "depth": rng.uniform(1, 5, (30, 40)).astype(np.float32),
            "meta": {"id": f"s{i}"},
        }
        for i in range(3)
    ]
    grid = render_grid(samples, ["semseg", "depth"])
    cell_h, cell_w = 120, 160  # enlarged 4x to the minimum cell width
    assert grid.shape == (HEADER + 3 * cell_h + 2 * GAP, 3 * cell_w + 2 * GAP, 3)
    top = HEADER + cell_h + GAP  # second row, semseg column, away from the id text
    expected = cv2.resize(
        class_palette()[samples[1]["semseg"]], (cell_w, cell_h), interpolation=cv2.INTER_NEAREST
    )
    np.testing.assert_array_equal(
        grid[top : top + 80, cell_w + GAP : 2 * cell_w + GAP], expected[:80]
    )
    path = save_grid(samples, ["semseg"], tmp_path / "out" / "grid.png")
    assert cv2.imread(str(path)).shape == (HEADER + 3 * cell_h + 2 * GAP, 2 * cell_w + GAP, 3)
    with pytest.raises(KeyError, match="no renderer"):
        render_grid(samples, ["colour"])
    with pytest.raises(KeyError, match="'s0' has no 'normals'"):
        render_grid(samples, ["normals"])
