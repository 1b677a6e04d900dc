"""Backbones: a name registry and HRNetV2 (hrnet18s, hrnet48, hrnet_tiny for tests).

``create_backbone(name, pretrained=path)`` builds one; its ``forward(x)`` returns 4 feature
maps at strides 4, 8, 16, 32 whose widths are ``module.out_channels``.
"""

from atrc_nas.models.backbones.hrnet import HRNet, HRNetSpec, StageSpec
from atrc_nas.models.backbones.registry import create_backbone, list_backbones, register_backbone
from atrc_nas.models.backbones.weights import LoadReport, PretrainedWeightsError, load_pretrained

__all__ = [
    "HRNet",
    "HRNetSpec",
    "LoadReport",
    "PretrainedWeightsError",
    "StageSpec",
    "create_backbone",
    "list_backbones",
    "load_pretrained",
    "register_backbone",
]
