"""Input checks and the F-measure shared by the metrics."""

from __future__ import annotations

import torch


def check_inputs(
    metric: str,
    preds: torch.Tensor,
    target: torch.Tensor,
    pred_channels: int | None,
    target_channels: int | None,
) -> None:
    """Raise a ValueError unless ``preds`` and ``target`` are batches of the same size.

    ``*_channels`` None means a map ``[B, H, W]``, an int ``C`` means ``[B, C, H, W]``.
    """
    for what, tensor, channels in (("preds", preds, pred_channels),
                                   ("target", target, target_channels)):
        expected = "[B, H, W]" if channels is None else f"[B, {channels}, H, W]"
        dims = 3 if channels is None else 4
        if tensor.dim() != dims or (channels is not None and tensor.shape[1] != channels):
            raise ValueError(f"{metric}: {what} must be {expected}, got {tuple(tensor.shape)}")
    if preds.shape[0] != target.shape[0] or preds.shape[-2:] != target.shape[-2:]:
        raise ValueError(
            f"{metric}: preds {tuple(preds.shape)} and target {tuple(target.shape)} differ in "
            "batch size or resolution; predictions must be at label resolution"
        )


def f_measure(
    matched_pred: torch.Tensor,
    n_pred: torch.Tensor,
    matched_gt: torch.Tensor,
    n_gt: torch.Tensor,
    beta_squared: float = 1.0,
) -> torch.Tensor:
    """F_beta from counts: P = matched_pred / n_pred, R = matched_gt / n_gt.

    A precision or recall with a zero denominator counts as 0, and so does F when
    both are 0.
    """
    matched_pred, n_pred, matched_gt, n_gt = (
        torch.as_tensor(x, dtype=torch.float64) for x in (matched_pred, n_pred, matched_gt, n_gt)
    )
    precision = torch.where(n_pred > 0, matched_pred / n_pred.clamp_min(1), 0.0)
    recall = torch.where(n_gt > 0, matched_gt / n_gt.clamp_min(1), 0.0)
    denom = beta_squared * precision + recall
    return torch.where(
        denom > 0, (1 + beta_squared) * precision * recall / denom.clamp_min(1e-300), 0.0
    )
