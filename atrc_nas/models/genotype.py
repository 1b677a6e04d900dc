"""Genotypes: the context op of every ordered (target, source) task pair, and their files.

File format (the published one, read and written unchanged)::

    {"data": {target: {source: code, ...}, ...}, "step": N, ...other keys...}

with codes 0 none, 1 global, 2 local (9x9, dilation 1), 3 t-label, 4 s-label. Other
keys are preserved. Ops without a code (from wider search spaces, e.g. a 5x5 local
window) are written by name under ``"ops"`` ({target: {source: "local(kernel_size=5)"}},
every pair); ``"data"`` then still holds the codes of the pairs that have one. When
``"ops"`` is present it is authoritative and ``"data"`` must agree with it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from atrc_nas.fileio import atomic_write_bytes, atomic_write_json
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.tasks import TASKS

Pair = tuple[str, str]  # (target, source)

# Index = the code of the published format.
REFERENCE_OPS: tuple[OpChoice, ...] = (
    OpChoice("none"),
    OpChoice("global"),
    OpChoice("local", kernel_size=9, dilation=1),
    OpChoice("t_label"),
    OpChoice("s_label"),
)
_REFERENCE_CODES = {op: code for code, op in enumerate(REFERENCE_OPS)}

OPS_KEY = "ops"
_RESERVED_KEYS = ("data", "step", OPS_KEY)
PUBLISHED_PREFIX = "published:"
PUBLISHED_DIR = Path(__file__).with_name("genotypes")


class GenotypeError(ValueError):
    """An invalid genotype; the message names the file (or object) and the pair or key."""


def reference_code(op: OpChoice) -> int | None:
    """The published-format code of ``op``, or None if the reference space lacks it."""
    return _REFERENCE_CODES.get(op)


def task_pairs(tasks: Sequence[str]) -> list[Pair]:
    """All ordered (target, source) pairs, diagonal included, target-major."""
    return [(t, s) for t in tasks for s in tasks]


@dataclass(frozen=True, init=False)
class Genotype:
    """An immutable, validated mapping (target, source) -> :class:`OpChoice`.

    ``step`` is the search step it was derived at (None if not from a search); ``extra``
    holds the file's other keys, written back unchanged.
    """

    tasks: tuple[str, ...]
    ops: Mapping[Pair, OpChoice]
    step: int | None
    extra: Mapping[str, Any]

    def __init__(
        self, tasks: Iterable[str], ops: Mapping[Pair, OpChoice], step: int | None = None,
        extra: Mapping[str, Any] | None = None, *, where: str = "genotype",
    ) -> None:
        tasks = tuple(tasks)
        _check_tasks(tasks, where)
        known = set(tasks)
        for pair, op in ops.items():
            for task in pair:
                if task not in known:
                    raise GenotypeError(f"{where}: pair {_pair(pair)} names unknown task "
                                        f"{task!r}; tasks: {list(tasks)}")
            if not isinstance(op, OpChoice):
                raise GenotypeError(f"{where}: pair {_pair(pair)}: expected an OpChoice, "
                                    f"got {op!r}")
        ordered: dict[Pair, OpChoice] = {}
        for pair in task_pairs(tasks):
            if pair not in ops:
                raise GenotypeError(f"{where}: missing pair {_pair(pair)}")
            op = ops[pair]
            if pair[0] == pair[1] and not op.op.on_diagonal:
                raise GenotypeError(f"{where}: pair {_pair(pair)}: {op} is not allowed on "
                                    "the diagonal (target == source)")
            ordered[pair] = op
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)
                                 or step < 0):
            raise GenotypeError(f"{where}: 'step' must be an int >= 0, got {step!r}")
        reserved = sorted(set(extra or {}) & set(_RESERVED_KEYS))
        if reserved:
            raise GenotypeError(f"{where}: extra keys {reserved} are reserved for the "
                                f"genotype itself ({', '.join(_RESERVED_KEYS)})")
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "ops", MappingProxyType(ordered))
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "extra", MappingProxyType(copy.deepcopy(dict(extra or {}))))

    def __hash__(self) -> int:
        return hash(self.stable_hash())

    def __reduce__(self):  # MappingProxyType does not pickle
        return (_rebuild, (self.tasks, dict(self.ops), self.step, dict(self.extra)))

    @classmethod
    def uniform(cls, tasks: Iterable[str], op: OpChoice,
                diagonal: OpChoice | None = None) -> Genotype:
        """Every pair uses ``op``; the diagonal uses ``diagonal`` if given."""
        tasks = tuple(tasks)
        return cls(tasks, {(t, s): (diagonal or op) if t == s else op
                           for t, s in task_pairs(tasks)})

    # -- queries ---------------------------------------------------------------------

    def op(self, target: str, source: str) -> OpChoice:
        try:
            return self.ops[(target, source)]
        except KeyError:
            raise KeyError(f"genotype has no pair {_pair((target, source))}; "
                           f"tasks: {list(self.tasks)}") from None

    def sources(self, target: str) -> list[tuple[str, OpChoice]]:
        """The sources that feed ``target`` (ops other than none), in task order."""
        return [(s, op) for s in self.tasks if (op := self.ops[(target, s)]).op.contributes]

    def aux_tasks(self) -> tuple[str, ...]:
        """Tasks whose aux predictions some chosen op reads, in task order."""
        needed = {t for (target, source), op in self.ops.items()
                  for t in op.op.aux_tasks(target, source)}
        return tuple(t for t in self.tasks if t in needed)

    def codes(self) -> dict[str, dict[str, int | None]]:
        """The published-format code matrix (None where an op has no code)."""
        return {t: {s: reference_code(self.ops[(t, s)]) for s in self.tasks}
                for t in self.tasks}

    def stable_hash(self, length: int = 16) -> str:
        """A hex digest of the choices only (not step or extra), independent of task order."""
        items = sorted((t, s, op.canonical()) for (t, s), op in self.ops.items())
        return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:length]

    # -- files -----------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        codes = self.codes()
        expressible = all(c is not None for row in codes.values() for c in row.values())
        out: dict[str, Any] = {
            "data": {t: {s: c for s, c in row.items() if c is not None}
                     for t, row in codes.items()},
        }
        if self.step is not None:
            out["step"] = self.step
        out.update(copy.deepcopy(dict(self.extra)))
        if not expressible:
            out[OPS_KEY] = {t: {s: str(self.ops[(t, s)]) for s in self.tasks}
                            for t in self.tasks}
        return out

    @classmethod
    def from_json_dict(cls, data: Any, tasks: Sequence[str] | None = None,
                       where: str = "genotype") -> Genotype:
        """Parse the file format; ``tasks`` (if given) must be exactly the file's tasks."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"{where}: expected a JSON object, got {type(data).__name__}")
        codes, named = data.get("data"), data.get(OPS_KEY)
        if codes is None and named is None:
            raise GenotypeError(f"{where}: no 'data' matrix ({{target: {{source: code}}}})")
        primary_key = OPS_KEY if named is not None else "data"
        primary = named if named is not None else codes
        _check_matrix(codes, "data", where)
        _check_matrix(named, OPS_KEY, where)
        if tasks is None:  # rows first, then sources without a row (reported missing)
            tasks = tuple(dict.fromkeys([*primary, *(s for row in primary.values()
                                                     for s in row)]))
        tasks = tuple(tasks)
        _check_tasks(tasks, where)
        for key, matrix in (("data", codes), (OPS_KEY, named)):
            _check_names(matrix, tasks, key, where)
        ops: dict[Pair, OpChoice] = {}
        for pair in task_pairs(tasks):
            row = primary.get(pair[0], {})
            if pair[1] not in row:
                raise GenotypeError(f"{where}: missing pair {_pair(pair)} in {primary_key!r}")
            ops[pair] = (_parse_named(row[pair[1]], pair, where) if named is not None
                         else _parse_code(row[pair[1]], pair, where))
        if named is not None and codes is not None:
            for t, row in codes.items():
                for s, code in row.items():
                    op = _parse_code(code, (t, s), where)
                    if op != ops[(t, s)]:
                        raise GenotypeError(
                            f"{where}: pair {_pair((t, s))}: 'data' says {code} ({op}) but "
                            f"{OPS_KEY!r} says {ops[(t, s)]}")
        extra = {k: v for k, v in data.items() if k not in _RESERVED_KEYS}
        return cls(tasks, ops, data.get("step"), extra, where=where)

    @classmethod
    def load(cls, path: str | Path, tasks: Sequence[str] | None = None) -> Genotype:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise GenotypeError(f"genotype file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise GenotypeError(f"{path}: not valid JSON ({err})") from None
        return cls.from_json_dict(data, tasks, where=str(path))

    def save(self, path: str | Path) -> Path:
        """Write the file atomically (readers never see a partial file)."""
        return atomic_write_json(path, self.to_json_dict())

    # -- views -----------------------------------------------------------------------

    def matrix_text(self) -> str:
        """The op matrix as aligned text: one row per target, one column per source."""
        header = ["target \\ source", *self.tasks]
        rows = [[t, *(str(self.ops[(t, s)]) for s in self.tasks)] for t in self.tasks]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
                         .rstrip() for r in [header, *rows])

    def save_heatmap(self, path: str | Path, title: str | None = None) -> Path:
        """Write :meth:`heatmap_png` to ``path`` (atomically)."""
        return atomic_write_bytes(path, self.heatmap_png(title))

    def heatmap_png(self, title: str | None = None) -> bytes:
        """A PNG of the op matrix (rows targets, columns sources), one colour per op."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure

        ops = sorted(set(self.ops.values()),
                     key=lambda op: (reference_code(op) is None, reference_code(op) or 0,
                                     op.canonical()))
        index = {op: i for i, op in enumerate(ops)}
        n = len(self.tasks)
        matrix = [[index[self.ops[(t, s)]] for s in self.tasks] for t in self.tasks]
        fig = Figure(figsize=(1.6 + 1.3 * n, 1.2 + 1.1 * n))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        # Reference ops keep one colour each (C0..C4); other ops take C5..C9 in turn.
        others = iter(range(len(ops)))
        palette = [f"C{code}" if (code := reference_code(op)) is not None
                   else f"C{5 + next(others) % 5}" for op in ops]
        ax.imshow(matrix, cmap=ListedColormap(palette), vmin=-0.5, vmax=len(ops) - 0.5)
        for i, t in enumerate(self.tasks):
            for j, s in enumerate(self.tasks):
                ax.text(j, i, str(self.ops[(t, s)]), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(n), self.tasks, rotation=30, ha="right")
        ax.set_yticks(range(n), self.tasks)
        ax.set_xlabel("source")
        ax.set_ylabel("target")
        step = f", step {self.step}" if self.step is not None else ""
        ax.set_title(title or f"genotype {self.stable_hash(8)}{step}")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _rebuild(tasks, ops, step, extra) -> Genotype:
    return Genotype(tasks, ops, step, extra)


def _pair(pair: Pair) -> str:
    return f"(target={pair[0]!r}, source={pair[1]!r})"


def _check_tasks(tasks: tuple[str, ...], where: str) -> None:
    if not tasks:
        raise GenotypeError(f"{where}: no tasks")
    for task in tasks:
        if task not in TASKS:
            raise GenotypeError(f"{where}: unknown task {task!r}; known tasks: "
                                f"{', '.join(TASKS)}")
    if len(set(tasks)) != len(tasks):
        raise GenotypeError(f"{where}: duplicate tasks in {list(tasks)}")


def _check_matrix(matrix: Any, key: str, where: str) -> None:
    if matrix is None:
        return
    if not isinstance(matrix, Mapping) or not all(isinstance(r, Mapping)
                                                  for r in matrix.values()):
        raise GenotypeError(f"{where}: {key!r} must map target -> {{source: value}}")


def _check_names(matrix: Mapping[str, Mapping[str, Any]] | None, tasks: tuple[str, ...],
                 key: str, where: str) -> None:
    if matrix is None:
        return
    for target, row in matrix.items():
        for name, role in ((target, "target"), *((s, "source") for s in row)):
            if name not in tasks:
                raise GenotypeError(f"{where}: {key!r} names unknown task {name!r} (as a "
                                    f"{role}); expected tasks: {list(tasks)}")


def _parse_code(code: Any, pair: Pair, where: str) -> OpChoice:
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < len(REFERENCE_OPS):
        raise GenotypeError(f"{where}: pair {_pair(pair)}: code {code!r} out of range; "
                            f"expected an int 0..{len(REFERENCE_OPS) - 1} "
                            f"({', '.join(f'{i} {op}' for i, op in enumerate(REFERENCE_OPS))})")
    return REFERENCE_OPS[code]


def _parse_named(text: Any, pair: Pair, where: str) -> OpChoice:
    try:
        return OpChoice.parse(text)
    except ValueError as err:
        raise GenotypeError(f"{where}: pair {_pair(pair)}: {err}") from None


def published_genotypes() -> list[str]:
    """Names of the genotypes shipped with the package (``published:<name>``)."""
    return sorted(p.stem for p in PUBLISHED_DIR.glob("*.json"))


def resolve_genotype(ref: str | Path | Genotype,
                     tasks: Sequence[str] | None = None) -> Genotype:
    """A Genotype from an object, a JSON path, or ``"published:<name>"``."""
    if isinstance(ref, Genotype):
        if tasks is not None and set(tasks) != set(ref.tasks):
            raise GenotypeError(f"genotype has tasks {list(ref.tasks)}, expected {list(tasks)}")
        return ref
    text = str(ref)
    if text.startswith(PUBLISHED_PREFIX):
        name = text[len(PUBLISHED_PREFIX):]
        path = PUBLISHED_DIR / f"{name}.json"
        if not path.is_file():
            raise GenotypeError(f"unknown published genotype {name!r}; available: "
                                f"{', '.join(published_genotypes())}")
        return Genotype.load(path, tasks)
    return Genotype.load(text, tasks)
