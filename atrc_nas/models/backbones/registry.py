"""Backbone registry: names -> factories, in the style of timm's model registry.

The built-in backbones (``hrnet``'s factories) are imported when one is built, so the names
can be listed (config checks) without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from torch import nn

Factory = TypeVar("Factory", bound=Callable[..., Any])

_BACKBONES: dict[str, Callable[..., nn.Module] | None] = dict.fromkeys(
    ("hrnet18s", "hrnet48", "hrnet_tiny"))
"""name -> factory; None: the built-in factory of that name in ``hrnet``."""


def register_backbone(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory(**kwargs) -> nn.Module`` under ``name``.

    The module must expose ``out_channels: tuple[int, ...]`` and return from ``forward(x)``
    a list of feature maps at strides 4, 8, 16 and 32.
    """

    def decorate(factory: Factory) -> Factory:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered")
        _BACKBONES[name] = factory
        return factory

    return decorate


def list_backbones() -> list[str]:
    """Names of all registered backbones, sorted."""
    return sorted(_BACKBONES)


def create_backbone(
    name: str, pretrained: str | Path | None = None, **kwargs: object
) -> nn.Module:
    """Build the backbone ``name``; load weights from the local file ``pretrained`` if given.

    ``kwargs`` go to the factory (for HRNet: ``in_channels``). See
    :mod:`atrc_nas.models.backbones.weights` for the accepted weight files.
    """
    if name not in _BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; registered backbones: {', '.join(list_backbones())}"
        )
    factory = _BACKBONES[name]
    if factory is None:
        from atrc_nas.models.backbones import hrnet

        factory = getattr(hrnet, name)
    model = factory(**kwargs)
    if pretrained is not None:
        from atrc_nas.models.backbones.weights import load_pretrained

        load_pretrained(model, pretrained)
    return model
