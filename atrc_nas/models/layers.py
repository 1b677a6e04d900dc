"""Small building blocks shared by the heads, context blocks and baselines."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv k x k (stride 1, 'same' padding, no bias), BatchNorm, then ReLU if ``relu``.

    ``ConvBNReLU(..., relu=False)`` is the "ConvBN" block. ``bn_affine=False`` gives a BN
    without learnable scale and shift (the value projections while searching).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 1, *,
        relu: bool = True, bn_affine: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size,
                      padding=(kernel_size - 1) // 2, bias=False),
            nn.BatchNorm2d(out_channels, affine=bn_affine),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def classifier(in_channels: int, out_channels: int) -> nn.Conv2d:
    """The 1x1 prediction layer (with bias), initialised N(0, 0.01) / 0."""
    conv = nn.Conv2d(in_channels, out_channels, 1, bias=True)
    nn.init.normal_(conv.weight, mean=0.0, std=0.01)
    nn.init.zeros_(conv.bias)
    return conv


def upsample_concat(features: list[torch.Tensor]) -> torch.Tensor:
    """Upsample every map bilinearly to the first (highest-resolution) one and concatenate."""
    size = features[0].shape[-2:]
    resized = [features[0]] + [
        F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features[1:]
    ]
    return torch.cat(resized, dim=1)


def resize_outputs(
    outputs: dict[str, torch.Tensor], size: tuple[int, int] | torch.Size
) -> dict[str, torch.Tensor]:
    """Bilinearly resize every prediction of a ``{task: [B, K, h, w]}`` dict to ``size``."""
    return {
        task: F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
        for task, pred in outputs.items()
    }
