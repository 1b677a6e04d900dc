"""Residual blocks of HRNet and the conv + BN (+ ReLU) helper its transitions and fusions use.

Attribute names (conv1, bn1, ..., downsample.0 / .1) follow the OpenMMLab / timm / official
HRNet layout, so pretrained state dicts load by name.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, relu: bool
) -> nn.Sequential:
    """``Sequential(conv (no bias), BN[, ReLU])``: parameters under ``.0`` and ``.1``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                  padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), each with BN, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
}


def _shortcut(in_channels: int, out_channels: int) -> nn.Sequential | None:
    """1x1 conv + BN projection when the widths differ (HRNet blocks never stride)."""
    if in_channels == out_channels:
        return None
    return conv_bn(in_channels, out_channels, 1, relu=False)


def make_blocks(block: str, in_channels: int, planes: int, num_blocks: int) -> nn.Sequential:
    """``num_blocks`` residual blocks of type ``block``; the first adapts the width."""
    cls = BLOCKS[block]
    out_channels = planes * cls.expansion
    return nn.Sequential(
        *(cls(in_channels if i == 0 else out_channels, planes) for i in range(num_blocks))
    )
