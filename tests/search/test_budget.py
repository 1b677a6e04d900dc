import itertools

import pytest
import torch

from atrc_nas.config import ConfigError, parse_config
from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.models.atrc import ATRCNetwork
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.cost import count_flops
from atrc_nas.models.genotype import Genotype, resolve_genotype
from atrc_nas.models.heads import HeadDims
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.budget import Budget, HeadCostModel, head_cost_range, random_genotypes
from atrc_nas.search.config import BudgetConfig
from atrc_nas.search.report import format_report, search_report
from atrc_nas.search.space_io import load_space

SIZE = (32, 40)


@pytest.fixture(scope="module")
def nyud_wide():
    spec = get_dataset_spec("nyud")
    arch = Architecture(load_space("atrc_wide").build(spec.tasks))
    backbone = create_backbone("hrnet_tiny")
    model = HeadCostModel.build(arch, spec, HeadDims(sum(backbone.out_channels)), SIZE)
    return spec, backbone, model


@pytest.mark.parametrize("genotype", [
    resolve_genotype("published:nyud_hrnet18s"),
    Genotype.uniform(("semseg", "depth", "normals", "edge"), OpChoice("none")),
    Genotype.uniform(("semseg", "depth", "normals", "edge"), OpChoice("local", kernel_size=13)),
    Genotype.uniform(("semseg", "depth", "normals", "edge"), OpChoice("s_label"),
                     diagonal=OpChoice("global")),
], ids=["published", "none", "local13", "slabel"])
def test_genotype_cost_equals_the_flop_count_of_the_final_head(nyud_wide, genotype):
    spec, backbone, model = nyud_wide
    torch.manual_seed(0)
    image = torch.zeros(1, 3, *SIZE)
    head = count_flops(ATRCNetwork(backbone, spec, genotype), image) - count_flops(backbone, image)
    assert model.genotype_cost(genotype) == head


@pytest.fixture(scope="module")
def two_tasks():
    spec = get_dataset_spec("nyud").with_tasks(("semseg", "depth"))
    arch = Architecture(SearchSpace.reference(spec.tasks))
    return arch, HeadCostModel.build(arch, spec, HeadDims(60), SIZE)


def test_expected_cost_and_max_against_enumeration(two_tasks):
    arch, model = two_tasks
    logits = torch.randn(arch.logits.shape, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    probs = torch.softmax(logits.masked_fill(~arch.available, float("-inf")), 1)
    expected, worst = 0.0, 0.0
    for choice in itertools.product(*(range(len(c)) for c in arch.candidates)):
        cost = model.indices_cost(choice)
        worst = max(worst, cost)
        expected += cost * float(torch.prod(probs[torch.arange(len(choice)), list(choice)]))
    assert float(model.expected(probs)) == pytest.approx(expected, rel=1e-9)
    assert model.max_cost() == pytest.approx(worst, rel=1e-12)


@pytest.mark.parametrize("candidates", [None, ("global", "t_label", "s_label")],
                         ids=["reference", "without-none"])
def test_min_cost_against_enumeration(candidates):
    """The cheapest head, also where every pair must feed its target and read aux heads."""
    spec = get_dataset_spec("nyud").with_tasks(("semseg", "depth"))
    space = (SearchSpace.reference(spec.tasks) if candidates is None
             else SearchSpace(spec.tasks, tuple(OpChoice(c) for c in candidates), {}))
    arch = Architecture(space)
    model = HeadCostModel.build(arch, spec, HeadDims(60), SIZE)
    costs = [model.indices_cost(choice)
             for choice in itertools.product(*(range(len(c)) for c in arch.candidates))]
    assert model.min_cost() == pytest.approx(min(costs), rel=1e-12)
    low, high = head_cost_range(space, spec, "hrnet_tiny", SIZE)
    assert low <= high


def test_expected_cost_is_differentiable(two_tasks):
    arch, model = two_tasks
    model.expected(arch.cost_probabilities()).backward()
    assert arch.logits.grad is not None and arch.logits.grad.abs().sum() > 0


def test_budget_resolution_penalty_and_verdict(two_tasks):
    _, model = two_tasks
    scale = model.max_cost()
    half = Budget.resolve(BudgetConfig(fraction=0.5, weight=2.0), model)
    assert half.flops == pytest.approx(0.5 * scale) and half.scale == scale
    assert float(half.penalty(torch.tensor(0.4 * scale, dtype=torch.float64))) == 0.0
    assert float(half.penalty(torch.tensor(0.75 * scale, dtype=torch.float64))) == \
        pytest.approx(2.0 * 0.25)
    assert half.meets(0.5 * scale) and not half.meets(0.51 * scale)
    absolute = Budget.resolve(BudgetConfig(gflops=1e-3), model)
    assert absolute.flops == 1e6 and not absolute.active
    free = Budget.resolve(BudgetConfig(weight=1.0), model)
    assert free.meets(scale) is None
    assert float(free.penalty(torch.tensor(scale, dtype=torch.float64))) == pytest.approx(1.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gflops": 1.0, "fraction": 0.5}, "fraction: give the budget as gflops or as fraction, "
                                       "not both"),
    ({"fraction": 1.5}, r"fraction: must be less than or equal to 1, got 1.5"),
    ({"weight": -1.0}, "weight: must be greater than or equal to 0, got -1.0"),
    ({"gflops": -1}, "gflops: must be greater than or equal to 0, got -1"),
])
def test_budget_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(BudgetConfig, kwargs)


