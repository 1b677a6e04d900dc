"""Local attention over a k x k window (ATRC local context), with compiled kernels.

``local_attention`` runs the ``atrc::local_attention_fwd`` op: C++/CUDA kernels built once per
machine (see ``atrc_nas.ops.build``), or pure-PyTorch kernels when no build is possible.
Both go through the same registered op, so autograd, ``torch.compile`` and
``torch.utils.flop_counter.FlopCounterMode`` treat them alike.
"""

from __future__ import annotations

import torch

from atrc_nas.ops.backend import BackendInfo, ensure_backend
from atrc_nas.ops.checks import check_args
from atrc_nas.ops.library import forward_flops, forward_op

__all__ = ["BackendInfo", "ensure_backend", "forward_flops", "local_attention"]


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
