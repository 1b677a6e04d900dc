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
