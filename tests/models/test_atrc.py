import pytest
import torch

from atrc_nas.models.atrc import ATRCNetwork
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.context import GlobalContext, LabelContext
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import Genotype, GenotypeError, resolve_genotype

NYUD = ("semseg", "depth", "normals", "edge")


def _genotype(default: str = "global", **pairs: str) -> Genotype:
    """A genotype with ``default`` everywhere except ``target__source="op"`` pairs."""
    ops = {(t, s): OpChoice(default) for t in NYUD for s in NYUD}
    for key, name in pairs.items():
        ops[tuple(key.split("__"))] = OpChoice(name)
    return Genotype(NYUD, ops)


def test_published_genotype_forward_backward(tiny_backbone, nyud, images):
    net = ATRCNetwork(tiny_backbone, nyud, resolve_genotype("published:nyud_hrnet18s"))
    out = net(images)
    assert set(out) == {"final", "aux"}
    for task in NYUD:
        assert out["final"][task].shape == (2, nyud.channels(task, "final"), *images.shape[-2:])
        assert out["aux"][task].shape == (2, nyud.channels(task, "aux"), *images.shape[-2:])
    loss = sum(o.square().mean() for group in out.values() for o in group.values())
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    assert isinstance(net.blocks["edge"]["normals"], GlobalContext)
    assert net.blocks["semseg"]["edge"].reads == "source"
    assert net.blocks["semseg"]["depth"].reads == "target"


def test_published_genotype_builds_with_hrnet18s(nyud):
    net = ATRCNetwork(create_backbone("hrnet18s"), nyud,
                      resolve_genotype("published:nyud_hrnet18s"))
    assert (net.dims.in_channels, net.dims.channels, net.dims.attn_channels) == (270, 67, 33)
    assert sum(len(row) for row in net.blocks.values()) == 16
    assert net.fusion["semseg"].out_proj[0].in_channels == 4 * 33
    assert net.features["depth"][0].kernel_size == (3, 3)
    assert net.aux["depth"].proj[0].in_channels == net.aux["depth"].proj[0].out_channels == 270


def test_distilled_branch_is_exactly_zero_at_init(tiny_backbone, nyud, images):
    net = ATRCNetwork(tiny_backbone, nyud, resolve_genotype("published:nyud_hrnet18s"))
    distilled = {}
    for task, fusion in net.fusion.items():
        fusion.out_proj.register_forward_hook(
            lambda m, i, o, task=task: distilled.__setitem__(task, (i[0], o)))
    net(images)
    assert set(distilled) == set(NYUD)
    for contexts, projected in distilled.values():
        assert contexts.abs().sum() > 0 and not projected.any()


def test_aux_heads_exactly_where_label_contexts_need_them(tiny_backbone, nyud, images):
    genotype = _genotype(semseg__depth="s_label", edge__normals="t_label", depth__edge="none")
    assert genotype.aux_tasks() == ("depth", "edge")
    net = ATRCNetwork(tiny_backbone, nyud, genotype)
    assert set(net.aux) == {"depth", "edge"}
    out = net(images)
    assert set(out["aux"]) == {"depth", "edge"}
    assert set(net.blocks["depth"]) == {"semseg", "depth", "normals"}
    assert isinstance(net.blocks["semseg"]["depth"], LabelContext)


def test_no_aux_heads_without_label_contexts(tiny_backbone, nyud, images):
    net = ATRCNetwork(tiny_backbone, nyud, _genotype("local"))
    assert len(net.aux) == 0 and net(images)["aux"] == {}


def test_target_without_sources(tiny_backbone, nyud, images):
    genotype = _genotype(edge__semseg="none", edge__depth="none", edge__normals="none",
                         edge__edge="none")
    net = ATRCNetwork(tiny_backbone, nyud, genotype)
    assert len(net.blocks["edge"]) == 0 and net.fusion["edge"].out_proj is None
    assert net.fusion["edge"].fuse[0].in_channels == net.dims.channels
    out = net(images)["final"]["edge"]
    out.mean().backward()
    assert out.shape == (2, 1, *images.shape[-2:])


def test_aux_losses_do_not_reach_the_backbone(tiny_backbone, nyud, images):
    net = ATRCNetwork(tiny_backbone, nyud, resolve_genotype("published:nyud_hrnet18s"))
    out = net(images)
    sum(a.mean() for a in out["aux"].values()).backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert net.aux["depth"].classifier.weight.grad is not None


def test_genotype_must_match_the_dataset_tasks(tiny_backbone, pascal):
    with pytest.raises(GenotypeError, match="do not match the dataset 'pascal' tasks"):
        ATRCNetwork(tiny_backbone, pascal, resolve_genotype("published:nyud_hrnet18s"))


def test_eval_mode_is_deterministic(tiny_backbone, nyud, images):
    net = ATRCNetwork(tiny_backbone, nyud, _genotype("t_label")).eval()
    with torch.no_grad():
        a, b = net(images), net(images)
    torch.testing.assert_close(a["final"], b["final"])
