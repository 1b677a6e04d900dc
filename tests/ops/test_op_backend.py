"""Backend choice: the environment variable, the one warning on fallback, and the pure-PyTorch
kernels giving the compiled kernels' numbers through the same op."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from atrc_nas.ops import backend, build, local_attention


@pytest.fixture
def fresh_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_active", None)


def _unavailable() -> None:
    raise build.BuildUnavailable("no C++ compiler")


@pytest.mark.usefixtures("fresh_backend")
def test_bad_choice_names_the_variable(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "fast")
    with pytest.raises(ValueError, match="ATRC_NAS_LOCAL_ATTN_BACKEND='fast' is not one of"):
        backend.ensure_backend()


@pytest.mark.usefixtures("fresh_backend")
def test_forced_torch_never_builds(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "torch")
    monkeypatch.setattr(build, "load", lambda: pytest.fail("build attempted"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = backend.ensure_backend()
    assert (info.name, info.compiled_devices) == ("torch", ())
    assert "forced" in info.reason


@pytest.mark.usefixtures("fresh_backend")
def test_auto_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "auto")
    monkeypatch.setattr(build, "load", _unavailable)
    with pytest.warns(RuntimeWarning, match="pure-PyTorch kernels.*no C\\+\\+ compiler") as record:
        first = backend.ensure_backend()
        second = backend.ensure_backend()
    assert len(record) == 1
    assert "the boundary metric its NumPy ones" in str(record[0].message)
    assert first is second and first.name == "torch"


def test_a_cuda_only_fallback_leaves_the_boundary_metric_out():
    with pytest.warns(RuntimeWarning, match="CUDA local attention uses") as record:
        backend._warn_fallback("CUDA ", "no nvcc")
    assert "boundary" not in str(record[0].message)


@pytest.mark.usefixtures("fresh_backend")
def test_forced_cpp_raises_when_unavailable(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "cpp")
    monkeypatch.setattr(build, "load", _unavailable)
    with pytest.raises(RuntimeError, match="=cpp but the extension is unavailable: no C"):
        backend.ensure_backend()


_FALLBACK_RUN = """
import sys, warnings, torch
warnings.simplefilter("error")
from atrc_nas.ops import ensure_backend, local_attention
q, k, v, g = torch.load(sys.argv[1])
inputs = [t.requires_grad_() for t in (q, k, v)]
out = local_attention(*inputs, 5, 2)
grads = torch.autograd.grad(out, inputs, g)
torch.save((ensure_backend().name, out.detach(), *grads), sys.argv[2])
"""


@pytest.mark.usefixtures("compiled")
def test_fallback_gives_the_same_numbers(tmp_path: Path, make_inputs):
    q, k, v = make_inputs(2, 4, 3, 9, 11, dtype=torch.float32)
    g = torch.randn_like(v)
    torch.save((q, k, v, g), tmp_path / "inputs.pt")
    env = {**os.environ, backend.ENV_BACKEND: "torch"}
    paths = [str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")]
    subprocess.run([sys.executable, "-c", _FALLBACK_RUN, *paths], env=env, check=True, timeout=120)
    name, out, *grads = torch.load(tmp_path / "out.pt")
    assert name == "torch"
    inputs = [t.requires_grad_() for t in (q, k, v)]
    want = local_attention(*inputs, 5, 2)
    torch.testing.assert_close(out, want.detach(), atol=1e-5, rtol=1e-5)
    for got, ref in zip(grads, torch.autograd.grad(want, inputs, g), strict=True):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
