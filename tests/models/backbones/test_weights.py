"""Loading pretrained backbone weights from local files in the OpenMMLab and timm layouts."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from atrc_nas.models.backbones import PretrainedWeightsError, create_backbone, load_pretrained

HEAD = {
    "incre_modules.0.0.conv1.weight": torch.zeros(32, 4, 1, 1),
    "downsamp_modules.0.0.weight": torch.zeros(256, 128, 3, 3),
    "final_layer.0.weight": torch.zeros(2048, 1024, 1, 1),
    "classifier.weight": torch.zeros(1000, 2048),
    "classifier.bias": torch.zeros(1000),
}


@pytest.fixture
def source() -> nn.Module:
    """A tiny backbone whose weights and BN statistics are all random (not the init)."""
    model = create_backbone("hrnet_tiny")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith("num_batches_tracked"):
                tensor.fill_(7)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.3)
    return model.eval()


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _outputs(model: nn.Module) -> list[torch.Tensor]:
    with torch.no_grad():
        return model.eval()(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))


def _layouts(state: dict[str, torch.Tensor]) -> dict[str, object]:
    return {
        # timm hrnet_w18_small_v2 / hrnet_w48 files (and OpenMMLab third-party ImageNet files)
        "timm": {**state, **HEAD},
        # OpenMMLab segmentor checkpoint: meta + state_dict, backbone.* plus a decode head
        "openmmlab": {
            "meta": {"mmseg_version": "1.2.2"},
            "state_dict": {
                **{f"backbone.{k}": v for k, v in state.items()},
                "decode_head.conv_seg.weight": torch.zeros(19, 270, 1, 1),
            },
        },
        # OpenMMLab checkpoint format around the flat ImageNet weights
        "openmmlab-wrapped": {"meta": {}, "state_dict": {**state, **HEAD}},
    }


@pytest.mark.parametrize("name", ["timm", "openmmlab", "openmmlab-wrapped"])
def test_both_layouts_load_and_reproduce_outputs(
    name: str, source: nn.Module, tmp_path: Path
) -> None:
    path = _save(_layouts(source.state_dict())[name], tmp_path / f"{name}.pth")
    model = create_backbone("hrnet_tiny", pretrained=path)
    for got, want in zip(_outputs(model), _outputs(source), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_report_names_layout_dropped_and_ignored_keys(source: nn.Module, tmp_path: Path) -> None:
    layouts = _layouts(source.state_dict())
    n = len(source.state_dict())
    timm = load_pretrained(create_backbone("hrnet_tiny"), _save(layouts["timm"], tmp_path / "t"))
    assert (timm.layout, timm.loaded, timm.ignored) == ("timm", n, ())
    assert timm.dropped_head == tuple(sorted(HEAD))
    mm = load_pretrained(create_backbone("hrnet_tiny"), _save(layouts["openmmlab"], tmp_path / "o"))
    assert (mm.layout, mm.loaded, mm.dropped_head) == ("openmmlab", n, ())
    assert mm.ignored == ("decode_head.conv_seg.weight",)
    assert mm.path == tmp_path / "o"


def test_missing_bn_counters_are_tolerated(source: nn.Module, tmp_path: Path) -> None:
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = create_backbone("hrnet_tiny", pretrained=_save(state, tmp_path / "old.pth"))
    for got, want in zip(_outputs(model), _outputs(source), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def _refused(state: dict[str, torch.Tensor], path: Path, *patterns: str) -> None:
    """Loading ``state`` must raise naming the file and ``patterns``, changing nothing."""
    torch.save(state, path)
    model = create_backbone("hrnet_tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PretrainedWeightsError) as info:
        load_pretrained(model, path)
    message = str(info.value)
    assert str(path) in message
    for pattern in patterns:
        assert pattern in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_missing_backbone_key_is_refused(source: nn.Module, tmp_path: Path) -> None:
    state = dict(source.state_dict())
    del state["stage4.0.fuse_layers.3.0.2.0.weight"]
    _refused(state, tmp_path / "missing.pth",
             "missing keys (1): stage4.0.fuse_layers.3.0.2.0.weight")


def test_unexpected_key_is_refused(source: nn.Module, tmp_path: Path) -> None:
    state = {**source.state_dict(), "stage5.0.branches.0.0.conv1.weight": torch.zeros(1)}
    _refused(state, tmp_path / "unexpected.pth",
             "unexpected keys (1): stage5.0.branches.0.0.conv1.weight")


def test_shape_mismatch_is_refused(source: nn.Module, tmp_path: Path) -> None:
    state = {**source.state_dict(), "conv1.weight": torch.zeros(8, 4, 3, 3)}
    _refused(state, tmp_path / "shape.pth",
             "shape mismatches (1): conv1.weight (file (8, 4, 3, 3), model (8, 3, 3, 3))")


def test_other_architecture_is_refused_with_a_bounded_listing(tmp_path: Path) -> None:
    state = create_backbone("hrnet18s").state_dict()
    _refused(state, tmp_path / "hrnet18s.pth", "(timm layout)", "shape mismatches",
             "unexpected keys", "more)")


def test_missing_file_says_nothing_is_downloaded(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        create_backbone("hrnet_tiny", pretrained=tmp_path / "hrnetv2_w18_small-b5a04e21.pth")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match=r"garbage\.pth.*weights_only"):
        load_pretrained(create_backbone("hrnet_tiny"), garbage)

    code = tmp_path / "code.pth"  # arbitrary pickled objects are never executed
    code.write_bytes(pickle.dumps({"conv1.weight": Path("x")}, protocol=2))
    with pytest.raises(PretrainedWeightsError, match=r"code\.pth.*weights_only"):
        load_pretrained(create_backbone("hrnet_tiny"), code)

    safetensors = tmp_path / "model.safetensors"
    safetensors.write_bytes(b"{}")
    with pytest.raises(PretrainedWeightsError, match=r"pytorch_model\.bin"):
        load_pretrained(create_backbone("hrnet_tiny"), safetensors)


def test_non_state_dict_contents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsError, match="holds a list"):
        load_pretrained(create_backbone("hrnet_tiny"), _save([torch.zeros(1)], tmp_path / "l"))
    with pytest.raises(PretrainedWeightsError, match=r"not tensors.*epoch"):
        load_pretrained(create_backbone("hrnet_tiny"),
                        _save({"epoch": 3, "conv1.weight": torch.zeros(1)}, tmp_path / "e"))
