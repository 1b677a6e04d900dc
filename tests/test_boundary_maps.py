"""Boundary maps: thinning, the PASCAL edge label and SEISM's seg2bmap."""

import cv2
import numpy as np
import pytest
from scipy import ndimage

from atrc_nas.boundary_maps import edges_from_label_map, seg2bmap, thin


def _blobs(seed: int, shape=(14, 17), level=0.55) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random(shape), 1.2)
    return smooth > np.quantile(smooth, level)


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_blobs(seed, brute_thin):
    mask = _blobs(seed, level=0.3 + 0.1 * seed)
    np.testing.assert_array_equal(thin(mask), brute_thin(mask))


def test_stack_is_thinned_map_by_map(brute_thin):
    stack = np.stack([_blobs(s) for s in range(3)])
    out = thin(stack)
    assert out.shape == stack.shape
    for got, mask in zip(out, stack, strict=True):
        np.testing.assert_array_equal(got, brute_thin(mask))


def test_thick_bar_becomes_one_pixel_line():
    mask = np.zeros((9, 20), dtype=bool)
    mask[3:6, 2:18] = True
    out = thin(mask)
    assert out.sum(axis=0)[4:16].tolist() == [1] * 12  # one pixel per column
    assert (out <= mask).all()


@pytest.mark.parametrize("seed", range(3))
def test_properties_subset_idempotent_connected(seed):
    mask = _blobs(seed, shape=(30, 40), level=0.4)
    out = thin(mask)
    assert (out <= mask).all()
    np.testing.assert_array_equal(thin(out), out)
    eight = np.ones((3, 3))
    assert ndimage.label(out, eight)[1] == ndimage.label(mask, eight)[1]


def test_thin_curves_and_isolated_pixels_stay():
    mask = np.zeros((10, 10), dtype=bool)
    mask[2, 1:9] = True
    mask[np.arange(4, 9), np.arange(1, 6)] = True
    mask[8, 8] = True
    np.testing.assert_array_equal(thin(mask), mask)
    assert not thin(np.zeros((4, 5), dtype=bool)).any()


def test_rejects_vectors():
    with pytest.raises(ValueError, match=r"\[\.\.\., H, W\]"):
        thin(np.ones(5, dtype=bool))


def _no_2x2_block(mask: np.ndarray) -> bool:
    m = mask.astype(bool)
    return not (m[:-1, :-1] & m[1:, :-1] & m[:-1, 1:] & m[1:, 1:]).any()


def test_thin_makes_one_pixel_wide_lines_and_keeps_topology():
    mask = np.zeros((20, 30), bool)
    mask[5:10, 3:27] = True  # thick bar
    mask[12:19, 2:9] = True  # square
    mask[14:17, 4:7] = False  # with a hole
    thinned = thin(mask)
    assert (thinned <= mask).all() and _no_2x2_block(thinned)
    n_before, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    n_after, _ = cv2.connectedComponents(thinned.astype(np.uint8), connectivity=8)
    assert n_before == n_after
    holes_before, _ = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    holes_after, _ = cv2.connectedComponents((~thinned).astype(np.uint8), connectivity=4)
    assert holes_before == holes_after  # the ring is not broken
    assert thinned[5:10, 10].sum() == 1  # the bar became a line
    line = np.zeros((5, 9), bool)
    line[2, 1:8] = True
    np.testing.assert_array_equal(thin(line), line)


# seg2bmap ------------------------------------------------------------------------------


