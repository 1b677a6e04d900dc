"""Local attention over a k x k window (ATRC local context), with compiled kernels.

``local_attention`` runs the ``atrc::local_attention_fwd`` op: C++/CUDA kernels built once per
machine (see ``atrc_nas.ops.build``), or pure-PyTorch kernels when no build is possible.
Both go through the same registered op, so autograd, ``torch.compile`` and
``torch.utils.flop_counter.FlopCounterMode`` treat them alike. The names below are imported
from their modules on first use (``python -m atrc_nas.ops --help`` needs no torch).
"""

from atrc_nas.lazy import lazy_exports

_EXPORTS = {"local_attention": "attention", "BackendInfo": "backend",
            "ensure_backend": "backend", "forward_flops": "library"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
