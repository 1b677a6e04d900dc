"""Network registry: ``build_network(name, dataset_spec, backbone, ...)``.

Names: ``single_task`` (option ``task``, unless the dataset has one task), ``multi_task``,
``atrc`` (needs a genotype), ``fixed_global``, ``fixed_local`` (options ``kernel_size``,
``dilation``), ``fixed_tlabel``, ``fixed_slabel`` (t-label on the diagonal, where s-label
is not offered and would read the same predictions), ``padnet``. The table and its
option checks need no torch (configs are checked with them); the network modules are
imported when one is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.context_ops import OpChoice, get_context_op
from atrc_nas.models.genotype import Genotype, resolve_genotype

if TYPE_CHECKING:
    from torch import nn

GenotypeRef = Genotype | str | Path


def _no_check(spec: DatasetSpec, **options: Any) -> None:
    return None


@dataclass(frozen=True)
class NetworkEntry:
    """``build(backbone, spec, genotype, **options)``; ``options`` lists accepted keys and
    ``check(spec, **options)`` raises ValueError for bad values, without building."""

    build: Callable[..., nn.Module]
    uses_genotype: bool = False
    options: tuple[str, ...] = ()
    check: Callable[..., None] = _no_check


def _single_task_name(spec: DatasetSpec, task: str | None = None) -> str:
    if task is None:
        if len(spec.tasks) != 1:
            raise ValueError(f"network 'single_task' needs option task=... (one of "
                             f"{list(spec.tasks)}) for dataset {spec.name!r}")
        return spec.tasks[0]
    if task not in spec.tasks:
        raise ValueError(f"network 'single_task': task {task!r} is not one of the run's tasks "
                         f"{list(spec.tasks)}")
    return task


def _single_task(backbone: nn.Module, spec: DatasetSpec, genotype: None,
                 task: str | None = None) -> nn.Module:
    from atrc_nas.models.baselines import MultiTaskBaseline

    return MultiTaskBaseline(backbone, spec.with_tasks([_single_task_name(spec, task)]))


def _atrc(backbone: nn.Module, spec: DatasetSpec, genotype: GenotypeRef | None) -> nn.Module:
    if genotype is None:
        raise ValueError("network 'atrc' needs a genotype (a Genotype, a JSON path or "
                         "'published:<name>')")
    from atrc_nas.models.atrc import ATRCNetwork

    return ATRCNetwork(backbone, spec, resolve_genotype(genotype, spec.tasks))


def _multi_task(backbone: nn.Module, spec: DatasetSpec, genotype: None) -> nn.Module:
    from atrc_nas.models.baselines import MultiTaskBaseline

    return MultiTaskBaseline(backbone, spec)


def _padnet(backbone: nn.Module, spec: DatasetSpec, genotype: None) -> nn.Module:
    from atrc_nas.models.baselines import PADNet

    return PADNet(backbone, spec)


def _fixed(name: str, diagonal: str | None = None) -> NetworkEntry:
    """Every pair uses op ``name`` (``diagonal`` on the diagonal); options: the op's params."""

    def build(backbone: nn.Module, spec: DatasetSpec, genotype: None,
              **params: Any) -> nn.Module:
        from atrc_nas.models.atrc import ATRCNetwork

        op = OpChoice(name, params)
        diag = OpChoice(diagonal) if diagonal else None
        return ATRCNetwork(backbone, spec, Genotype.uniform(spec.tasks, op, diagonal=diag))

    def check(spec: DatasetSpec, **params: Any) -> None:
        OpChoice(name, params)

    return NetworkEntry(build, options=tuple(get_context_op(name).params), check=check)


NETWORKS: dict[str, NetworkEntry] = {
    "single_task": NetworkEntry(_single_task, options=("task",), check=_single_task_name),
    "multi_task": NetworkEntry(_multi_task),
    "atrc": NetworkEntry(_atrc, uses_genotype=True),
    "fixed_global": _fixed("global"),
    "fixed_local": _fixed("local"),
    "fixed_tlabel": _fixed("t_label"),
    "fixed_slabel": _fixed("s_label", diagonal="t_label"),
    "padnet": NetworkEntry(_padnet),
}


def check_network_options(name: str, dataset_spec: DatasetSpec,
                          options: dict[str, Any]) -> NetworkEntry:
    """The entry of network ``name`` once ``options`` are known to suit it (ValueError
    otherwise); nothing is built."""
    entry = NETWORKS.get(name)
    if entry is None:
        raise ValueError(f"unknown network {name!r}; known networks: {', '.join(NETWORKS)}")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(f"network {name!r} has no option(s) {unknown}; its options: "
                         f"{', '.join(entry.options) or 'none'}")
    entry.check(dataset_spec, **options)
    return entry


def build_network(
    name: str, dataset_spec: DatasetSpec, backbone: str | nn.Module,
    pretrained: str | Path | None = None, genotype: GenotypeRef | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build network ``name`` for ``dataset_spec``'s tasks.

    ``backbone`` is a registered backbone name (weights from the local file ``pretrained``)
    or a built module with ``out_channels``; ``genotype`` only for ``atrc``; ``kwargs`` are
    the network's options (see the module docstring).
    """
    entry = check_network_options(name, dataset_spec, kwargs)
    if genotype is not None and not entry.uses_genotype:
        raise ValueError(f"network {name!r} takes no genotype (only 'atrc' does)")
    if isinstance(backbone, str):
        from atrc_nas.models.backbones.registry import create_backbone

        backbone = create_backbone(backbone, pretrained=pretrained)
    elif pretrained is not None:
        raise ValueError("pretrained weights apply to a backbone given by name, not to a "
                         "built module")
    return entry.build(backbone, dataset_spec, genotype, **kwargs)
