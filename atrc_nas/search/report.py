"""The report of a search: the derived genotype, its cost, and whether it meets the budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.cost import count_flops
from atrc_nas.models.genotype import Genotype
from atrc_nas.search.budget import Budget, HeadCostModel

REPORT_FILE = "search_report.json"


def backbone_flops(name: str, input_size: Sequence[int]) -> int:
    """Forward FLOPs of backbone ``name`` for one image of ``input_size`` (H, W)."""
    with torch.device("meta"):
        backbone = create_backbone(name)
        image = torch.empty(1, 3, *input_size)
    return count_flops(backbone, image)


def search_report(genotype: Genotype, cost_model: HeadCostModel, budget: Budget,
                  input_size: Sequence[int], backbone_gflops: float) -> dict[str, Any]:
    """Costs are forward GFLOPs for one image at ``input_size`` (the training crop)."""
    head = cost_model.genotype_cost(genotype)
    return {
        "step": genotype.step,
        "genotype": genotype.to_json_dict(),
        "genotype_hash": genotype.stable_hash(),
        "matrix": genotype.matrix_text(),
        "input_size": list(input_size),
        "head_gflops": head / 1e9,
        "network_gflops": backbone_gflops + head / 1e9,
        "max_head_gflops": budget.scale / 1e9,
        "fraction_of_max_head": head / budget.scale,
        "budget_gflops": None if budget.flops is None else budget.flops / 1e9,
        "budget_weight": budget.weight,
        "meets_budget": budget.meets(head),
    }


def format_report(report: dict[str, Any]) -> str:
    """A few readable lines for the terminal."""
    h, w = report["input_size"]
    lines = [
        f"genotype {report['genotype_hash']} at step {report['step']}:",
        report["matrix"],
        f"head {report['head_gflops']:.3f} GFLOPs at {h}x{w} "
        f"({100 * report['fraction_of_max_head']:.1f}% of the most expensive head, "
        f"{report['max_head_gflops']:.3f}); network {report['network_gflops']:.3f} GFLOPs",
    ]
    if "arch_entropy" in report:
        lines.append(f"architecture entropy {report['arch_entropy']:.3f} nats (uniform: "
                     f"{report['arch_entropy_uniform']:.3f})")
    if report["budget_gflops"] is None:
        lines.append("budget: none")
    else:
        verdict = "meets" if report["meets_budget"] else "EXCEEDS"
        lines.append(f"budget {report['budget_gflops']:.3f} GFLOPs (weight "
                     f"{report['budget_weight']}): the genotype {verdict} it")
    return "\n".join(lines)
