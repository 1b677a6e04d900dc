"""Backbones: a name registry and HRNetV2 (hrnet18s, hrnet48, hrnet_tiny for tests).

``create_backbone(name, pretrained=path)`` builds one; its ``forward(x)`` returns 4 feature
maps at strides 4, 8, 16, 32 whose widths are ``module.out_channels``. ``list_backbones``
needs no torch; the names below are imported from their modules on first use.
"""

from atrc_nas.lazy import lazy_exports

_EXPORTS = {
    "HRNet": "hrnet", "HRNetSpec": "hrnet", "StageSpec": "hrnet",
    "create_backbone": "registry", "list_backbones": "registry",
    "register_backbone": "registry", "LoadReport": "weights",
    "PretrainedWeightsError": "weights", "load_pretrained": "weights",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
