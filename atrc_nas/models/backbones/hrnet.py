"""HRNetV2 backbone, configured by :class:`HRNetSpec`; the registered variants are specs.

Layout (HRNetV2 as in MMSegmentation): stem (two 3x3 stride-2 conv + BN + ReLU), stage 1
(``layer1``: residual blocks on one stride-4 branch), then stages 2-4, each preceded by a
transition that adapts widths and adds one branch at half the resolution of the last, and
made of HR modules (per-branch residual blocks, then every output branch sums all inputs).
Every module keeps all branches ("multi-scale output"). Downsampling fuse paths are chains
of 3x3 stride-2 conv + BN with ReLU between. Upsampling fuse paths follow the ATRC
reference: 1x1 conv + BN, a bilinear upsample by the integer factor ``2 ** (src - dst)``,
then, only where that size differs from the target branch's (inputs that are not multiples
of 32, e.g. NYUD's 425x560), a second bilinear resize to it (see :func:`upsample_fused`).
Parameter names match OpenMMLab / timm HRNet checkpoints (see ``weights.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from atrc_nas.models.backbones.blocks import BLOCKS, conv_bn, make_blocks


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``num_modules`` modules of ``num_blocks[b]`` blocks on branch ``b``."""

    block: str
    num_modules: int
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]

    def out_channels(self) -> tuple[int, ...]:
        return tuple(c * BLOCKS[self.block].expansion for c in self.num_channels)


@dataclass(frozen=True)
class HRNetSpec:
    """Stem width and the four stages; stage ``i`` (1-based) has ``i`` branches."""

    stem_channels: int
    stages: tuple[StageSpec, StageSpec, StageSpec, StageSpec]

    def __post_init__(self) -> None:
        if len(self.stages) != 4:
            raise ValueError(f"HRNet needs 4 stages, got {len(self.stages)}")
        for index, stage in enumerate(self.stages, start=1):
            where = f"stage{index}"
            if stage.block not in BLOCKS:
                raise ValueError(f"{where}: block {stage.block!r} is not one of {sorted(BLOCKS)}")
            if not (len(stage.num_blocks) == len(stage.num_channels) == index):
                raise ValueError(
                    f"{where} needs {index} branch(es): got num_blocks={stage.num_blocks}, "
                    f"num_channels={stage.num_channels}"
                )
            if stage.num_modules < 1 or min(stage.num_blocks) < 1:
                raise ValueError(f"{where}: num_modules and num_blocks must be >= 1")
        if self.stages[0].num_modules != 1:
            raise ValueError("stage1 is a single residual layer: num_modules must be 1")


class HRModule(nn.Module):
    """Parallel residual branches followed by all-to-all multi-resolution fusion.

    Inputs and outputs have the branch widths ``num_channels * expansion``.
    """

    def __init__(self, block: str, num_blocks: tuple[int, ...],
                 num_channels: tuple[int, ...]) -> None:
        super().__init__()
        widths = [c * BLOCKS[block].expansion for c in num_channels]
        self.branches = nn.ModuleList(
            make_blocks(block, width, planes, n)
            for width, planes, n in zip(widths, num_channels, num_blocks, strict=True)
        )
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(widths, src, dst) for src in range(len(widths)))
            for dst in range(len(widths))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for dst, paths in enumerate(self.fuse_layers):
            size = xs[dst].shape[-2:]
            total = xs[dst]
            for src, path in enumerate(paths):
                if src == dst:
                    continue
                y = path(xs[src])
                if src > dst:
                    y = upsample_fused(y, 2 ** (src - dst), size)
                total = total + y
            fused.append(self.relu(total))
        return fused


def upsample_fused(
    y: torch.Tensor, factor: int, size: tuple[int, int] | torch.Size
) -> torch.Tensor:
    """The resampling of an upsampling fuse path, as in the reference.

    First a bilinear upsample by ``factor`` whose source coordinates come from the factor
    (what ``nn.Upsample(scale_factor=factor, mode="bilinear")`` does; the output is
    ``floor(factor * input)`` pixels), then, only if that is not ``size``, a bilinear resize
    to ``size``. At sizes where ``factor * input == size`` this equals a single resize to
    ``size``; elsewhere the two differ.
    """
    y = F.interpolate(y, scale_factor=float(factor), mode="bilinear", align_corners=False)
    if y.shape[-2:] != size:
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    return y


