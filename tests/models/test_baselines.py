import pytest
import torch

from atrc_nas.models.baselines import MultiTaskBaseline, PADNet, SpatialAttentionMessage

NYUD = ("semseg", "depth", "normals", "edge")


def test_multi_task_baseline(tiny_backbone, nyud, images):
    net = MultiTaskBaseline(tiny_backbone, nyud)
    out = net(images)
    assert out["aux"] == {}
    assert {t: o.shape[1] for t, o in out["final"].items()} == {
        "semseg": 40, "depth": 1, "normals": 3, "edge": 1}
    assert all(o.shape[-2:] == images.shape[-2:] for o in out["final"].values())
    conv = net.features["depth"][0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (60, 15, (3, 3))
    sum(o.mean() for o in out["final"].values()).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_single_task_baseline(tiny_backbone, nyud, images):
    net = MultiTaskBaseline(tiny_backbone, nyud.with_tasks(["normals"]))
    out = net(images)
    assert list(out["final"]) == ["normals"] and out["final"]["normals"].shape[1] == 3


def test_spatial_attention_message():
    msg = SpatialAttentionMessage(4).eval()
    x = torch.randn(2, 4, 5, 5)
    expected = torch.sigmoid(msg.gate(x)) * msg.message(x)
    torch.testing.assert_close(msg(x), expected)


def test_padnet(tiny_backbone, nyud, images):
    net = PADNet(tiny_backbone, nyud)
    assert {t: set(m) for t, m in net.messages.items()} == {
        t: set(NYUD) - {t} for t in NYUD}
    out = net(images)
    for task in NYUD:
        assert out["final"][task].shape[1] == nyud.channels(task, "final")
        assert out["aux"][task].shape[1] == nyud.channels(task, "aux")
    # initial predictions are deep supervision: they train the backbone
    sum(a.mean() for a in out["aux"].values()).backward(retain_graph=True)
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in net.backbone.parameters())
    assert all(p.grad is None for p in net.messages.parameters())
    out["final"]["depth"].mean().backward()
    assert net.messages["depth"]["edge"].gate[0].weight.grad is not None
    assert net.messages["edge"]["depth"].gate[0].weight.grad is None


def test_padnet_distillation_sums_gated_sources(tiny_backbone, nyud):
    net = PADNet(tiny_backbone, nyud).eval()
    x = torch.randn(1, 60, 6, 6)
    feats = {t: net.features[t](x) for t in NYUD}
    final, _ = net.forward_head(x)
    distilled = feats["depth"] + sum(net.messages["depth"][s](feats[s])
                                     for s in ("semseg", "normals", "edge"))
    expected = net.classifiers["depth"](net.decoders["depth"](distilled))
    torch.testing.assert_close(final["depth"], expected)


def test_padnet_needs_two_tasks(tiny_backbone, nyud):
    with pytest.raises(ValueError, match="at least 2 tasks"):
        PADNet(tiny_backbone, nyud.with_tasks(["depth"]))
