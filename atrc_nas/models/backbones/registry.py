"""Backbone registry: names -> factories, in the style of timm's model registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from torch import nn

from atrc_nas.models.backbones.weights import load_pretrained

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


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
    model = _BACKBONES[name](**kwargs)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model
