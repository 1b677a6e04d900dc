"""The pure-PyTorch kernels against the F.unfold reference (values and gradients)."""

from __future__ import annotations

import pytest
import torch

from atrc_nas.ops import fallback


@pytest.mark.parametrize(
    ("kernel_size", "dilation", "h", "w"), [(3, 1, 6, 7), (5, 2, 4, 9), (9, 1, 3, 3), (9, 3, 8, 5)]
)
def test_matches_unfold_reference(kernel_size, dilation, h, w, device, reference, make_inputs):
    inputs = [t.requires_grad_() for t in make_inputs(2, 3, 4, h, w, device=device)]
    out, attn = fallback.forward(*(t.detach() for t in inputs), kernel_size, dilation)
    want = reference(*inputs, kernel_size, dilation)
    torch.testing.assert_close(out, want, atol=1e-12, rtol=1e-10)
    assert attn.shape == (2, kernel_size**2, h, w)
    grad = torch.randn_like(out)
    got = fallback.backward(grad, *(t.detach() for t in inputs), attn, kernel_size, dilation)
    for g, r in zip(got, torch.autograd.grad(want, inputs, grad), strict=True):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=1e-10)


def test_half_inputs_keep_float32_weights(make_inputs):
    q, k, v = make_inputs(1, 2, 3, 4, 4, dtype=torch.float16)
    out, attn = fallback.forward(q, k, v, 3, 1)
    assert (out.dtype, attn.dtype) == (torch.float16, torch.float32)
    grads = fallback.backward(torch.ones_like(out), q, k, v, attn, 3, 1)
    assert [g.dtype for g in grads] == [torch.float16] * 3
    assert all(g.is_contiguous() for g in grads)
