"""Shared fixtures of the model tests: the NYUD spec and the tiny HRNet test variant."""

import pytest
import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.models.backbones import create_backbone

TINY_BACKBONE = "hrnet_tiny"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def nyud() -> DatasetSpec:
    return get_dataset_spec("nyud")


@pytest.fixture
def pascal() -> DatasetSpec:
    return get_dataset_spec("pascal")


@pytest.fixture
def tiny_backbone() -> torch.nn.Module:
    return create_backbone(TINY_BACKBONE)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64)