def _fuse_path(widths: list[int], src: int, dst: int) -> nn.Module:
    """Path from branch ``src`` to branch ``dst`` (upsampling paths resample in forward, with
    :func:`upsample_fused`; they hold no parameters)."""
    if src == dst:
        return nn.Identity()
    if src > dst:
        return conv_bn(widths[src], widths[dst], 1, relu=False)
    steps = dst - src
    chain = [conv_bn(widths[src], widths[src], 3, stride=2, relu=True) for _ in range(steps - 1)]
    chain.append(conv_bn(widths[src], widths[dst], 3, stride=2, relu=False))
    return nn.Sequential(*chain)


def _transition(pre: tuple[int, ...], cur: tuple[int, ...]) -> nn.ModuleList:
    """Existing branches: 3x3 conv + BN + ReLU if the width changes; each new branch: chain of
    3x3 stride-2 conv + BN + ReLU from the last existing branch (only the last step changes
    the width)."""
    paths: list[nn.Module] = []
    for i, width in enumerate(cur):
        if i < len(pre):
            paths.append(nn.Identity() if width == pre[i] else conv_bn(pre[i], width, 3, relu=True))
        else:
            steps = i + 1 - len(pre)
            chain = [conv_bn(pre[-1], pre[-1], 3, stride=2, relu=True) for _ in range(steps - 1)]
            chain.append(conv_bn(pre[-1], width, 3, stride=2, relu=True))
            paths.append(nn.Sequential(*chain))
    return nn.ModuleList(paths)


class HRNet(nn.Module):
    """HRNetV2: ``forward(x)`` returns the 4 branch maps at strides 4, 8, 16, 32."""

    def __init__(self, spec: HRNetSpec, in_channels: int = 3) -> None:
        super().__init__()
        self.spec = spec
        stem = spec.stem_channels
        self.conv1 = nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)

        stage1 = spec.stages[0]
        self.layer1 = make_blocks(
            stage1.block, stem, stage1.num_channels[0], stage1.num_blocks[0]
        )
        widths = stage1.out_channels()
        for index, stage in enumerate(spec.stages[1:], start=2):
            setattr(self, f"transition{index - 1}", _transition(widths, stage.out_channels()))
            modules = (
                HRModule(stage.block, stage.num_blocks, stage.num_channels)
                for _ in range(stage.num_modules)
            )
            setattr(self, f"stage{index}", nn.Sequential(*modules))
            widths = stage.out_channels()
        self.out_channels: tuple[int, ...] = widths
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for index in range(2, 5):
            transition: nn.ModuleList = getattr(self, f"transition{index - 1}")
            xs = [path(xs[i] if i < len(xs) else xs[-1]) for i, path in enumerate(transition)]
            for module in getattr(self, f"stage{index}"):
                xs = module(xs)
        return xs


def _standard_stages(stage1_blocks: int, stage1_planes: int, blocks: int,
                     modules: tuple[int, int, int], widths: tuple[int, int, int, int]
                     ) -> tuple[StageSpec, StageSpec, StageSpec, StageSpec]:
    """Bottleneck stage 1; BasicBlock stages 2-4 with ``blocks`` blocks per branch."""
    return (
        StageSpec("bottleneck", 1, (stage1_blocks,), (stage1_planes,)),
        StageSpec("basic", modules[0], (blocks,) * 2, widths[:2]),
        StageSpec("basic", modules[1], (blocks,) * 3, widths[:3]),
        StageSpec("basic", modules[2], (blocks,) * 4, widths),
    )


HRNET18S = HRNetSpec(64, _standard_stages(2, 64, 2, (1, 3, 2), (18, 36, 72, 144)))
"""HRNetV2-W18-small (timm ``hrnet_w18_small_v2``, OpenMMLab ``hrnetv2_w18_small``)."""

HRNET48 = HRNetSpec(64, _standard_stages(4, 64, 4, (1, 4, 3), (48, 96, 192, 384)))
"""HRNetV2-W48 (timm ``hrnet_w48``, OpenMMLab ``hrnetv2_w48``)."""

HRNET_TINY = HRNetSpec(8, _standard_stages(1, 4, 1, (1, 1, 1), (4, 8, 16, 32)))
"""Test-size HRNet: the full topology with a few thousand parameters."""


def hrnet18s(in_channels: int = 3) -> HRNet:
    return HRNet(HRNET18S, in_channels)


def hrnet48(in_channels: int = 3) -> HRNet:
    return HRNet(HRNET48, in_channels)


def hrnet_tiny(in_channels: int = 3) -> HRNet:
    return HRNet(HRNET_TINY, in_channels)
