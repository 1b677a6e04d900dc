"""The registered atrc ops: opcheck (schema, fake kernels, autograd registration, AOT
dispatch) and the meaning of the saved softmax weights."""

from __future__ import annotations

import pytest
import torch

from atrc_nas.ops.library import backward_op, forward_op

pytestmark = pytest.mark.usefixtures("compiled")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_forward_and_backward(dtype, device, make_inputs):
    q, k, v = (t.requires_grad_() for t in make_inputs(2, 3, 2, 5, 6, dtype=dtype, device=device))
    torch.library.opcheck(forward_op, (q, k, v, 3, 2))
    out, attn = forward_op(q, k, v, 3, 2)
    args = (torch.randn_like(out), q.detach(), k.detach(), v.detach(), attn.detach(), 3, 2)
    torch.library.opcheck(backward_op, args)


def test_attn_holds_the_softmax_weights(device, make_inputs):
    q, k, v = make_inputs(1, 2, 3, 4, 5, device=device)
    out, attn = forward_op(q, k, v, 3, 1)
    assert attn.shape == (1, 9, 4, 5)
    torch.testing.assert_close(attn.sum(1), torch.ones(1, 4, 5, dtype=attn.dtype, device=device))
    # Corner pixel (0, 0): taps 0-3 and 6 are outside the image, so logit 0 and value 0.
    inside = [4, 5, 7, 8]
    logits = torch.zeros(9, dtype=q.dtype, device=device)
    for n in inside:
        dy, dx = divmod(n, 3)
        logits[n] = (q[0, :, 0, 0] * k[0, :, dy - 1, dx - 1]).sum()
    torch.testing.assert_close(attn[0, :, 0, 0], logits.softmax(0))
    want = sum(attn[0, n, 0, 0] * v[0, :, n // 3 - 1, n % 3 - 1] for n in inside)
    torch.testing.assert_close(out[0, :, 0, 0], want)


def test_attn_is_float32_for_half_inputs(make_inputs):
    q, k, v = make_inputs(1, 2, 2, 3, 3, dtype=torch.bfloat16)
    out, attn = forward_op(q, k, v, 3, 1)
    assert (out.dtype, attn.dtype) == (torch.bfloat16, torch.float32)
    with torch._subclasses.FakeTensorMode():
        fq, fk, fv = (torch.empty(1, 2, 3, 3, dtype=torch.bfloat16) for _ in range(3))
        fake_out, fake_attn = forward_op(fq, fk, fv, 3, 1)
    assert (fake_out.dtype, fake_attn.dtype, fake_attn.shape) == (
        torch.bfloat16, torch.float32, (1, 9, 3, 3))


def test_attn_output_is_not_differentiable(make_inputs):
    q, k, v = (t.requires_grad_() for t in make_inputs(1, 2, 2, 3, 3))
    out, attn = forward_op(q, k, v, 3, 1)
    assert out.requires_grad and not attn.requires_grad
