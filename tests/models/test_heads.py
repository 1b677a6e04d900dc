import pytest
import torch

from atrc_nas.models.heads import AuxHead, ContextFusion, HeadDims, MultiTaskNetwork
from atrc_nas.models.layers import ConvBNReLU, classifier, upsample_concat


@pytest.mark.parametrize(("c_in", "c", "d"), [(270, 67, 33), (720, 180, 90), (60, 15, 7)])
def test_head_dims(c_in, c, d):
    dims = HeadDims(c_in)
    assert (dims.channels, dims.attn_channels) == (c, d)


def test_conv_bn_relu_layout():
    block = ConvBNReLU(4, 6, 3)
    conv, bn, relu = block
    assert conv.bias is None and conv.padding == (1, 1) and conv.stride == (1, 1)
    assert isinstance(bn, torch.nn.BatchNorm2d) and isinstance(relu, torch.nn.ReLU)
    assert len(ConvBNReLU(4, 6, relu=False)) == 2
    assert not ConvBNReLU(4, 6, bn_affine=False)[1].affine


def test_classifier_init():
    conv = classifier(256, 64)
    assert conv.kernel_size == (1, 1) and not conv.bias.any()
    assert abs(conv.weight.std().item() - 0.01) < 0.001 and abs(conv.weight.mean()) < 0.001


def test_upsample_concat():
    maps = [torch.randn(1, 2, 8, 10), torch.randn(1, 3, 4, 5), torch.randn(1, 4, 2, 3)]
    out = upsample_concat(maps)
    assert out.shape == (1, 9, 8, 10)
    torch.testing.assert_close(out[:, :2], maps[0])


def test_context_fusion_starts_at_zero_distillation():
    fusion = ContextFusion(channels=8, attn_channels=4, num_sources=3)
    feats = torch.randn(2, 8, 5, 5)
    contexts = [torch.randn(2, 4, 5, 5) for _ in range(3)]
    distilled = fusion.out_proj(torch.cat(contexts, 1))
    assert distilled.shape == (2, 8, 5, 5) and not distilled.any()
    assert fusion.fuse[0].in_channels == 16 and fusion.out_proj[0].in_channels == 12
    assert isinstance(fusion.dropout, torch.nn.Dropout2d) and fusion.dropout.p == 0.05
    assert fusion(feats, contexts).shape == (2, 8, 5, 5)
    with pytest.raises(ValueError, match="expected 3 context maps, got 1"):
        fusion(feats, contexts[:1])


def test_context_fusion_without_sources_and_without_dropout():
    fusion = ContextFusion(channels=8, attn_channels=4, num_sources=0, dropout=0.0)
    assert fusion.out_proj is None and fusion.fuse[0].in_channels == 8
    assert isinstance(fusion.dropout, torch.nn.Identity)
    assert fusion(torch.randn(2, 8, 5, 5), []).shape == (2, 8, 5, 5)


@pytest.mark.parametrize("detach", [True, False])
def test_aux_head_detaches_its_input(detach):
    head = AuxHead(6, 3, detach=detach)
    x = torch.randn(2, 6, 4, 4, requires_grad=True)
    out = head(x)
    assert out.shape == (2, 3, 4, 4)
    out.sum().backward()
    assert (x.grad is None) == detach
    assert head.proj[0].weight.grad is not None


class _Identity(MultiTaskNetwork):
    def forward_head(self, x):
        return {"t": x[:, :1]}, {"t": x[:, 1:3]}


def test_network_resizes_outputs_to_the_input(tiny_backbone):
    net = _Identity(tiny_backbone, ["t"])
    out = net(torch.randn(1, 3, 61, 70))
    assert out["final"]["t"].shape == (1, 1, 61, 70) and out["aux"]["t"].shape == (1, 2, 61, 70)