def _brute_seg2bmap(seg: np.ndarray) -> np.ndarray:
    """SEISM's seg2bmap written out pixel by pixel: compare with the east, south and
    south-east neighbours, which are 0 outside the map; then the last row compares east
    only, the last column south only, and the bottom-right pixel is cleared."""
    h, w = seg.shape

    def at(r: int, c: int) -> int:
        return int(seg[r, c]) if r < h and c < w else 0

    b = np.zeros((h, w), dtype=bool)
    for r in range(h):
        for c in range(w):
            b[r, c] = at(r, c) != at(r, c + 1) or at(r, c) != at(r + 1, c) or (
                at(r, c) != at(r + 1, c + 1))
    for c in range(w):
        b[h - 1, c] = at(h - 1, c) != at(h - 1, c + 1)
    for r in range(h):
        b[r, w - 1] = at(r, w - 1) != at(r + 1, w - 1)
    b[h - 1, w - 1] = False
    return b


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (7, 9), (12, 5)])
@pytest.mark.parametrize("labels", [(0, 1, 2), (3, 4)])
def test_seg2bmap_matches_brute_force(shape, labels):
    # labels without 0 would turn the whole last row / column into boundaries if the
    # border rules were wrong (the shifted maps are 0-filled)
    rng = np.random.default_rng(sum(shape) + len(labels))
    for _ in range(4):
        seg = rng.choice(labels, size=shape).astype(np.uint16)
        got = seg2bmap(seg)
        assert got.dtype == bool and got.shape == shape
        np.testing.assert_array_equal(got, _brute_seg2bmap(seg))


def test_seg2bmap_marks_the_pixel_before_each_change_and_not_the_image_border():
    seg = np.full((5, 6), 7, np.uint16)
    assert not seg2bmap(seg).any()  # one region: the image border is no boundary
    seg[:, 3:] = 2  # vertical change between columns 2 and 3
    expected = np.zeros((5, 6), dtype=bool)
    expected[:, 2] = True  # every row, the last one included
    np.testing.assert_array_equal(seg2bmap(seg), expected)
    seg = np.full((5, 6), 7, np.uint16)
    seg[3:, :] = 2  # horizontal change between rows 2 and 3
    expected = np.zeros((5, 6), dtype=bool)
    expected[2, :] = True
    np.testing.assert_array_equal(seg2bmap(seg), expected)
    corner = np.ones((3, 3), int)
    corner[2, 2] = 2  # (1, 1) differs only from its south-east neighbour
    np.testing.assert_array_equal(
        seg2bmap(corner), [[False, False, False], [False, True, True], [False, True, False]]
    )


def test_seg2bmap_is_not_thinned_and_rejects_stacks():
    checker = np.indices((6, 6)).sum(axis=0) % 2
    bmap = seg2bmap(checker)
    assert bmap[:-1, :].all() and bmap[-1, :-1].all() and not bmap[-1, -1]
    assert not seg2bmap(np.zeros((0, 0), int)).any()
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        seg2bmap(np.zeros((2, 3, 3), int))


# the PASCAL edge label -------------------------------------------------------------------


def test_edges_from_label_map():
    label_map = np.full((12, 16), 5, np.uint16)
    label_map[:, 8:] = 9
    edges = edges_from_label_map(label_map)
    assert edges.dtype == np.float32 and set(np.unique(edges)) <= {0.0, 1.0}
    assert (edges[:, :7] == 0).all() and (edges[:, 9:] == 0).all()
    assert (edges[1:-1, 7:9].sum(axis=1) == 1).all()
    single = np.zeros((12, 16), np.uint16)
    assert edges_from_label_map(single).sum() == 0
    single[4:8, 4:10] = 3  # a box: its contour, one pixel wide
    edges = edges_from_label_map(single)
    assert _no_2x2_block(edges) and edges[4:8, 4:10].sum() > 0
    assert edges[:3].sum() == 0 and edges[9:].sum() == 0


def test_training_edges_and_seg2bmap_differ_on_the_same_map():
    # A box of class 3 in class 0: seg2bmap marks the ring just outside its top and left
    # sides and just inside its bottom and right ones; the training label is a thinned
    # Laplacian contour. They share pixels but are not the same map.
    label_map = np.zeros((12, 16), np.uint16)
    label_map[4:8, 4:10] = 3
    bmap = seg2bmap(label_map)
    edges = edges_from_label_map(label_map).astype(bool)
    assert bmap.sum() == 2 * (5 + 7) - 4  # the ring of rows 3..7 x cols 3..9
    assert (bmap & edges).any() and (bmap != edges).any()
