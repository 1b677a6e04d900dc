import cv2
import numpy as np
import pytest
from scipy import ndimage

from atrc_nas.metrics.thinning import thin


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
