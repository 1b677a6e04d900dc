"""``local_attention``: the op every caller uses (see the package docstring)."""

from __future__ import annotations

import torch

from atrc_nas.ops.backend import ensure_backend
from atrc_nas.ops.checks import check_args
from atrc_nas.ops.library import forward_op


def local_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    kernel_size: int = 9,
    dilation: int = 1,
) -> torch.Tensor:
    """Softmax attention of every pixel over its k x k (dilated) neighbourhood.

    query, key: [B, d, H, W]; value: [B, C, H, W]; returns [B, C, H, W]. Logits are the raw
    dot products q_i . k_n (callers pre-scale q by 1/sqrt(d)); out-of-image neighbours have
    logit 0 and value 0 and take part in the softmax. Inputs may have any strides.
    Under ``torch.compile`` the kernels loaded by an earlier eager call (or
    ``ensure_backend()``) are used.
    """
    check_args(query, key, value, kernel_size, dilation)
    if not torch.compiler.is_compiling():
        ensure_backend()
    return forward_op(query, key, value, kernel_size, dilation)[0]
