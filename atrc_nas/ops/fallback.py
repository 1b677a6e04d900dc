"""Pure-PyTorch kernels of the local-attention ops: a loop over the k*k shifted windows.

The loop over shifted views of the zero-padded key/value is about 4x faster than F.unfold
and needs far less memory, because it never materialises the [B, C, k*k, H*W] patches.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F


def attn_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype of the saved softmax weights: float32 for half/bfloat16 inputs."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _windows(
    padded: torch.Tensor, kernel_size: int, dilation: int, height: int, width: int
) -> Iterator[torch.Tensor]:
    """Views of a padded [B, C, H + 2p, W + 2p] tensor, one per window tap (row-major)."""
    for dy in range(kernel_size):
        for dx in range(kernel_size):
            oy, ox = dy * dilation, dx * dilation
            yield padded[:, :, oy : oy + height, ox : ox + width]


def _pad(x: torch.Tensor, kernel_size: int, dilation: int) -> torch.Tensor:
    p = (kernel_size // 2) * dilation
    return F.pad(x, (p, p, p, p))


def forward(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel_size: int, dilation: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (out [B, C, H, W], softmax weights [B, k*k, H, W])."""
    h, w = q.shape[-2:]
    acc = attn_dtype(q.dtype)
    qa = q.to(acc)
    logits = torch.stack(
        [
            (qa * kw).sum(1)
            for kw in _windows(_pad(k.to(acc), kernel_size, dilation), kernel_size, dilation, h, w)
        ],
        1,
    )
    attn = logits.softmax(1)
    out = torch.zeros(v.shape, dtype=acc, device=v.device)
    windows = _windows(_pad(v.to(acc), kernel_size, dilation), kernel_size, dilation, h, w)
    for n, vw in enumerate(windows):
        out.addcmul_(attn[:, n : n + 1], vw)
    return out.to(v.dtype), attn


def backward(
    grad_out: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn: torch.Tensor,
    kernel_size: int,
    dilation: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dq, dk, dv) from the saved softmax weights."""
    h, w = q.shape[-2:]
    acc = attn.dtype
    g = grad_out.to(acc)
    qa = q.to(acc)
    grad_p = torch.stack(
        [
            (g * vw).sum(1)
            for vw in _windows(_pad(v.to(acc), kernel_size, dilation), kernel_size, dilation, h, w)
        ],
        1,
    )
    grad_logits = attn * (grad_p - (attn * grad_p).sum(1, keepdim=True))
    p = (kernel_size // 2) * dilation
    gq = torch.zeros(q.shape, dtype=acc, device=q.device)
    gk_pad = q.new_zeros((q.shape[0], q.shape[1], h + 2 * p, w + 2 * p), dtype=acc)
    gv_pad = v.new_zeros((v.shape[0], v.shape[1], h + 2 * p, w + 2 * p), dtype=acc)
    taps = zip(
        _windows(_pad(k.to(acc), kernel_size, dilation), kernel_size, dilation, h, w),
        _windows(gk_pad, kernel_size, dilation, h, w),
        _windows(gv_pad, kernel_size, dilation, h, w),
        strict=True,
    )
    for n, (kw, gkw, gvw) in enumerate(taps):
        gl = grad_logits[:, n : n + 1]
        gq.addcmul_(gl, kw)
        gkw.addcmul_(gl, qa)
        gvw.addcmul_(attn[:, n : n + 1], g)
    gk = gk_pad[:, :, p : p + h, p : p + w].to(k.dtype).contiguous()
    gv = gv_pad[:, :, p : p + h, p : p + w].to(v.dtype).contiguous()
    return gq.to(q.dtype), gk, gv
