"""HRNet backbones: shapes, strides, parameter counts, checkpoint naming and fusion."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrc_nas.models.backbones import (
    HRNet,
    HRNetSpec,
    StageSpec,
    create_backbone,
    list_backbones,
    register_backbone,
)
from atrc_nas.models.backbones import registry as registry_module
from atrc_nas.models.backbones.hrnet import HRNET_TINY, HRModule

EXPECTED_WIDTHS = {
    "hrnet_tiny": (4, 8, 16, 32),
    "hrnet18s": (18, 36, 72, 144),
    "hrnet48": (48, 96, 192, 384),
}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _imagenet_head_params(widths: tuple[int, ...]) -> int:
    """Parameters of the HRNet ImageNet classification head (incre_modules, downsamp_modules,
    final_layer, classifier) on top of branch widths ``widths``, by formula."""
    planes = (32, 64, 128, 256)
    total = 0
    for c, p in zip(widths, planes, strict=True):
        bottleneck = c * p + 9 * p * p + p * 4 * p + 2 * (p + p + 4 * p)
        total += bottleneck + c * 4 * p + 2 * 4 * p  # + 1x1 projection shortcut
    for a, b in itertools.pairwise(planes):
        total += 9 * 4 * a * 4 * b + 4 * b + 2 * 4 * b  # 3x3 s2 conv with bias + BN
    total += 1024 * 2048 + 2048 + 2 * 2048  # final_layer: 1x1 conv with bias + BN
    return total + 2048 * 1000 + 1000  # classifier


def test_registry_lists_every_variant() -> None:
    assert set(EXPECTED_WIDTHS) <= set(list_backbones())
    assert list_backbones() == sorted(list_backbones())


@pytest.mark.parametrize("name", sorted(EXPECTED_WIDTHS))
def test_outputs_have_branch_widths_and_strides(name: str) -> None:
    model = create_backbone(name).eval()
    assert model.out_channels == EXPECTED_WIDTHS[name]
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(EXPECTED_WIDTHS[name], (4, 8, 16, 32), strict=True)
    ]


def test_odd_input_sizes_follow_stride_two_convolutions() -> None:
    model = create_backbone("hrnet_tiny").eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 70, 91))
    h, w = 70, 91
    sizes = []
    for _ in range(5):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        sizes.append((h, w))
    assert [tuple(o.shape[-2:]) for o in outs] == sizes[1:]


def test_parameter_counts_match_published_hrnet_numbers() -> None:
    # Backbone + ImageNet head reproduces the published classifier sizes: HRNetV2-W48
    # 77,469,864 exactly, HRNetV2-W18-small-v2 15.6M. The backbones alone are 3.86M / 65.3M
    # (the published segmentation models, 3.9M / 65.9M, add a 1x1 conv head).
    w18s = _n_params(create_backbone("hrnet18s"))
    w48 = _n_params(create_backbone("hrnet48"))
    assert w18s == 3_860_720
    assert w48 == 65_325_120
    assert w48 + _imagenet_head_params((48, 96, 192, 384)) == 77_469_864
    assert round((w18s + _imagenet_head_params((18, 36, 72, 144))) / 1e6, 1) == 15.6


def test_hrnet18s_uses_openmmlab_parameter_names_and_shapes() -> None:
    state = create_backbone("hrnet18s").state_dict()
    expected = {
        "conv1.weight": (64, 3, 3, 3),
        "bn2.running_var": (64,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.1.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (18, 256, 3, 3),
        "transition1.1.0.0.weight": (36, 256, 3, 3),
        "transition2.2.0.0.weight": (72, 36, 3, 3),
        "transition3.3.0.1.bias": (144,),
        "stage2.0.branches.1.1.conv2.weight": (36, 36, 3, 3),
        "stage3.2.branches.2.1.bn2.weight": (72,),
        "stage4.1.fuse_layers.0.3.0.weight": (18, 144, 1, 1),
        "stage4.1.fuse_layers.3.0.0.0.weight": (18, 18, 3, 3),
        "stage4.1.fuse_layers.3.0.2.0.weight": (144, 18, 3, 3),
        "stage4.1.fuse_layers.3.0.2.1.running_mean": (144,),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    modules = {k.split(".")[0] + "." + k.split(".")[1] for k in state if k.startswith("stage")}
    assert sorted(modules) == ["stage2.0", "stage3.0", "stage3.1", "stage3.2",
                               "stage4.0", "stage4.1"]
    assert not any(k.startswith("transition1.0.1.0") for k in state)  # no extra nesting
    assert not any("fuse_layers.1.1" in k for k in state)  # identity path has no weights


def _randomise(model: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.3)


def _conv_bn(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    conv, bn = seq[0], seq[1]
    y = F.conv2d(x, conv.weight, stride=conv.stride, padding=conv.padding)
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps)


def test_fusion_matches_hand_written_hrnetv2_rule() -> None:
    module = HRModule("basic", (1, 1, 1), (4, 8, 16)).eval()
    _randomise(module)
    xs = [torch.randn(1, c, s, s) for c, s in ((4, 12), (8, 6), (16, 3))]
    with torch.no_grad():
        got = module([x.clone() for x in xs])
        ys = [branch(x) for branch, x in zip(module.branches, xs, strict=True)]
        fl = module.fuse_layers

        def up(seq: nn.Sequential, y: torch.Tensor, size: int) -> torch.Tensor:
            return F.interpolate(_conv_bn(seq, y), size=(size, size), mode="bilinear",
                                 align_corners=False)

        want0 = ys[0] + up(fl[0][1], ys[1], 12) + up(fl[0][2], ys[2], 12)
        want1 = _conv_bn(fl[1][0][0], ys[0]) + ys[1] + up(fl[1][2], ys[2], 6)
        two_down = _conv_bn(fl[2][0][1], F.relu(_conv_bn(fl[2][0][0], ys[0])))
        want2 = two_down + _conv_bn(fl[2][1][0], ys[1]) + ys[2]
    for g, w in zip(got, (want0, want1, want2), strict=True):
        torch.testing.assert_close(g, F.relu(w))


def _reference_upsample(y: torch.Tensor, factor: int, size: torch.Size) -> torch.Tensor:
    """The reference order: bilinear by the integer factor (coordinates from the factor, as
    nn.Upsample(scale_factor=...) does), then a resize only where the size is still off."""
    y = F.interpolate(y, scale_factor=factor, mode="bilinear", align_corners=False)
    if y.shape[-2:] != size:
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    return y


def _single_resize(y: torch.Tensor, factor: int, size: torch.Size) -> torch.Tensor:
    return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def _fuse_by_hand(module: HRModule, xs: list[torch.Tensor], upsample) -> list[torch.Tensor]:
    """HRModule's computation written out from its layers, with ``upsample`` on the
    upsampling paths."""
    ys = [branch(x) for branch, x in zip(module.branches, xs, strict=True)]
    out = []
    for dst, paths in enumerate(module.fuse_layers):
        total = ys[dst]
        for src in range(len(ys)):
            if src > dst:
                total = total + upsample(_conv_bn(paths[src], ys[src]), 2 ** (src - dst),
                                         ys[dst].shape[-2:])
            elif src < dst:
                total = total + paths[src](ys[src])
        out.append(F.relu(total))
    return out


def _backbone_by_hand(model: HRNet, x: torch.Tensor, upsample) -> list[torch.Tensor]:
    x = F.relu(model.bn1(model.conv1(x)))
    xs = [model.layer1(F.relu(model.bn2(model.conv2(x))))]
    for index in range(2, 5):
        transition = getattr(model, f"transition{index - 1}")
        xs = [path(xs[min(i, len(xs) - 1)]) for i, path in enumerate(transition)]
        for module in getattr(model, f"stage{index}"):
            xs = _fuse_by_hand(module, xs, upsample)
    return xs


def _relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_fusion_follows_the_reference_at_nyud_branch_sizes() -> None:
    # 425x560 gives branches of 107x140, 54x70, 27x35, 14x18: 2 * 54 = 108 != 107, so the
    # reference resizes a second time and differs from one resize to the target size.
    module = HRModule("basic", (1, 1, 1, 1), (4, 8, 16, 32)).double().eval()
    _randomise(module)
    gen = torch.Generator().manual_seed(1)
    sizes = ((107, 140), (54, 70), (27, 35), (14, 18))
    xs = [torch.randn(1, c, *s, generator=gen, dtype=torch.float64)
          for c, s in zip((4, 8, 16, 32), sizes, strict=True)]
    with torch.no_grad():
        got = module([x.clone() for x in xs])
        want = _fuse_by_hand(module, xs, _reference_upsample)
        single = _fuse_by_hand(module, xs, _single_resize)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    # the lowest branch has no upsampling path; every other one differs from one resize
    gaps = [_relative_l2(s, w) for s, w in zip(single[:3], want[:3], strict=True)]
    assert min(gaps) > 1e-3, gaps
    torch.testing.assert_close(single[3], want[3])


@pytest.mark.parametrize(("size", "differs"), [((75, 98), True), ((64, 96), False)])
def test_backbone_follows_the_reference_at_any_input_size(
    size: tuple[int, int], differs: bool
) -> None:
    model = create_backbone("hrnet_tiny").double().eval()
    _randomise(model)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        got = model(x)
        want = _backbone_by_hand(model, x, _reference_upsample)
        single = _backbone_by_hand(model, x, _single_resize)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    gap = _relative_l2(single[0], want[0])
    assert gap > 1e-3 if differs else gap < 1e-12, gap


def test_every_parameter_receives_a_gradient() -> None:
    model = create_backbone("hrnet_tiny")
    sum(o.square().mean() for o in model(torch.randn(2, 3, 32, 32))).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []


def test_in_channels_is_passed_to_the_stem() -> None:
    model = create_backbone("hrnet_tiny", in_channels=4)
    assert model.conv1.weight.shape[1] == 4
    assert model(torch.randn(2, 4, 32, 32))[0].shape == (2, 4, 8, 8)
    with pytest.raises(TypeError):
        create_backbone("hrnet_tiny", width=3)


def test_unknown_backbone_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'hrnet99'.*hrnet18s, hrnet48"):
        create_backbone("hrnet99")


def test_register_custom_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_BACKBONES", dict(registry_module._BACKBONES))
    spec = HRNetSpec(8, (StageSpec("basic", 1, (1,), (8,)), *HRNET_TINY.stages[1:]))

    @register_backbone("hrnet_custom")
    def hrnet_custom() -> HRNet:
        return HRNet(spec)

    assert "hrnet_custom" in list_backbones()
    model = create_backbone("hrnet_custom")
    assert model.layer1[0].downsample is None  # 8 -> 8 BasicBlock needs no projection
    assert len(model(torch.randn(2, 3, 32, 32))) == 4
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("hrnet_custom")(hrnet_custom)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (HRNET_TINY.stages[:3], "needs 4 stages"),
        ((HRNET_TINY.stages[0], StageSpec("basic", 1, (1,), (4,)), *HRNET_TINY.stages[2:]),
         "stage2 needs 2 branch"),
        ((HRNET_TINY.stages[0], StageSpec("conv", 1, (1, 1), (4, 8)), *HRNET_TINY.stages[2:]),
         "stage2: block 'conv'"),
        ((StageSpec("bottleneck", 2, (1,), (4,)), *HRNET_TINY.stages[1:]), "stage1 is a single"),
        ((HRNET_TINY.stages[0], StageSpec("basic", 0, (1, 1), (4, 8)), *HRNET_TINY.stages[2:]),
         "stage2: num_modules"),
    ],
)
def test_spec_validation(stages: tuple[StageSpec, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HRNetSpec(8, stages)  # type: ignore[arg-type]
