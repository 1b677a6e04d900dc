"""Suite-wide settings (caches go to a temporary folder so tests never touch ~/.cache; Ray,
wherever a test imports it, takes the loopback address as its node address) and the
brute-force thinning shared by the boundary-map and boundary-metric tests."""

import os
from collections.abc import Callable

import numpy as np
import pytest

# Read by ray once, at import: set before any test module imports it (see
# atrc_nas/platform/cluster.py); tests only ever start local clusters on 127.0.0.1.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

# Lightning binds its log handler to sys.stderr when first imported; the package imports it
# lazily, so import it here, before a test's captured stream could be the one it keeps.
import lightning.pytorch  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    previous = os.environ.get("ATRC_NAS_CACHE")
    os.environ["ATRC_NAS_CACHE"] = str(tmp_path_factory.mktemp("atrc_nas_cache"))
    yield
    if previous is None:
        os.environ.pop("ATRC_NAS_CACHE", None)
    else:
        os.environ["ATRC_NAS_CACHE"] = previous


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test tensors run many times faster on one thread than on two shared cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _brute_thin(mask: np.ndarray) -> np.ndarray:
    """Per-pixel loops over the bwmorph 'thin' conditions G1, G2, G3 / G3'."""
    image = np.pad(np.asarray(mask, dtype=bool), 1)
    around = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]

    def removable(r: int, c: int, second: bool) -> bool:
        x = {k + 1: bool(image[r + dr, c + dc]) for k, (dr, dc) in enumerate(around)}
        x[9] = x[1]
        b = [int(not x[2 * i - 1] and (x[2 * i] or x[2 * i + 1])) for i in range(1, 5)]
        n1 = sum(int(x[2 * k - 1] or x[2 * k]) for k in range(1, 5))
        n2 = sum(int(x[2 * k] or x[2 * k + 1]) for k in range(1, 5))
        if second:
            g3 = ((x[6] or x[7] or not x[4]) and x[5]) == 0
        else:
            g3 = ((x[2] or x[3] or not x[8]) and x[1]) == 0
        return sum(b) == 1 and 2 <= min(n1, n2) <= 3 and g3

    changed = True
    while changed:
        changed = False
        for second in (False, True):
            drop = [
                (r, c)
                for r in range(1, image.shape[0] - 1)
                for c in range(1, image.shape[1] - 1)
                if image[r, c] and removable(r, c, second)
            ]
            for r, c in drop:
                image[r, c] = False
            changed |= bool(drop)
    return image[1:-1, 1:-1]


@pytest.fixture
def brute_thin() -> Callable[[np.ndarray], np.ndarray]:
    return _brute_thin
