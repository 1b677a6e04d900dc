"""The dataset table."""

from __future__ import annotations

import pytest

from atrc_nas.data.builders import DATASET_BUILDERS, build_dataset
from atrc_nas.data.spec import DATASETS


def test_every_spec_has_a_builder():
    assert set(DATASET_BUILDERS) == set(DATASETS)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(KeyError, match="synthetic_nyud, synthetic_pascal, nyud, pascal"):
        build_dataset("nyu", "train")


def test_bad_split_and_missing_root():
    with pytest.raises(ValueError, match="valid splits: train, test"):
        build_dataset("synthetic_nyud", "val")
    with pytest.raises(ValueError, match="needs root"):
        build_dataset("pascal", "train")


def test_builds_synthetic_with_options_and_tasks():
    data = build_dataset(
        "synthetic_pascal", "test", tasks=["sal", "edge"], num_images=2, image_size=(16, 20)
    )
    assert len(data) == 2
    assert data.spec.tasks == ("sal", "edge")
    sample = data.load_raw(0)
    assert sample["image"].shape == (16, 20, 3)
    assert {"sal", "edge"} <= set(sample) and "semseg" not in sample
