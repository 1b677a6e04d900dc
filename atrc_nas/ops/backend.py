"""Chooses the kernels behind the ``atrc`` ops: the compiled extension or pure PyTorch.

``ATRC_NAS_LOCAL_ATTN_BACKEND`` = ``auto`` (default: the extension, else PyTorch with one
warning), ``cpp`` (the extension or an error) or ``torch`` (PyTorch, no build attempted).
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from atrc_nas.ops import build

ENV_BACKEND = "ATRC_NAS_LOCAL_ATTN_BACKEND"
CHOICES = ("auto", "cpp", "torch")


@dataclass(frozen=True)
class BackendInfo:
    """Which kernels run the ops, on which devices, and why."""

    name: str  # "cpp" or "torch"
    reason: str
    compiled_devices: tuple[str, ...] = ()  # devices whose kernels come from the extension
    library: Path | None = None


_lock = threading.Lock()
_active: BackendInfo | None = None


def requested() -> str:
    choice = os.environ.get(ENV_BACKEND, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"{ENV_BACKEND}={choice!r} is not one of {', '.join(CHOICES)}")
    return choice


def _warn_fallback(scope: str, reason: str) -> None:
    """``scope`` "": no extension at all (the boundary metric's CPU kernel is missing too);
    "CUDA ": only its CUDA kernels are."""
    also = "" if scope else ", the boundary metric its NumPy ones"
    warnings.warn(
        f"atrc_nas.ops: {scope}local attention uses the pure-PyTorch kernels{also} (several "
        f"times slower): {reason}. Run `python -m atrc_nas.ops build` to see the build log, "
        f"or set {ENV_BACKEND}=torch to choose these kernels without this warning.",
        RuntimeWarning,
        stacklevel=5,  # the caller of local_attention (or of boundary_counts)
    )


def _resolve() -> BackendInfo:
    choice = requested()
    if choice == "torch":
        return BackendInfo("torch", f"forced by {ENV_BACKEND}=torch")
    try:
        result, failures = build.load()
    except build.BuildUnavailable as exc:
        if choice == "cpp":
            raise RuntimeError(
                f"{ENV_BACKEND}=cpp but the extension is unavailable: {exc}"
            ) from exc
        _warn_fallback("", str(exc))
        return BackendInfo("torch", f"extension unavailable: {exc}")
    how = f"built in {result.seconds:.1f} s" if result.built else "loaded the cached build"
    reason = f"{how} ({result.library})"
    if failures:
        reason += f"; not built: {'; '.join(failures)}"
        if torch.cuda.is_available() and "cuda" not in result.devices:
            _warn_fallback("CUDA ", "; ".join(failures))
    return BackendInfo("cpp", reason, result.devices, result.library)


def ensure_backend() -> BackendInfo:
    """Loads (building if needed) the kernels once per process and says which are active."""
    global _active
    if _active is None:
        with _lock:
            if _active is None:
                _active = _resolve()
    return _active
