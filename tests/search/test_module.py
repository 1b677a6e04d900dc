"""The search on the toy problem of ``search_toy``: single-level steps, the local op on
local structure, and budgets."""

import pytest
import torch
from search_toy import run_toy, toy_module

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.config import BudgetConfig
from atrc_nas.search.module import SearchModule
from atrc_nas.training.module import poly_lambda


def test_single_level_step_updates_weights_and_logits_once_per_batch():
    module = toy_module(steps=20)
    weights_before = module.network.fusion["depth"].fuse[0].weight.detach().clone()
    module = run_toy(module, steps=3)
    trainer = module.trainer
    assert trainer.global_step == 3  # the raw Adam step does not count as a second step
    weight_opt, arch_opt = (o.optimizer for o in module.optimizers())
    assert weight_opt.param_groups[0]["lr"] == pytest.approx(0.05 * poly_lambda(20, 0.9)(3))
    assert arch_opt.param_groups[0]["lr"] == 0.02
    assert int(arch_opt.state[module.arch.logits]["step"]) == 3
    assert module.arch.logits.abs().sum() > 0
    assert not torch.equal(module.network.fusion["depth"].fuse[0].weight, weights_before)
    assert module.ops_full_total == 3 * (2 * 4 + 2 * 3)
    assert module.ops_run_total <= module.ops_full_total


def test_grad_clip_bounds_the_global_norm():
    module = toy_module(steps=2)
    module.optim_config.grad_clip = 1e-3
    run_toy(module, steps=1)
    assert float(module.trainer.callback_metrics["train/grad_norm"]) > 1e-3  # norm before
    norm = torch.cat([p.grad.flatten() for p in [*module.network.parameters(),
                                                  module.arch.logits] if p.grad is not None])
    assert float(norm.norm()) == pytest.approx(1e-3, rel=1e-3)  # ... and after clipping


def test_local_op_is_chosen_where_local_structure_matters():
    module = run_toy(toy_module(steps=120), steps=120)
    genotype = module.arch.genotype()
    assert genotype.op("depth", "depth") == OpChoice("local")
    assert any(op.name == "local" for op in genotype.ops.values())


def test_larger_weight_or_smaller_budget_gives_a_cheaper_genotype():
    def searched_cost(budget: BudgetConfig) -> float:
        module = run_toy(toy_module(steps=120, budget=budget), steps=120)
        return module.cost_model.genotype_cost(module.arch.genotype())

    free = searched_cost(BudgetConfig())
    assert searched_cost(BudgetConfig(weight=5.0)) < free
    loose = searched_cost(BudgetConfig(fraction=1.0, weight=5.0))  # never binds
    tight = searched_cost(BudgetConfig(fraction=0.3, weight=5.0))
    assert loose == free
    assert tight < loose


def test_checkpoint_of_another_space_is_refused_naming_the_pair():
    module = toy_module(steps=2)
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    module.on_load_checkpoint(checkpoint)  # its own checkpoint loads
    checkpoint["search"]["candidates"][1] = ["none", "global"]
    with pytest.raises(ValueError, match=r"pair \(target='semseg', source='depth'\) has "
                                         r"candidates \['none', 'global'\] in the checkpoint"):
        module.on_load_checkpoint(checkpoint)


def test_network_and_architecture_must_share_the_space():
    module = toy_module(steps=2)
    other = Architecture(SearchSpace(module.arch.space.tasks, [OpChoice("none"),
                                                              OpChoice("global")]))
    with pytest.raises(ValueError, match="different search spaces"):
        SearchModule(module.network, other, module.spec, module.optim_config, module.schedule)
