"""Search spaces: which context ops each (target, source) pair may choose from.

One declaration serves the supernet (every candidate of every pair) and, frozen by a
genotype, the final network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import REFERENCE_OPS, Genotype, Pair, task_pairs
from atrc_nas.tasks import get_task


class SearchSpaceError(ValueError):
    """An invalid search space or a choice outside it."""


@dataclass(frozen=True, init=False)
class SearchSpace:
    """Candidate ops for every ordered pair of ``tasks``.

    Ops not offered on the diagonal (s-label) are dropped there. ``fixed`` pins pairs that
    are not searched to one op.
    """

    tasks: tuple[str, ...]
    candidates: tuple[OpChoice, ...]
    fixed: Mapping[Pair, OpChoice]

    def __init__(self, tasks: Iterable[str], candidates: Iterable[OpChoice],
                 fixed: Mapping[Pair, OpChoice] | None = None) -> None:
        tasks, candidates, fixed = tuple(tasks), tuple(candidates), dict(fixed or {})
        if not tasks or len(set(tasks)) != len(tasks):
            raise SearchSpaceError(f"search space needs distinct tasks, got {list(tasks)}")
        for task in tasks:
            get_task(task)
        if not candidates or len(set(candidates)) != len(candidates):
            raise SearchSpaceError(f"search space needs distinct candidate ops, got "
                                   f"{[str(c) for c in candidates]}")
        open_diagonal = [t for t in tasks if (t, t) not in fixed]
        if open_diagonal and not any(op.op.on_diagonal for op in candidates):
            raise SearchSpaceError(
                f"no candidate op is offered on the diagonal (target == source), which pairs "
                f"{[(t, t) for t in open_diagonal]} search; candidates: "
                f"{', '.join(map(str, candidates))}")
        for pair, op in fixed.items():
            if pair not in task_pairs(tasks):
                raise SearchSpaceError(f"fixed pair {pair} is not a pair of tasks {list(tasks)}")
            if pair[0] == pair[1] and not op.op.on_diagonal:
                raise SearchSpaceError(f"fixed pair {pair}: {op} is not allowed on the diagonal")
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "candidates", candidates)
        object.__setattr__(self, "fixed", MappingProxyType(fixed))

    def __hash__(self) -> int:
        return hash((self.tasks, self.candidates, tuple(sorted(self.fixed.items()))))

    def __reduce__(self):  # MappingProxyType does not pickle
        return (SearchSpace, (self.tasks, self.candidates, dict(self.fixed)))

    @classmethod
    def reference(cls, tasks: Iterable[str]) -> SearchSpace:
        """The published space: none, global, local 9x9, t-label, s-label (not diagonal)."""
        return cls(tasks, REFERENCE_OPS)

    def pairs(self) -> list[Pair]:
        return task_pairs(self.tasks)

    def searched_pairs(self) -> list[Pair]:
        return [p for p in self.pairs() if p not in self.fixed]

    def candidates_for(self, target: str, source: str) -> tuple[OpChoice, ...]:
        """The ops pair (target, source) chooses from, in declaration order."""
        pair = (target, source)
        if pair not in task_pairs(self.tasks):
            raise KeyError(f"({target!r}, {source!r}) is not a pair of tasks {list(self.tasks)}")
        if pair in self.fixed:
            return (self.fixed[pair],)
        return tuple(op for op in self.candidates if target != source or op.op.on_diagonal)

    def aux_tasks(self) -> tuple[str, ...]:
        """Tasks whose aux predictions some candidate reads (the supernet's aux heads)."""
        needed = {t for pair in self.pairs() for op in self.candidates_for(*pair)
                  for t in op.op.aux_tasks(*pair)}
        return tuple(t for t in self.tasks if t in needed)

    def freeze(self, choices: Mapping[Pair, OpChoice], step: int | None = None,
               extra: Mapping[str, object] | None = None) -> Genotype:
        """The genotype choosing ``choices[pair]`` for every pair; each must be a candidate."""
        for pair in self.pairs():
            if pair not in choices:
                raise SearchSpaceError(f"no choice for pair (target={pair[0]!r}, "
                                       f"source={pair[1]!r})")
            allowed = self.candidates_for(*pair)
            if choices[pair] not in allowed:
                raise SearchSpaceError(
                    f"pair (target={pair[0]!r}, source={pair[1]!r}): {choices[pair]} is not "
                    f"a candidate; candidates: {', '.join(map(str, allowed))}")
        return Genotype(self.tasks, {p: choices[p] for p in self.pairs()}, step, extra)

    def freeze_indices(self, indices: Mapping[Pair, int], step: int | None = None,
                       extra: Mapping[str, object] | None = None) -> Genotype:
        """Freeze by index into ``candidates_for(pair)`` (e.g. argmax of the logits)."""
        return self.freeze({p: _index(self.candidates_for(*p), i, p)
                            for p, i in indices.items()}, step, extra)


def _index(ops: Sequence[OpChoice], i: int, pair: Pair) -> OpChoice:
    if not 0 <= i < len(ops):
        raise SearchSpaceError(f"pair {pair}: index {i} out of range for {len(ops)} candidates")
    return ops[i]
