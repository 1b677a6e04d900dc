import pytest
import torch

from atrc_nas.models.atrc import ATRCNetwork
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.registry import NETWORKS, build_network

OPTIONS = {"single_task": {"task": "depth"}}
GENOTYPES = {"atrc": "published:nyud_hrnet18s"}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_network_forward_backward(name, nyud, images):
    net = build_network(name, nyud, "hrnet_tiny", genotype=GENOTYPES.get(name),
                        **OPTIONS.get(name, {}))
    out = net(images)
    tasks = ["depth"] if name == "single_task" else list(nyud.tasks)
    assert list(out["final"]) == tasks
    for task, pred in out["final"].items():
        assert pred.shape == (2, nyud.channels(task, "final"), *images.shape[-2:])
    for task, pred in out["aux"].items():
        assert pred.shape == (2, nyud.channels(task, "aux"), *images.shape[-2:])
    loss = sum(o.mean() for group in out.values() for o in group.values())
    loss.backward()
    assert any(p.grad is not None for p in net.backbone.parameters())


@pytest.mark.parametrize(("name", "op", "diagonal"), [
    ("fixed_global", "global", "global"), ("fixed_local", "local", "local"),
    ("fixed_tlabel", "t_label", "t_label"), ("fixed_slabel", "s_label", "t_label"),
])
def test_fixed_context_networks_are_uniform_genotypes(name, op, diagonal, nyud):
    net = build_network(name, nyud, "hrnet_tiny")
    assert isinstance(net, ATRCNetwork)
    assert net.genotype.op("semseg", "depth") == OpChoice(op)
    assert net.genotype.op("depth", "depth") == OpChoice(diagonal)


def test_options_and_built_backbones(nyud, tiny_backbone):
    net = build_network("fixed_local", nyud, tiny_backbone, kernel_size=5, dilation=2)
    assert net.backbone is tiny_backbone
    assert net.genotype.op("edge", "depth") == OpChoice("local", kernel_size=5, dilation=2)
    single = build_network("single_task", nyud.with_tasks(["edge"]), tiny_backbone)
    assert single.tasks == ("edge",)


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("unet", {}, "unknown network 'unet'; known networks: single_task, multi_task"),
    ("multi_task", {"task": "depth"}, r"network 'multi_task' has no option\(s\) \['task'\]"),
    ("multi_task", {"genotype": "published:nyud_hrnet18s"}, "takes no genotype"),
    ("atrc", {}, "needs a genotype"),
    ("single_task", {}, "needs option task=..."),
    ("fixed_local", {"kernel_size": 4}, "kernel_size=4 is invalid"),
    ("fixed_global", {"kernel_size": 3}, r"has no option\(s\) \['kernel_size'\]"),
])
def test_errors(name, kwargs, match, nyud):
    with pytest.raises(ValueError, match=match):
        build_network(name, nyud, "hrnet_tiny", **kwargs)


def test_pretrained_needs_a_backbone_name(nyud, tiny_backbone):
    with pytest.raises(ValueError, match="backbone given by name"):
        build_network("multi_task", nyud, tiny_backbone, pretrained="weights.pth")


def test_unknown_backbone(nyud):
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        build_network("multi_task", nyud, "resnet")


def test_atrc_accepts_genotype_files(nyud, tmp_path):
    path = resolve_genotype("published:nyud_hrnet18s").save(tmp_path / "atrc_genotype.json")
    net = build_network("atrc", nyud, "hrnet_tiny", genotype=path)
    assert net.genotype.stable_hash() == resolve_genotype(path).stable_hash()
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 3, 32, 32))["final"]["edge"].shape == (1, 1, 32, 32)
