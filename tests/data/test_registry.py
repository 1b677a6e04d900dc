"""The dataset registry: one entry per dataset."""

from __future__ import annotations

import pytest
from fixtures import NYUD_VAL, build_nyud

from atrc_nas.data.check import folder_datasets
from atrc_nas.data.io import FolderDataset
from atrc_nas.data.registry import DATASETS, build_dataset, get_dataset_spec


def test_one_entry_holds_spec_loader_check_and_sources():
    for name, entry in DATASETS.items():
        assert entry.spec.name == name and get_dataset_spec(name) is entry.spec
        assert entry.splits[0] == "train"
        assert callable(entry.loader)
        if entry.in_folder:  # real data: checkable, explained, with its published archives
            assert issubclass(entry.loader, FolderDataset)
            assert entry.loader.dataset is entry.spec
            assert entry.how_to_get and entry.sources is not None
    assert folder_datasets() == ["nyud", "pascal"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(KeyError, match="synthetic_nyud, synthetic_pascal, nyud, pascal"):
        build_dataset("nyu", "train")


def test_bad_split_and_missing_root():
    with pytest.raises(ValueError, match=r"valid splits: train, test$"):
        build_dataset("synthetic_nyud", "val")
    with pytest.raises(ValueError, match=r"valid splits: train, val \('test': the held-out"):
        build_dataset("nyud", "tst", root="unused")
    with pytest.raises(ValueError, match="needs root"):
        build_dataset("pascal", "train")


def test_test_names_the_held_out_split_of_every_dataset(tmp_path):
    build_nyud(tmp_path)
    held_out = build_dataset("nyud", "val", root=tmp_path)
    assert build_dataset("nyud", "test", root=tmp_path).ids == held_out.ids == list(NYUD_VAL)


def test_builds_synthetic_with_options_and_tasks():
    data = build_dataset(
        "synthetic_pascal", "test", tasks=["sal", "edge"], num_images=2, image_size=(16, 20)
    )
    assert len(data) == 2
    assert data.spec.tasks == ("sal", "edge")
    sample = data.load_raw(0)
    assert sample["image"].shape == (16, 20, 3)
    assert {"sal", "edge"} <= set(sample) and "semseg" not in sample
