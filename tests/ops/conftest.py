"""Fixtures of the local-attention tests: the F.unfold reference, devices, compiled kernels."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from atrc_nas.ops import BackendInfo, backend, build, ensure_backend
from atrc_nas.ops.reference import unfold_local_attention


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def reference() -> Callable[..., torch.Tensor]:
    return unfold_local_attention


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(scope="session")
def compiled() -> BackendInfo:
    """The compiled kernels (built once per test session); skipped only without a compiler."""
    if backend.requested() == "torch":
        pytest.skip(f"{backend.ENV_BACKEND}=torch")
    missing = build.missing_tools(build.Variant(with_cuda=False))
    if missing:
        pytest.skip(f"cannot build the extension: {missing}")
    info = ensure_backend()
    assert info.name == "cpp", info.reason
    return info


def random_inputs(
    batch: int, d: int, c: int, h: int, w: int, *, dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu", seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, batch, d, h, w, generator=gen, dtype=torch.float64)
    v = torch.randn(batch, c, h, w, generator=gen, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (q, k, v))


@pytest.fixture
def make_inputs() -> Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    return random_inputs
