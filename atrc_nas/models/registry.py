"""Network registry: ``build_network(name, dataset_spec, backbone, ...)``.

Names: ``single_task`` (option ``task``, unless the dataset has one task), ``multi_task``,
``atrc`` (needs a genotype), ``fixed_global``, ``fixed_local`` (options ``kernel_size``,
``dilation``), ``fixed_tlabel``, ``fixed_slabel`` (t-label on the diagonal, where s-label
is not offered and would read the same predictions), ``padnet``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.atrc import ATRCNetwork
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.baselines import MultiTaskBaseline, PADNet
from atrc_nas.models.context import OpChoice, get_context_op
from atrc_nas.models.genotype import Genotype, resolve_genotype

GenotypeRef = Genotype | str | Path


@dataclass(frozen=True)
class NetworkEntry:
    """``build(backbone, spec, genotype, **options)``; ``options`` lists accepted keys."""

    build: Callable[..., nn.Module]
    uses_genotype: bool = False
    options: tuple[str, ...] = ()


def _single_task(backbone: nn.Module, spec: DatasetSpec, genotype: None,
                 task: str | None = None) -> nn.Module:
    if task is None:
        if len(spec.tasks) != 1:
            raise ValueError(f"network 'single_task' needs option task=... (one of "
                             f"{list(spec.tasks)}) for dataset {spec.name!r}")
        task = spec.tasks[0]
    return MultiTaskBaseline(backbone, spec.with_tasks([task]))


def _atrc(backbone: nn.Module, spec: DatasetSpec, genotype: GenotypeRef | None) -> nn.Module:
    if genotype is None:
        raise ValueError("network 'atrc' needs a genotype (a Genotype, a JSON path or "
                         "'published:<name>')")
    return ATRCNetwork(backbone, spec, resolve_genotype(genotype, spec.tasks))


def _fixed(name: str, diagonal: str | None = None) -> NetworkEntry:
    """Every pair uses op ``name`` (``diagonal`` on the diagonal); options: the op's params."""

    def build(backbone: nn.Module, spec: DatasetSpec, genotype: None,
              **params: Any) -> nn.Module:
        op = OpChoice(name, params)
        diag = OpChoice(diagonal) if diagonal else None
        return ATRCNetwork(backbone, spec, Genotype.uniform(spec.tasks, op, diagonal=diag))

    return NetworkEntry(build, options=tuple(get_context_op(name).params))


NETWORKS: dict[str, NetworkEntry] = {
    "single_task": NetworkEntry(_single_task, options=("task",)),
    "multi_task": NetworkEntry(lambda backbone, spec, genotype: MultiTaskBaseline(backbone,
                                                                                 spec)),
    "atrc": NetworkEntry(_atrc, uses_genotype=True),
    "fixed_global": _fixed("global"),
    "fixed_local": _fixed("local"),
    "fixed_tlabel": _fixed("t_label"),
    "fixed_slabel": _fixed("s_label", diagonal="t_label"),
    "padnet": NetworkEntry(lambda backbone, spec, genotype: PADNet(backbone, spec)),
}


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
    entry = NETWORKS.get(name)
    if entry is None:
        raise ValueError(f"unknown network {name!r}; known networks: {', '.join(NETWORKS)}")
    unknown = sorted(set(kwargs) - set(entry.options))
    if unknown:
        raise ValueError(f"network {name!r} has no option(s) {unknown}; its options: "
                         f"{', '.join(entry.options) or 'none'}")
    if genotype is not None and not entry.uses_genotype:
        raise ValueError(f"network {name!r} takes no genotype (only 'atrc' does)")
    if isinstance(backbone, str):
        backbone = create_backbone(backbone, pretrained=pretrained)
    elif pretrained is not None:
        raise ValueError("pretrained weights apply to a backbone given by name, not to a "
                         "built module")
    return entry.build(backbone, dataset_spec, genotype, **kwargs)
