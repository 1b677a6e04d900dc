"""Networks: backbones, ATRC context blocks and heads, baselines, genotypes, cost model.

Entry point: :func:`atrc_nas.models.registry.build_network`.
"""
