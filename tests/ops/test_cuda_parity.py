"""Parity of the three implementations of local attention in float32, float16 and bfloat16:
the compiled kernels (through the op), the pure-PyTorch kernels (``fallback``) and the
F.unfold reference, each against the reference in float64 on the same rounded inputs
(output and dq, dk, dv), and the compiled kernels against the pure-PyTorch ones directly;
opcheck of both ops in the reduced dtypes. Every test runs on the CPU and, marked ``cuda``,
on a GPU (skipped without one); the NYUD-sized case runs on a GPU only."""

from __future__ import annotations

import pytest
import torch

from atrc_nas.ops import fallback, local_attention
from atrc_nas.ops.library import backward_op, forward_op

pytestmark = pytest.mark.usefixtures("compiled")

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# max |got - want| / max |want| against float64 on the same rounded inputs. The kernels
# accumulate in float32 and round once at the end (half a unit in the last place of the
# dtype: 6e-8, 5e-4, 4e-3); the unfold reference computes in the dtype itself.
KERNEL_TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
UNFOLD_TOL = {torch.float32: 1e-5, torch.float16: 1.5e-2, torch.bfloat16: 1e-1}

# (batch, d, C, H, W, kernel_size, dilation): the NYUD attention width with borders
# everywhere, a dilated window larger than the image with C not a multiple of the 8
# channels a CUDA thread sums, and a small window.
SHAPES = [
    (2, 33, 33, 19, 23, 9, 1),
    (1, 8, 13, 6, 7, 9, 2),
    (2, 5, 3, 9, 10, 3, 1),
]
NAMES = ("out", "dq", "dk", "dv")


def _inputs(shape, dtype, device, seed=0):
    b, d, c, h, w, _, _ = shape
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, d, h, w, generator=gen, dtype=torch.float64) / d**0.5
    k = torch.randn(b, d, h, w, generator=gen, dtype=torch.float64)
    v = torch.randn(b, c, h, w, generator=gen, dtype=torch.float64)
    g = torch.randn(b, c, h, w, generator=gen, dtype=torch.float64)
    return [t.to(device=device, dtype=dtype) for t in (q, k, v, g)]


def _through_op(q, k, v, g, ks, dil):
    inputs = [t.clone().requires_grad_() for t in (q, k, v)]
    out = local_attention(*inputs, ks, dil)
    return [out.detach(), *torch.autograd.grad(out, inputs, g)]


def _fallback(q, k, v, g, ks, dil):
    out, attn = fallback.forward(q, k, v, ks, dil)
    return [out, *fallback.backward(g, q, k, v, attn, ks, dil)]


def _reference(reference, q, k, v, g, ks, dil):
    inputs = [t.clone().requires_grad_() for t in (q, k, v)]
    out = reference(*inputs, ks, dil)
    return [out.detach(), *torch.autograd.grad(out, inputs, g)]


def _relative_errors(got, want):
    return {name: ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()
            for name, a, b in zip(NAMES, got, want, strict=True)}


def _check_parity(shape, dtype, device, compiled, reference):
    if device.type == "cuda":
        assert "cuda" in compiled.compiled_devices, compiled.reason
    *_, ks, dil = shape
    q, k, v, g = _inputs(shape, dtype, device)
    exact = _reference(reference, *(t.double() for t in (q, k, v, g)), ks, dil)
    kernels = _through_op(q, k, v, g, ks, dil)
    torch_kernels = _fallback(q, k, v, g, ks, dil)
    unfold = _reference(reference, q, k, v, g, ks, dil)
    for name, got in zip(NAMES, kernels, strict=True):
        assert got.dtype == dtype and got.device.type == device.type, name
        assert torch.isfinite(got).all(), name
    errors = {
        "compiled vs float64": _relative_errors(kernels, exact),
        "pytorch vs float64": _relative_errors(torch_kernels, exact),
        "compiled vs pytorch": _relative_errors(kernels, torch_kernels),
        "unfold vs float64": _relative_errors(unfold, exact),
    }
    tolerances = {"compiled vs float64": KERNEL_TOL[dtype],
                  "pytorch vs float64": KERNEL_TOL[dtype],
                  "compiled vs pytorch": KERNEL_TOL[dtype],
                  "unfold vs float64": UNFOLD_TOL[dtype]}
    bad = {pair: errs for pair, errs in errors.items()
           if max(errs.values()) > tolerances[pair]}
    assert not bad, f"{dtype} on {device}: relative errors over tolerance: {bad}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES)
def test_three_implementations_agree(shape, dtype, device, compiled, reference):
    _check_parity(shape, dtype, device, compiled, reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("device", [pytest.param(torch.device("cuda"), marks=pytest.mark.cuda)],
                         ids=["cuda"])
def test_three_implementations_agree_at_nyud_size(dtype, device, compiled, reference):
    # The attention of the NYUD hrnet18s network (d = C = 33 at 107x140): full grids.
    _check_parity((2, 33, 33, 107, 140, 9, 1), dtype, device, compiled, reference)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_opcheck_reduced_precision(dtype, device, make_inputs):
    q, k, v = (t.requires_grad_() for t in make_inputs(2, 3, 2, 5, 6, dtype=dtype, device=device))
    torch.library.opcheck(forward_op, (q, k, v, 3, 2))
    out, attn = forward_op(q, k, v, 3, 2)
    assert attn.dtype == torch.float32
    args = (torch.randn_like(out), q.detach(), k.detach(), v.detach(), attn.detach(), 3, 2)
    torch.library.opcheck(backward_op, args)
