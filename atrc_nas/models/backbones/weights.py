"""Pretrained backbone weights from a local file (nothing is downloaded).

ImageNet HRNet files, by backbone (put one on disk and name its path in the config):

=========  ===============================  ==================================================
backbone   file                             source
=========  ===============================  ==================================================
hrnet18s   hrnetv2_w18_small-b5a04e21.pth   https://download.openmmlab.com/pretrain/
                                            third_party/hrnetv2_w18_small-b5a04e21.pth
                                            (OpenMMLab; the file the ATRC reference used)
hrnet18s   hrnet_w18_small_v2-4c50a8cb.pth  timm: https://github.com/rwightman/
                                            pytorch-image-models/releases/download/v0.1-hrnet/,
                                            or pytorch_model.bin of the Hugging Face repo
                                            timm/hrnet_w18_small_v2.ms_in1k
hrnet48    hrnetv2_w48-d2186c55.pth         https://download.openmmlab.com/pretrain/
                                            third_party/hrnetv2_w48-d2186c55.pth (OpenMMLab)
hrnet48    hrnetv2_w48-abd2e6ab.pth         timm release v0.1-hrnet (as above), or
                                            pytorch_model.bin of timm/hrnet_w48.ms_in1k
=========  ===============================  ==================================================

Layouts, detected from the file's content:

- ``"openmmlab"``: an OpenMMLab checkpoint: the weights under ``"state_dict"`` (mmcv /
  mmengine save format) and/or keys prefixed ``backbone.`` (a whole segmentor checkpoint;
  only the ``backbone.*`` keys are used, the others, e.g. ``decode_head.*``, are ignored and
  reported).
- ``"timm"``: a flat state dict of timm's ``HighResolutionNet`` (``hrnet_w18_small_v2``,
  ``hrnet_w48``). OpenMMLab's third-party ImageNet files above are flat conversions of the
  official HRNet ImageNet release and share this layout.

Key mapping, timm -> ours. timm, OpenMMLab and the official HRNet classification code all use
the same parameter names for the backbone, which this package reproduces, so the mapping is
the identity on the backbone (per-module table below) and drops the classification head:

=====================================  =====================================  ===============
timm key                               ours                                   part
=====================================  =====================================  ===============
conv1.*, bn1.*, conv2.*, bn2.*         same                                   stem
layer1.{b}.{conv,bn}{1,2,3}.*,         same                                   stage 1
layer1.0.downsample.{0,1}.*
transition{s}.{i}.{0,1}.*              same                                   width change
transition{s}.{i}.{k}.{0,1}.*          same                                   new branch
stage{s}.{m}.branches.{i}.{b}.*        same                                   stages 2-4
stage{s}.{m}.fuse_layers.{i}.{j}.*     same                                   fusion
incre_modules.*, downsamp_modules.*,   dropped                                ImageNet head
final_layer.*, classifier.*
=====================================  =====================================  ===============

After that the file must match the model exactly (the ATRC reference loads it strictly):
missing, unexpected or wrongly shaped keys raise :class:`PretrainedWeightsError` naming the
keys and the file. Only BatchNorm ``num_batches_tracked`` counters may be absent (older
files lack them; they are bookkeeping, not weights). timm's fuse layers upsample with
nearest-neighbour, ours bilinear as the ATRC reference does (``hrnet.upsample_fused``);
the parameters are the same.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("final_layer.", "incre_modules.", "downsamp_modules.", "classifier.")
"""ImageNet classification head of the HRNet files: dropped before loading."""

BACKBONE_PREFIX = "backbone."
_OPTIONAL_SUFFIX = "num_batches_tracked"
_MAX_LISTED = 20


class PretrainedWeightsError(ValueError):
    """The weights file cannot be read or does not match the model."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did."""

    path: Path
    layout: str
    loaded: int
    dropped_head: tuple[str, ...]
    ignored: tuple[str, ...]


def load_pretrained(model: nn.Module, path: str | Path) -> LoadReport:
    """Load backbone weights from ``path`` into ``model`` or raise, changing nothing."""
    path = Path(path)
    layout, state, ignored = _backbone_state_dict(_read(path), path)
    dropped = tuple(sorted(k for k in state if k.startswith(HEAD_PREFIXES)))
    state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    expected = model.state_dict()
    _check_match(state, expected, path, layout)
    counters = {k: v for k, v in expected.items() if k.endswith(_OPTIONAL_SUFFIX)}
    model.load_state_dict({**counters, **state}, strict=True)
    report = LoadReport(path, layout, len(state), dropped, ignored)
    log.info(
        "loaded %d backbone tensors from %s (%s layout); dropped %d head keys, ignored %d "
        "non-backbone keys", report.loaded, path, layout, len(dropped), len(ignored),
    )
    return report


def _backbone_state_dict(
    raw: Mapping[str, object], path: Path
) -> tuple[str, dict[str, torch.Tensor], tuple[str, ...]]:
    """Detect the layout of a loaded file; return (layout, backbone-named dict, ignored keys).

    The returned dict still holds the head keys (:data:`HEAD_PREFIXES`).
    """
    inner = raw.get("state_dict")
    wrapped = isinstance(inner, Mapping)
    entries = dict(inner) if isinstance(inner, Mapping) else dict(raw)
    prefixed = any(k.startswith(BACKBONE_PREFIX) for k in entries)
    ignored: tuple[str, ...] = ()
    if prefixed:
        ignored = tuple(sorted(k for k in entries if not k.startswith(BACKBONE_PREFIX)))
        entries = {k.removeprefix(BACKBONE_PREFIX): v for k, v in entries.items()
                   if k.startswith(BACKBONE_PREFIX)}
    tensors = {k: v for k, v in entries.items() if isinstance(v, torch.Tensor)}
    if len(tensors) < len(entries):
        not_tensors = sorted(set(entries) - set(tensors))
        raise PretrainedWeightsError(
            f"{path}: entries that are not tensors, so this is not a state dict: "
            f"{_listing(not_tensors)}"
        )
    layout = "openmmlab" if wrapped or prefixed else "timm"
    return layout, tensors, ignored


def _read(path: Path) -> Mapping[str, object]:
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights file {path} does not exist; nothing is downloaded: get the "
            "file listed for the backbone in atrc_nas/models/backbones/weights.py"
        )
    if path.suffix == ".safetensors":
        raise PretrainedWeightsError(
            f"{path}: safetensors files are not read; use the repository's pytorch_model.bin "
            "or the .pth release file"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise PretrainedWeightsError(
            f"{path}: torch.load(weights_only=True) cannot read it: {err}"
        ) from err
    if not isinstance(raw, Mapping):
        raise PretrainedWeightsError(
            f"{path}: holds a {type(raw).__name__}, expected a state dict or a checkpoint dict"
        )
    return raw


def _check_match(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path,
    layout: str,
) -> None:
    missing = sorted(
        k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIX)
    )
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = sorted(
        f"{k} (file {tuple(v.shape)}, model {tuple(expected[k].shape)})"
        for k, v in state.items() if k in expected and v.shape != expected[k].shape
    )
    problems = [
        f"{what} ({len(keys)}): {_listing(keys)}"
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                           ("shape mismatches", mismatched))
        if keys
    ]
    if problems:
        raise PretrainedWeightsError(
            f"{path} ({layout} layout) does not match the backbone; refusing to load it:\n  "
            + "\n  ".join(problems)
        )


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return f"{shown}, ... ({more} more)" if more > 0 else shown