def test_report_says_the_cost_and_whether_the_budget_is_met(two_tasks):
    arch, model = two_tasks
    genotype = arch.genotype(step=5)  # all none: the cheapest head
    cost = model.genotype_cost(genotype)
    for fraction, verdict in ((1.0, True), (0.5 * cost / model.max_cost(), False)):
        budget = Budget.resolve(BudgetConfig(fraction=fraction, weight=1.0), model)
        report = search_report(genotype, model, budget, SIZE, backbone_gflops=0.5)
        assert report["meets_budget"] is verdict
        assert report["head_gflops"] == pytest.approx(cost / 1e9)
        assert report["network_gflops"] == pytest.approx(0.5 + cost / 1e9)
        text = format_report(report)
        assert ("meets it" if verdict else "EXCEEDS it") in text and "step 5" in text


def test_batch_cost_equals_the_cost_of_each_genotype(two_tasks, nyud_wide):
    arch, model = two_tasks
    every = list(itertools.product(*(range(len(c)) for c in arch.candidates)))
    costs = model.batch_cost(torch.tensor(every))
    assert costs.tolist() == pytest.approx([model.indices_cost(c) for c in every], rel=1e-12)
    _, _, wide = nyud_wide
    sizes = torch.tensor([len(c) for c in wide.arch.candidates])
    draws = (torch.rand(50, len(sizes), generator=torch.Generator().manual_seed(0))
             * sizes).long()
    assert wide.batch_cost(draws).tolist() == pytest.approx(
        [wide.indices_cost(d) for d in draws.tolist()], rel=1e-12)


def test_random_genotypes_are_the_feasible_ones_reproducibly(two_tasks):
    """Rejection sampling finds exactly the genotypes under the budget (against
    enumeration), the same ones for the same seed, and says when too few exist."""
    arch, model = two_tasks
    budget = BudgetConfig(fraction=0.8)
    limit = 0.8 * model.max_cost()
    feasible = {arch.space.freeze_indices(dict(zip(arch.pairs, c, strict=True)), 0)
                .stable_hash()
                for c in itertools.product(*(range(len(k)) for k in arch.candidates))
                if model.indices_cost(c) <= limit}
    assert 1 < len(feasible) < len(list(itertools.product(*arch.candidates)))
    drawn = random_genotypes(model, budget, len(feasible), seed=3)
    assert {g.stable_hash() for g, _ in drawn} == feasible
    assert all(cost == pytest.approx(model.genotype_cost(g)) and cost <= limit
               for g, cost in drawn)
    few = random_genotypes(model, budget, 3, seed=3)
    assert [g.stable_hash() for g, _ in few] == [
        g.stable_hash() for g, _ in random_genotypes(model, budget, 3, seed=3)]
    assert [g.stable_hash() for g, _ in few] != [
        g.stable_hash() for g, _ in random_genotypes(model, budget, 3, seed=4)]
    with pytest.raises(ValueError, match=f"only {len(feasible)} of {len(feasible) + 1} "
                                         "random genotypes meet the budget"):
        random_genotypes(model, budget, len(feasible) + 1, seed=3, batch=256, max_draws=4096)


def test_random_genotypes_are_uniform_over_each_pair(nyud_wide):
    """Without a budget every pair's op is drawn uniformly from its candidates."""
    _, _, model = nyud_wide
    drawn = random_genotypes(model, BudgetConfig(), 400, seed=0)
    for pair, ops in zip(model.arch.pairs, model.arch.candidates, strict=True):
        counts = [0] * len(ops)
        for genotype, _ in drawn:
            counts[ops.index(genotype.ops[pair])] += 1
        expected = 400 / len(ops)
        assert max(abs(c - expected) for c in counts) < 4 * expected ** 0.5
