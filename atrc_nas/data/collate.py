"""Batching of tensor samples."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from atrc_nas.data.io import Sample
from atrc_nas.data.transforms import pad_value
from atrc_nas.tasks import EVAL_TARGETS, label_task


def _stack(tensors: list[torch.Tensor], value: float, key: str) -> torch.Tensor:
    """Stack, padding each tensor at the bottom/right to the largest H and W."""
    lead = {t.shape[:-2] for t in tensors}
    if len(lead) > 1:
        raise ValueError(f"collate: {key!r} has inconsistent leading dims {sorted(lead)}")
    h = max(t.shape[-2] for t in tensors)
    w = max(t.shape[-1] for t in tensors)
    return torch.stack(
        [F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2]), value=value) for t in tensors]
    )


def collate(samples: Sequence[Sample]) -> Sample:
    """Tensor samples -> a batch: ``image`` [B, 3, H, W], each label (task labels and
    evaluation targets) stacked, ``meta`` a list.

    Samples of different sizes are padded at the bottom and right (image 0, labels their
    pad value), which leaves every ``meta["pad"]`` valid.
    """
    if not samples:
        raise ValueError("collate: empty list of samples")
    keys = set(samples[0])
    for i, sample in enumerate(samples[1:], start=1):
        if set(sample) != keys:
            raise ValueError(
                f"collate: sample {i} has keys {sorted(sample)}, sample 0 has {sorted(keys)}"
            )
    unknown = {k for k in keys if k not in ("image", "meta") and label_task(k) is None}
    if unknown:
        raise ValueError(
            f"collate: unknown key(s) {sorted(unknown)}; expected image, meta, task labels "
            f"and evaluation targets ({', '.join(EVAL_TARGETS)})"
        )
    batch: Sample = {"image": _stack([s["image"] for s in samples], 0.0, "image")}
    for key in samples[0]:
        if label_task(key) is not None:
            batch[key] = _stack([s[key] for s in samples], pad_value(key), key)
    batch["meta"] = [s.get("meta", {}) for s in samples]
    return batch
