"""The reference semantics of local attention, written with F.unfold.

Materialises the [B, C, k*k, H*W] window patches: slow and memory-hungry, which is why the
kernels exist, but it states the semantics in a few lines. Tests and benchmarks compare
against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def unfold_local_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, kernel_size: int, dilation: int
) -> torch.Tensor:
    """Zero-padded k x k windows: out-of-image taps have logit 0 and value 0."""
    b, d, h, w = query.shape
    c = value.shape[1]
    taps = kernel_size * kernel_size
    pad = (kernel_size // 2) * dilation
    ku = F.unfold(key, kernel_size, dilation=dilation, padding=pad).view(b, d, taps, h * w)
    vu = F.unfold(value, kernel_size, dilation=dilation, padding=pad).view(b, c, taps, h * w)
    attn = (query.reshape(b, d, 1, h * w) * ku).sum(1).softmax(1)
    return (attn.unsqueeze(1) * vu).sum(2).view(b, c, h, w)
