"""Argument checks of local attention, shared by the public function and the fake kernels."""

from __future__ import annotations

import torch


def check_args(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, kernel_size: int, dilation: int
) -> None:
    """Raises ValueError naming the bad argument when the inputs do not fit together."""
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise ValueError(
            "local_attention: query, key and value must be 4-D [B, C, H, W]; got "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape != key.shape:
        raise ValueError(
            f"local_attention: query {tuple(query.shape)} and key {tuple(key.shape)} "
            "must have the same shape"
        )
    if value.shape[0] != query.shape[0] or value.shape[2:] != query.shape[2:]:
        raise ValueError(
            f"local_attention: value {tuple(value.shape)} must share batch, height and width "
            f"with query {tuple(query.shape)}"
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise ValueError(
            "local_attention: query, key and value must share a dtype; got "
            f"{query.dtype}, {key.dtype}, {value.dtype}"
        )
    if not (query.device == key.device == value.device):
        raise ValueError(
            "local_attention: query, key and value must be on one device; got "
            f"{query.device}, {key.device}, {value.device}"
        )
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"local_attention: kernel_size must be a positive odd int, got {kernel_size!r}"
        )
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"local_attention: dilation must be an int >= 1, got {dilation!r}")
