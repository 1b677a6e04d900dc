"""The ``atrc`` ops: schemas, fake kernels, autograd, FLOP formulas and the PyTorch kernels.

``atrc::local_attention_fwd(q, k, v, kernel_size, dilation) -> (out, attn)`` returns the output
and the softmax weights ``attn`` [B, k*k, H, W] (saved for backward; float32 for half and
bfloat16 inputs). ``atrc::local_attention_bwd(grad_out, q, k, v, attn, kernel_size, dilation)
-> (dq, dk, dv)``. ``atrc::boundary_counts(prob, gt, thresholds, offsets, tables)`` counts
the boundary F-measure's matches per threshold (``atrc_nas.ops.edge_counts``; no autograd).
The pure-PyTorch (and NumPy) kernels are registered for every device
(CompositeExplicitAutograd); the compiled extension, once loaded, registers CPU (and CUDA)
kernels that take precedence on those devices.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import register_flop_formula

from atrc_nas.ops import fallback
from atrc_nas.ops.checks import check_args

NAMESPACE = "atrc"
FORWARD = f"{NAMESPACE}::local_attention_fwd"
BACKWARD = f"{NAMESPACE}::local_attention_bwd"


def _boundary_counts_numpy(*args: torch.Tensor) -> torch.Tensor:
    """The NumPy kernel, imported when first used (it needs SciPy and OpenCV, which local
    attention does not)."""
    from atrc_nas.ops.edge_counts import numpy_kernel

    return numpy_kernel(*args)


_LIB = torch.library.Library(NAMESPACE, "DEF")
_LIB.define(
    "local_attention_fwd(Tensor query, Tensor key, Tensor value, int kernel_size, int dilation)"
    " -> (Tensor, Tensor)"
)
_LIB.define(
    "local_attention_bwd(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor attn,"
    " int kernel_size, int dilation) -> (Tensor, Tensor, Tensor)"
)
_LIB.define(
    "boundary_counts(Tensor prob, Tensor gt, Tensor thresholds, Tensor offsets, Tensor tables)"
    " -> Tensor"
)
_LIB.impl("local_attention_fwd", fallback.forward, "CompositeExplicitAutograd")
_LIB.impl("local_attention_bwd", fallback.backward, "CompositeExplicitAutograd")
_LIB.impl("boundary_counts", _boundary_counts_numpy, "CompositeExplicitAutograd")

forward_op = torch.ops.atrc.local_attention_fwd
backward_op = torch.ops.atrc.local_attention_bwd
boundary_counts_op = torch.ops.atrc.boundary_counts


@torch.library.register_fake(FORWARD)
def _forward_fake(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, kernel_size: int, dilation: int
) -> tuple[torch.Tensor, torch.Tensor]:
    check_args(query, key, value, kernel_size, dilation)
    b, _, h, w = query.shape
    attn = query.new_empty((b, kernel_size * kernel_size, h, w),
                           dtype=fallback.attn_dtype(query.dtype))
    return value.new_empty(value.shape), attn


@torch.library.register_fake(BACKWARD)
def _backward_fake(
    grad_out: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    kernel_size: int,
    dilation: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_args(query, key, value, kernel_size, dilation)
    return query.new_empty(query.shape), key.new_empty(key.shape), value.new_empty(value.shape)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
    query, key, value, kernel_size, dilation = inputs
    attn = output[1]
    ctx.mark_non_differentiable(attn)
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(query, key, value, attn)
    ctx.kernel_size = kernel_size
    ctx.dilation = dilation


def _backward(
    ctx: Any, grad_out: torch.Tensor | None, _grad_attn: torch.Tensor | None
) -> tuple[torch.Tensor | None, ...]:
    if grad_out is None:
        return None, None, None, None, None
    query, key, value, attn = ctx.saved_tensors
    gq, gk, gv = backward_op(grad_out, query, key, value, attn, ctx.kernel_size, ctx.dilation)
    return gq, gk, gv, None, None


torch.library.register_autograd(FORWARD, _backward, setup_context=_setup_context)


def forward_flops(
    query_shape: torch.Size | tuple[int, ...],
    value_shape: torch.Size | tuple[int, ...],
    kernel_size: int,
) -> int:
    """FLOPs of the forward: 2*B*d*k^2*H*W for q.k plus 2*B*C*k^2*H*W for attn.v."""
    b, d, h, w = query_shape
    c = value_shape[1]
    return 2 * b * (d + c) * kernel_size * kernel_size * h * w


@register_flop_formula(forward_op)
def _forward_flop_formula(
    query_shape: torch.Size,
    key_shape: torch.Size,
    value_shape: torch.Size,
    kernel_size: int,
    dilation: int,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    return forward_flops(query_shape, value_shape, kernel_size)


@register_flop_formula(backward_op)
def _backward_flop_formula(
    grad_shape: torch.Size,
    query_shape: torch.Size,
    key_shape: torch.Size,
    value_shape: torch.Size,
    attn_shape: torch.Size,
    kernel_size: int,
    dilation: int,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """dL/dP, dq, dk and dv: each one window product, twice the forward in all."""
    return 2 * forward_flops(query_shape, value_shape, kernel_size)
