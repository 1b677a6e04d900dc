"""The ATRC distillation network for a fixed genotype."""

from __future__ import annotations

import torch
from torch import nn

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.context import build_block
from atrc_nas.models.genotype import Genotype, GenotypeError
from atrc_nas.models.heads import (
    ContextFusion,
    MultiTaskNetwork,
    TaskOutputs,
    aux_heads,
    final_classifiers,
    task_features,
)


class ATRCNetwork(MultiTaskNetwork):
    """Backbone, per-task features, one CP block per non-none (target, source) pair of the
    genotype, per-target fusion and final classifiers.

    Aux heads exist only for the tasks the genotype's label contexts read. Submodules:
    ``features[t]``, ``aux[t]``, ``blocks[t][s]``, ``fusion[t]``, ``classifiers[t]``.
    """

    def __init__(self, backbone: nn.Module, spec: DatasetSpec, genotype: Genotype) -> None:
        super().__init__(backbone, spec.tasks)
        if set(genotype.tasks) != set(spec.tasks):
            raise GenotypeError(f"genotype tasks {list(genotype.tasks)} do not match the "
                                f"dataset {spec.name!r} tasks {list(spec.tasks)}")
        self.genotype = genotype
        c_in, c, d = self.dims.in_channels, self.dims.channels, self.dims.attn_channels
        self.features = task_features(c_in, c, self.tasks)
        self.aux = aux_heads(c_in, spec, genotype.aux_tasks())
        self.blocks = nn.ModuleDict({
            t: nn.ModuleDict({s: build_block(op, c, d) for s, op in genotype.sources(t)})
            for t in self.tasks
        })
        self.fusion = nn.ModuleDict({t: ContextFusion(c, d, len(self.blocks[t]))
                                     for t in self.tasks})
        self.classifiers = final_classifiers(c, spec, self.tasks)

    def forward_head(self, x: torch.Tensor) -> tuple[TaskOutputs, TaskOutputs]:
        feats = {t: self.features[t](x) for t in self.tasks}
        aux = {t: head(x) for t, head in self.aux.items()}
        final = {}
        for t in self.tasks:
            contexts = [block(feats[t], feats[s], aux.get(t), aux.get(s))
                        for s, block in self.blocks[t].items()]
            final[t] = self.classifiers[t](self.fusion[t](feats[t], contexts))
        return final, aux
