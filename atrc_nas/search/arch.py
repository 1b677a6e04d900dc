"""Architecture parameters of the search: per-pair logits, Gumbel sampling, early fixing.

Every pair of the space has a row of ``logits`` (padded to the widest pair; padding never
gets probability). Rows are in ``space.pairs()`` order, columns in
``space.candidates_for(pair)`` order. Pairs the space pins are fixed from the start;
searched pairs become fixed (irreversibly) once their softmax top-1 minus top-2 reaches
the gap. A fixed row's weights are its constant one-hot.
"""

from __future__ import annotations

import torch
from torch import nn

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import Genotype, Pair
from atrc_nas.models.space import SearchSpace

_TINY = torch.finfo(torch.float32).tiny


class Architecture(nn.Module):
    """Logits, fixed masks and the Gumbel noise generator of one search.

    Buffers ``fixed`` [P] and ``fixed_index`` [P] travel in the state dict; the noise
    generator's state is saved with :meth:`rng_state` / :meth:`set_rng_state`.
    """

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        self.pairs: list[Pair] = space.pairs()
        self.candidates: list[tuple[OpChoice, ...]] = [space.candidates_for(*p)
                                                       for p in self.pairs]
        width = max(len(c) for c in self.candidates)
        available = torch.zeros(len(self.pairs), width, dtype=torch.bool)
        contributes = torch.zeros_like(available)
        for row, ops in enumerate(self.candidates):
            available[row, :len(ops)] = True
            contributes[row, :len(ops)] = torch.tensor([op.op.contributes for op in ops])
        searched = torch.tensor([p not in space.fixed for p in self.pairs])
        self.logits = nn.Parameter(torch.zeros(len(self.pairs), width))
        self.register_buffer("available", available, persistent=False)
        self.register_buffer("contributes", contributes, persistent=False)
        self.register_buffer("searched", searched, persistent=False)
        self.register_buffer("fixed", ~searched)
        self.register_buffer("fixed_index", torch.zeros(len(self.pairs), dtype=torch.long))
        self.generator = torch.Generator().manual_seed(seed)

    # -- probabilities -----------------------------------------------------------------

    def _masked(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.masked_fill(~self.available, float("-inf"))

    def probabilities(self) -> torch.Tensor:
        """softmax(alpha) per row [P, K] (0 on padding), ignoring fixing."""
        return torch.softmax(self._masked(self.logits), dim=1)

    def _one_hot(self, index: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(index, self.logits.shape[1]).to(self.logits.dtype)

    def _with_fixed(self, weights: torch.Tensor) -> torch.Tensor:
        return torch.where(self.fixed[:, None], self._one_hot(self.fixed_index), weights)

    def cost_probabilities(self) -> torch.Tensor:
        """softmax(alpha) for rows still searched, the fixed one-hot for fixed rows."""
        return self._with_fixed(self.probabilities())

    def sample(self, tau: float) -> torch.Tensor:
        """Soft Gumbel-softmax weights [P, K]: one noise sample per block, shared over the
        batch; fixed rows are their one-hot. Weights below float range are exactly 0."""
        uniform_exp = torch.empty(self.logits.shape).exponential_(generator=self.generator)
        gumbel = -uniform_exp.clamp_min(_TINY).log().to(self.logits.device)
        soft = torch.softmax(self._masked(self.logits + gumbel) / tau, dim=1)
        return self._with_fixed(soft)

    def argmax_index(self) -> torch.Tensor:
        """The chosen candidate per row [P]: the fixed index, else argmax(alpha)."""
        best = self._masked(self.logits.detach()).argmax(dim=1)
        return torch.where(self.fixed, self.fixed_index, best)

    def argmax_weights(self) -> torch.Tensor:
        """One-hot weights [P, K] of :meth:`argmax_index` (validation)."""
        return self._one_hot(self.argmax_index())

    def entropy(self) -> torch.Tensor:
        """Mean over the searched blocks of the entropy of softmax(alpha)."""
        masked = self._masked(self.logits)
        # zero the padding's -inf before multiplying, or its gradient would be NaN
        log_p = torch.where(self.available, torch.log_softmax(masked, dim=1), 0.0)
        per_block = -(torch.softmax(masked, dim=1) * log_p).sum(dim=1)
        if not bool(self.searched.any()):
            return per_block.sum() * 0.0
        return per_block[self.searched].mean()

    @torch.no_grad()
    def entropy_report(self) -> dict[str, float]:
        """The architecture distribution's mean entropy (nats) and that of the uniform one
        over the same candidates: how far the search has moved from where it started."""
        uniform = torch.log(self.available.sum(dim=1).to(torch.float64))
        return {"arch_entropy": float(self.entropy()),
                "arch_entropy_uniform": float(uniform[self.searched].mean())
                if bool(self.searched.any()) else 0.0}

    # -- early fixing ------------------------------------------------------------------

    @torch.no_grad()
    def fix_confident(self, gap: float) -> list[Pair]:
        """Fix every unfixed row whose top-1 minus top-2 probability is >= ``gap``;
        returns the newly fixed pairs. Fixed rows never un-fix."""
        probs = self.probabilities().double()
        top = probs.topk(2, dim=1).values
        newly = ~self.fixed & (top[:, 0] - top[:, 1] >= gap)
        self.fixed_index[newly] = probs.argmax(dim=1)[newly]
        self.fixed |= newly
        return [self.pairs[i] for i in newly.nonzero().flatten().tolist()]

    # -- genotypes ---------------------------------------------------------------------

    def genotype(self, step: int | None = None) -> Genotype:
        """The derived genotype: fixed one-hot where fixed, argmax elsewhere."""
        indices = self.argmax_index().tolist()
        return self.space.freeze_indices(dict(zip(self.pairs, indices, strict=True)), step)

    def table(self, weights: torch.Tensor) -> dict[str, dict[str, dict[str, float]]]:
        """``{target: {source: {op: weight}}}`` of a [P, K] tensor, for logs and history."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (target, source), ops, row in zip(self.pairs, self.candidates,
                                              weights.detach().cpu().tolist(), strict=True):
            out.setdefault(target, {})[source] = {str(op): row[i] for i, op in enumerate(ops)}
        return out

    def fixed_table(self) -> dict[str, dict[str, str | None]]:
        """``{target: {source: op or None}}``: the fixed op of every pair, None if searched."""
        out: dict[str, dict[str, str | None]] = {}
        for row, ((target, source), ops) in enumerate(zip(self.pairs, self.candidates,
                                                          strict=True)):
            fixed = bool(self.fixed[row])
            out.setdefault(target, {})[source] = (str(ops[int(self.fixed_index[row])])
                                                  if fixed else None)
        return out

    def ops_run(self, weights: torch.Tensor) -> int:
        """How many blocks a forward pass with ``weights`` evaluates (non-zero weight on a
        contributing op)."""
        return int(((weights != 0) & self.contributes).sum())

    # -- checkpoint state --------------------------------------------------------------

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
