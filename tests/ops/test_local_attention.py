"""local_attention through the compiled kernels: values, gradients, strides, dtypes, errors,
FLOP counting and torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from atrc_nas.ops import forward_flops, local_attention
from atrc_nas.ops.library import backward_op, forward_op

pytestmark = pytest.mark.usefixtures("compiled")

# (batch, d, C, H, W, kernel_size, dilation): batch 1, d != C, k = 1, images smaller than
# the window, non-square images and widths that are not whole SIMD vectors.
SHAPES = [
    (2, 5, 3, 7, 6, 3, 1),
    (1, 4, 6, 13, 21, 9, 1),
    (2, 3, 2, 4, 3, 9, 3),
    (1, 2, 3, 9, 17, 5, 2),
    (1, 3, 4, 1, 1, 9, 1),
    (2, 2, 2, 5, 5, 1, 1),
    (1, 3, 2, 6, 7, 11, 1),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_unfold_reference(shape, dtype, device, reference, make_inputs):
    b, d, c, h, w, ks, dil = shape
    q, k, v = make_inputs(b, d, c, h, w, dtype=dtype, device=device)
    out = local_attention(q, k, v, ks, dil)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(out, reference(q, k, v, ks, dil), atol=tol, rtol=tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_match_unfold_reference(shape, device, reference, make_inputs):
    b, d, c, h, w, ks, dil = shape
    inputs = [t.requires_grad_() for t in make_inputs(b, d, c, h, w, device=device)]
    grad = torch.randn(b, c, h, w, dtype=torch.float64, device=device)
    got = torch.autograd.grad(local_attention(*inputs, ks, dil), inputs, grad)
    want = torch.autograd.grad(reference(*inputs, ks, dil), inputs, grad)
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [3, 5, 9])
def test_gradcheck_fp64_with_borders(kernel_size, dilation, device, make_inputs):
    # 5x6 images: every pixel has out-of-image neighbours for k >= 5.
    inputs = [t.requires_grad_() for t in make_inputs(2, 2, 3, 5, 6, device=device, seed=3)]
    assert torch.autograd.gradcheck(
        lambda q, k, v: local_attention(q, k, v, kernel_size, dilation), inputs
    )


def test_any_strides(device, reference, make_inputs):
    q, k, v = make_inputs(2, 4, 3, 6, 9, device=device)
    wide = torch.zeros(*v.shape[:3], 2 * v.shape[3], dtype=v.dtype, device=device)
    wide[..., ::2] = v
    strided = [
        q.contiguous(memory_format=torch.channels_last),
        k.transpose(2, 3).contiguous().transpose(2, 3),
        wide[..., ::2],
    ]
    assert not any(t.is_contiguous() for t in strided)
    inputs = [t.requires_grad_() for t in strided]
    out = local_attention(*inputs, 5, 1)
    torch.testing.assert_close(out, reference(q, k, v, 5, 1))
    grad = torch.randn_like(out).transpose(2, 3).contiguous().transpose(2, 3)
    got = torch.autograd.grad(out, inputs, grad)
    dense = [t.clone().requires_grad_() for t in (q, k, v)]
    want = torch.autograd.grad(reference(*dense, 5, 1), dense, grad)
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_accumulates_in_float32(dtype, device, reference, make_inputs):
    q, k, v = make_inputs(2, 8, 4, 9, 10, dtype=dtype, device=device)
    inputs = [t.requires_grad_() for t in (q, k, v)]
    out = local_attention(*inputs, 5, 2)
    assert out.dtype == dtype
    want = reference(*(t.double() for t in (q, k, v)), 5, 2)
    torch.testing.assert_close(out.double(), want, atol=2e-2, rtol=2e-2)
    grads = torch.autograd.grad(out.float().sum(), inputs)
    assert all(g.dtype == dtype and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 4}, "kernel_size must be a positive odd int"),
        ({"kernel_size": 0}, "kernel_size must be a positive odd int"),
        ({"dilation": 0}, "dilation must be an int >= 1"),
        ({"key": torch.zeros(1, 3, 4, 4)}, "must have the same shape"),
        ({"value": torch.zeros(1, 2, 4, 5)}, "must share batch, height and width"),
        ({"value": torch.zeros(1, 2, 4, 4, dtype=torch.float64)}, "must share a dtype"),
        ({"query": torch.zeros(2, 4, 4)}, "must be 4-D"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    args = {"query": torch.zeros(1, 2, 4, 4), "key": torch.zeros(1, 2, 4, 4),
            "value": torch.zeros(1, 2, 4, 4), "kernel_size": 3, "dilation": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        local_attention(**args)


def test_flop_counter_counts_the_formula(make_inputs):
    b, d, c, h, w, ks = 2, 4, 5, 7, 8, 5
    q, k, v = (t.requires_grad_() for t in make_inputs(b, d, c, h, w, dtype=torch.float32))
    with FlopCounterMode(display=False) as forward_count:
        out = local_attention(q, k, v, ks)
    expected = 2 * b * d * ks**2 * h * w + 2 * b * c * ks**2 * h * w
    assert forward_flops(q.shape, v.shape, ks) == expected
    assert forward_count.get_total_flops() == expected
    assert forward_count.get_flop_counts()["Global"] == {forward_op: expected}
    with FlopCounterMode(display=False) as backward_count:
        out.sum().backward()
    assert backward_count.get_flop_counts()["Global"] == {backward_op: 2 * expected}


def test_torch_compile_traces_through(device, make_inputs):
    q, k, v = make_inputs(1, 3, 2, 6, 7, dtype=torch.float32, device=device)

    def loss(q, k, v):
        return (local_attention(q * 0.5, k, v, 3, 2) ** 2).sum()

    compiled_loss = torch.compile(loss, backend="aot_eager", fullgraph=True)
    eager = [t.clone().requires_grad_() for t in (q, k, v)]
    traced = [t.clone().requires_grad_() for t in (q, k, v)]
    torch.testing.assert_close(compiled_loss(*traced), loss(*eager))
    want = torch.autograd.grad(loss(*eager), eager)
    got = torch.autograd.grad(compiled_loss(*traced), traced)
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r)


@pytest.mark.cuda
def test_cuda_kernels_are_compiled(compiled):
    assert "cuda" in compiled.compiled_devices, compiled.reason
