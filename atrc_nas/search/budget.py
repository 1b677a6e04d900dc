"""Resource budgets: the FLOPs of an ATRC head as a function of its per-pair choices.

The head of a genotype costs (forward FLOPs, batch 1, at the training resolution)::

    constant                                 task features, classifiers, fusion without context
    + sum over pairs of block(op)            the CP block, plus its share of out_proj
    + sum over tasks of aux[t] * needed(t)   aux heads exist only where a label op reads them
    + sum over targets of extra[t] * any(t)  fusion widens 1x1 C->C to 2C->C once a source feeds t

With independent per-pair choices drawn from softmax(alpha) the expectation is exact:
``needed(t) = 1 - prod over pairs (1 - P(pair reads t))``, and likewise for ``any(t)``.
The same formula with one-hot choices is the cost of a genotype; it equals the FLOP count
of the final network's head. Every number comes from ``torch.utils.flop_counter`` on meta
tensors, through the cost model of :mod:`atrc_nas.models.cost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.cost import aux_head_cost, count_flops, feature_size, op_cost_table
from atrc_nas.models.genotype import Genotype
from atrc_nas.models.heads import ContextFusion, HeadDims, final_classifiers, task_features
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.config import BudgetConfig


def _fusion_flops(dims: HeadDims, size: tuple[int, int], sources: int) -> int:
    with torch.device("meta"):
        fusion = ContextFusion(dims.channels, dims.attn_channels, sources, dropout=0.0)
        feats = torch.empty(1, dims.channels, *size)
        contexts = [torch.empty(1, dims.attn_channels, *size) for _ in range(sources)]
    return count_flops(fusion, feats, contexts)


def _constant_flops(spec: DatasetSpec, dims: HeadDims, size: tuple[int, int]) -> int:
    """Task features and final classifiers of every task (choice-independent)."""
    with torch.device("meta"):
        features = task_features(dims.in_channels, dims.channels, spec.tasks)
        classifiers = final_classifiers(dims.channels, spec, spec.tasks)
        x = torch.empty(1, dims.in_channels, *size)
        feats = torch.empty(1, dims.channels, *size)
    return (sum(count_flops(m, x) for m in features.values())
            + sum(count_flops(m, feats) for m in classifiers.values()))


@dataclass(frozen=True)
class HeadCostModel:
    """Head FLOPs over the rows (pairs) and columns (candidates) of an :class:`Architecture`."""

    arch: Architecture
    block: torch.Tensor  # [P, K] float64: CP block + out_proj share, 0 for none / padding
    reads: torch.Tensor  # [P, K, N] float64: 1 where op k of pair p reads task n's aux
    rows: torch.Tensor  # [N, P] float64: 1 where pair p has target n
    aux: torch.Tensor  # [N] float64
    fusion_extra: torch.Tensor  # [N] float64
    constant: float

    @classmethod
    def build(cls, arch: Architecture, spec: DatasetSpec, dims: HeadDims,
              input_size: Sequence[int]) -> HeadCostModel:
        """Costs at ``input_size`` (H, W of the training crop)."""
        space, tasks = arch.space, arch.space.tasks
        size = feature_size(input_size)
        table = op_cost_table(space, spec, dims, input_size)
        f0, f1, f2 = (_fusion_flops(dims, size, n) for n in (0, 1, 2))
        per_source = f2 - f1
        shape = arch.logits.shape
        block = torch.zeros(shape, dtype=torch.float64)
        reads = torch.zeros(*shape, len(tasks), dtype=torch.float64)
        rows = torch.zeros(len(tasks), shape[0], dtype=torch.float64)
        for p, (pair, ops) in enumerate(zip(arch.pairs, arch.candidates, strict=True)):
            rows[tasks.index(pair[0]), p] = 1.0
            for k, op in enumerate(ops):
                if op.op.contributes:
                    block[p, k] = table[pair][op].flops + per_source
                for task in op.op.aux_tasks(*pair):
                    reads[p, k, tasks.index(task)] = 1.0
        aux = torch.tensor([aux_head_cost(dims, spec.channels(t, "aux"), size).flops
                            for t in tasks], dtype=torch.float64)
        extra = torch.full((len(tasks),), float(f1 - f0 - per_source), dtype=torch.float64)
        constant = _constant_flops(spec, dims, size) + len(tasks) * f0
        return cls(arch, block, reads, rows, aux, extra, float(constant))

    def expected(self, probs: torch.Tensor) -> torch.Tensor:
        """Expected head FLOPs under independent per-pair choices ``probs`` [P, K]."""
        probs = probs.to(torch.float64)
        device = probs.device
        block = (probs * self.block.to(device)).sum()
        read = torch.einsum("pk,pkn->pn", probs, self.reads.to(device))
        needed = 1.0 - (1.0 - read).prod(dim=0)
        contributing = (probs * self.arch.contributes.to(probs)).sum(dim=1)
        active = 1.0 - (1.0 - self.rows.to(device) * contributing[None, :]).prod(dim=1)
        return (self.constant + block + (needed * self.aux.to(device)).sum()
                + (active * self.fusion_extra.to(device)).sum())

    def batch_cost(self, indices: torch.Tensor) -> torch.Tensor:
        """Head FLOPs of N genotypes at once: ``indices`` [N, P] picks each pair's op."""
        pairs = torch.arange(indices.shape[1])
        block = self.block[pairs, indices].sum(dim=1)
        read = self.reads[pairs, indices].amax(dim=1)  # [N, tasks]: some pair reads its aux
        feeds = self.arch.contributes.to(torch.float64)[pairs, indices]  # [N, P]
        active = (feeds @ self.rows.T).clamp(max=1.0)  # [N, tasks]: some source feeds it
        return self.constant + block + read @ self.aux + active @ self.fusion_extra

    def indices_cost(self, indices: Sequence[int]) -> float:
        one_hot = torch.nn.functional.one_hot(torch.as_tensor(list(indices)),
                                              self.block.shape[1])
        return float(self.expected(one_hot.to(torch.float64)))

    def genotype_cost(self, genotype: Genotype) -> float:
        """Head FLOPs of ``genotype`` (which must lie in the space)."""
        return self.indices_cost([ops.index(genotype.op(*pair)) for pair, ops
                                  in zip(self.arch.pairs, self.arch.candidates, strict=True)])

    def max_cost(self) -> float:
        """FLOPs of the most expensive head the space allows (exact).

        In a most expensive head every row that can feed its target does (a contributing
        op never costs less than none), so only the aux heads couple the pairs: a dynamic
        programme over the set of aux heads read so far.
        """
        best: dict[int, float] = {0: 0.0}
        for p, ops in enumerate(self.arch.candidates):
            nxt: dict[int, float] = {}
            for mask, value in best.items():
                for k in range(len(ops)):
                    read = sum(1 << n for n in self.reads[p, k].nonzero().flatten().tolist())
                    key, cost = mask | read, value + float(self.block[p, k])
                    if cost > nxt.get(key, float("-inf")):
                        nxt[key] = cost
            best = nxt
        aux = self.aux.tolist()
        blocks_and_aux = max(v + sum(a for n, a in enumerate(aux) if mask >> n & 1)
                             for mask, v in best.items())
        can_feed = (self.rows @ self.arch.contributes.any(dim=1).to(torch.float64)) > 0
        return self.constant + blocks_and_aux + float(self.fusion_extra[can_feed].sum())


    def min_cost(self) -> float:
        """FLOPs of the cheapest head the space allows (exact): a dynamic programme over the
        set of aux heads read and the set of targets fed so far."""
        tasks = self.rows.shape[0]
        target = self.rows.argmax(dim=0).tolist()  # pair -> its target's index
        best: dict[tuple[int, int], float] = {(0, 0): 0.0}
        for p, ops in enumerate(self.arch.candidates):
            nxt: dict[tuple[int, int], float] = {}
            for (read_mask, fed_mask), value in best.items():
                for k in range(len(ops)):
                    read = sum(1 << n for n in self.reads[p, k].nonzero().flatten().tolist())
                    fed = (1 << target[p]) if bool(self.arch.contributes[p, k]) else 0
                    key = (read_mask | read, fed_mask | fed)
                    cost = value + float(self.block[p, k])
                    if cost < nxt.get(key, float("inf")):
                        nxt[key] = cost
            best = nxt
        aux, extra = self.aux.tolist(), self.fusion_extra.tolist()
        return self.constant + min(
            value + sum(aux[n] for n in range(tasks) if read_mask >> n & 1)
            + sum(extra[n] for n in range(tasks) if fed_mask >> n & 1)
            for (read_mask, fed_mask), value in best.items())


