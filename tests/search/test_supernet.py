import pytest
import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import REFERENCE_OPS
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.supernet import MixedOp, SearchNetwork

SPEC = get_dataset_spec("synthetic_nyud").with_tasks(("semseg", "depth"))


def _inputs(generator):
    target, source = (torch.randn(2, 8, 6, 7, generator=generator, requires_grad=True)
                      for _ in range(2))
    aux = torch.randn(2, 5, 6, 7, generator=generator)
    return target, source, aux


@pytest.mark.parametrize(("logits", "tau", "runs"), [
    ([0.1, 0.2, 0.3, 0.15, 0.25], 1.0, [1, 2, 3, 4]),
    ([0.0, -15.0, 1.0, -20.0, 0.5], 0.1, [2, 4]),  # exp(-150) underflows: exact zeros
])
def test_skipping_zero_weights_changes_no_output_and_no_gradient(logits, tau, runs):
    torch.manual_seed(0)
    mixed = MixedOp(REFERENCE_OPS, channels=8, attn_channels=4).eval()
    target, source, aux = _inputs(torch.Generator().manual_seed(0))
    calls = []
    for i, block in enumerate(mixed.candidates):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    results = []
    for skip in (True, False):
        alpha = torch.tensor(logits, requires_grad=True)
        weights = torch.softmax(alpha / tau, dim=0)
        active = (weights != 0).tolist() if skip else [True] * len(logits)
        calls.clear()
        out = mixed(weights, active, target, source, aux, aux)
        out.square().sum().backward()
        if skip:
            assert calls == runs  # "none" never runs, zero weights are skipped
        results.append((out.detach(), alpha.grad, target.grad.clone(), source.grad.clone()))
        target.grad = source.grad = None
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want)


def test_a_fixed_block_runs_only_its_op():
    mixed = MixedOp(REFERENCE_OPS, channels=8, attn_channels=4).eval()
    target, source, aux = _inputs(torch.Generator().manual_seed(0))
    calls = []
    for i, block in enumerate(mixed.candidates):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    one_hot = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0])
    out = mixed(one_hot, (one_hot != 0).tolist(), target, source, aux, aux)
    assert calls == [3]
    torch.testing.assert_close(out, mixed.candidates[3](target, source, aux, aux))


def test_mixed_op_with_only_none_returns_zeros():
    mixed = MixedOp((OpChoice("none"), OpChoice("global")), channels=8, attn_channels=4)
    target, source, aux = _inputs(torch.Generator().manual_seed(0))
    out = mixed(torch.tensor([1.0, 0.0]), [True, False], target, source, aux, aux)
    assert out.shape == (2, 4, 6, 7) and not out.any()


def test_search_network_outputs_and_architecture_gradients():
    torch.manual_seed(0)
    space = SearchSpace.reference(SPEC.tasks)
    network = SearchNetwork(create_backbone("hrnet_tiny"), SPEC, space)
    arch = Architecture(space)
    assert set(network.aux) == set(SPEC.tasks)  # every task has an aux head in the search
    assert all(f.num_sources == 2 and isinstance(f.dropout, torch.nn.Identity)
               for f in network.fusion.values())
    image = torch.randn(2, 3, 32, 40)
    outputs = network(image, arch.sample(1.0))
    assert outputs["final"]["semseg"].shape == (2, 8, 32, 40)
    assert outputs["final"]["depth"].shape == (2, 1, 32, 40)
    assert outputs["aux"]["depth"].shape == (2, 40, 32, 40)
    sum(o.float().mean() for group in outputs.values() for o in group.values()).backward()
    assert arch.logits.grad is None or not arch.logits.grad.any()  # zero-init out_proj BN
    # once the fusion projection is trained, the logits get gradients
    for fusion in network.fusion.values():
        torch.nn.init.ones_(fusion.out_proj[1].weight)
    outputs = network(image, arch.sample(1.0))
    sum(o.float().mean() for o in outputs["final"].values()).backward()
    assert arch.logits.grad is not None and arch.logits.grad.abs().sum() > 0


def test_aux_heads_only_for_tasks_some_candidate_reads():
    space = SearchSpace(SPEC.tasks, [OpChoice("none"), OpChoice("global")],
                        fixed={("depth", "semseg"): OpChoice("s_label")})
    network = SearchNetwork(create_backbone("hrnet_tiny"), SPEC, space)
    assert set(network.aux) == {"semseg"}  # read by s-label at (depth, semseg)
    outputs = network(torch.randn(1, 3, 32, 40), Architecture(space).sample(1.0))
    assert set(outputs["aux"]) == {"semseg"}


def test_search_network_rejects_a_space_over_other_tasks():
    space = SearchSpace.reference(("depth", "semseg"))
    with pytest.raises(ValueError, match="differ from the dataset"):
        SearchNetwork(create_backbone("hrnet_tiny"), SPEC, space)
