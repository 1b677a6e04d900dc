"""Suite-wide settings: caches go to a temporary folder so tests never touch ~/.cache."""

import os

import pytest


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