def head_cost_model(space: SearchSpace, spec: DatasetSpec, backbone: str,
                    input_size: Sequence[int]) -> HeadCostModel:
    """The head cost model of ``space`` for ``backbone`` at ``input_size``, without a
    network (the backbone's widths come from a build on the meta device)."""
    from atrc_nas.models.backbones.registry import create_backbone

    with torch.device("meta"):
        channels = sum(create_backbone(backbone).out_channels)
    return HeadCostModel.build(Architecture(space, seed=0), spec, HeadDims(channels),
                               input_size)


def head_cost_range(space: SearchSpace, spec: DatasetSpec, backbone: str,
                    input_size: Sequence[int]) -> tuple[float, float]:
    """FLOPs of the cheapest and of the most expensive head of ``space`` for ``backbone``
    at ``input_size``."""
    model = head_cost_model(space, spec, backbone, input_size)
    return model.min_cost(), model.max_cost()


def random_genotypes(model: HeadCostModel, budget: BudgetConfig, count: int, seed: int,
                     batch: int = 65_536, max_draws: int = 20_000_000
                     ) -> list[tuple[Genotype, float]]:
    """``count`` distinct genotypes drawn uniformly from the space (every pair's op uniform
    over its candidates), kept when their head costs at most the budget (rejection
    sampling, ``batch`` draws at a time; a budget without a limit keeps every draw), with
    their head FLOPs. The same ``seed`` draws the same genotypes."""
    arch = model.arch
    limit = Budget.resolve(budget, model).flops
    sizes = torch.tensor([len(ops) for ops in arch.candidates], dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    kept: dict[str, tuple[Genotype, float]] = {}
    for _ in range(max(1, max_draws // batch)):
        draws = (torch.rand(batch, len(sizes), generator=generator, dtype=torch.float64)
                 * sizes).long()
        costs = model.batch_cost(draws)
        fits = torch.ones_like(costs, dtype=torch.bool) if limit is None else (
            costs <= limit * (1 + 1e-9))
        for row in fits.nonzero().flatten().tolist():
            indices = draws[row].tolist()
            genotype = arch.space.freeze_indices(dict(zip(arch.pairs, indices, strict=True)),
                                                 0)
            kept.setdefault(genotype.stable_hash(), (genotype, float(costs[row])))
            if len(kept) == count:
                return list(kept.values())
    raise ValueError(f"only {len(kept)} of {count} random genotypes meet the budget after "
                     f"{max_draws} uniform draws: it admits too few of the space's genotypes "
                     "for rejection sampling; loosen it")


@dataclass(frozen=True)
class Budget:
    """The penalty ``weight * max(0, E[cost] - flops) / scale``; ``flops`` None: no budget
    (penalise the whole cost when ``weight`` > 0). ``scale`` is the most expensive head."""

    flops: float | None
    weight: float
    scale: float

    @classmethod
    def resolve(cls, config: BudgetConfig, model: HeadCostModel) -> Budget:
        scale = model.max_cost()
        if config.gflops is not None:
            flops: float | None = config.gflops * 1e9
        elif config.fraction is not None:
            flops = config.fraction * scale
        else:
            flops = None
        return cls(flops, config.weight, scale)

    @property
    def active(self) -> bool:
        return self.weight > 0

    def penalty(self, expected: torch.Tensor) -> torch.Tensor:
        excess = expected - (self.flops or 0.0)
        return (self.weight * excess.clamp_min(0.0) / self.scale).to(torch.float32)

    def meets(self, flops: float) -> bool | None:
        """Whether a head of ``flops`` is within the budget (None without a budget)."""
        return None if self.flops is None else flops <= self.flops * (1 + 1e-9)
