from pathlib import Path

import numpy as np
import pytest
from fixtures import NYUD_TRAIN, NYUD_VAL, SIZE, build_nyud, write_npy, write_png

from atrc_nas.data.io import DataFileError
from atrc_nas.data.nyud import NYUDDataset


@pytest.mark.parametrize("layout", ["NYUDv2", "NYUD_MT"])
def test_layout_is_detected_and_labels_decoded(tmp_path: Path, layout: str):
    expected = build_nyud(tmp_path, layout=layout)
    ds = NYUDDataset(tmp_path, split="train")
    assert ds.layout.name == layout
    assert ds.ids == list(NYUD_TRAIN) and len(ds) == len(NYUD_TRAIN)
    assert ds.spec.tasks == ("semseg", "depth", "normals", "edge")
    for i, sample_id in enumerate(NYUD_TRAIN):
        sample, want = ds.load_raw(i), expected[sample_id]
        assert sample["meta"] == {"id": sample_id, "size": SIZE, "dataset": "nyud"}
        assert sample["image"].dtype == np.uint8 and sample["image"].shape == (*SIZE, 3)
        if layout == "NYUDv2":
            np.testing.assert_array_equal(sample["image"], want["image"])
        else:  # JPEG
            assert np.abs(sample["image"].astype(int) - want["image"]).max() <= 6
        assert sample["semseg"].dtype == np.uint8
        np.testing.assert_array_equal(sample["semseg"], want["semseg"])
        assert sample["depth"].dtype == np.float32
        np.testing.assert_array_equal(sample["depth"], want["depth"])
        assert sample["normals"].dtype == np.float32 and sample["normals"].shape == (*SIZE, 3)
        np.testing.assert_allclose(sample["normals"], want["normals"], atol=1e-6)
        assert sample["edge"].dtype == np.float32
        np.testing.assert_array_equal(sample["edge"], want["edge"])


def test_semseg_void_and_shift(tmp_path: Path):
    build_nyud(tmp_path)
    stored = np.ones(SIZE, np.uint8)
    stored[0, :3] = (0, 1, 40)
    write_png(tmp_path / "segmentation" / "0001.png", stored)
    semseg = NYUDDataset(tmp_path, tasks=["semseg"]).load_raw(0)["semseg"]
    np.testing.assert_array_equal(semseg[0, :4], [255, 0, 39, 0])


def test_normals_png_and_edge_png_decoding(tmp_path: Path):
    build_nyud(tmp_path)
    stored = np.zeros((*SIZE, 3), np.uint8)
    stored[0, 0] = (0, 255, 128)
    write_png(tmp_path / "normals" / "0001.png", stored)
    edge = np.zeros(SIZE, np.uint8)
    edge[3, 4] = 255
    write_png(tmp_path / "edge" / "0001.png", edge)
    sample = NYUDDataset(tmp_path, tasks=["normals", "edge"]).load_raw(0)
    np.testing.assert_allclose(sample["normals"][0, 0], [-1.0, 1.0, 1.0 / 255.0], atol=1e-6)
    assert sample["edge"][3, 4] == 1.0 and sample["edge"].sum() == 1.0


def test_val_split_task_subset_and_transform(tmp_path: Path):
    build_nyud(tmp_path, layout="NYUD_MT")
    ds = NYUDDataset(
        tmp_path, split="val", tasks=["depth", "semseg"], transform=lambda s: sorted(s)
    )
    assert ds.ids == list(NYUD_VAL)
    assert ds.spec.tasks == ("depth", "semseg")
    assert ds[1] == ["depth", "image", "meta", "semseg"]


def test_unknown_task_and_split(tmp_path: Path):
    build_nyud(tmp_path)
    with pytest.raises(KeyError, match=r"no task\(s\) \['sal'\].*available"):
        NYUDDataset(tmp_path, tasks=["semseg", "sal"])
    with pytest.raises(ValueError, match=r"unknown split 'test'.*'train', 'val'"):
        NYUDDataset(tmp_path, split="test")


def test_layout_that_cannot_be_told(tmp_path: Path):
    build_nyud(tmp_path)
    (tmp_path / "images" / "0001.jpg").write_bytes(b"")
    with pytest.raises(DataFileError, match="cannot tell the NYUD layout") as err:
        NYUDDataset(tmp_path)
    assert str(tmp_path / "images") in str(err.value)


def test_missing_root_and_split_file(tmp_path: Path):
    with pytest.raises(DataFileError, match="dataset folder not found"):
        NYUDDataset(tmp_path / "nowhere")
    build_nyud(tmp_path)
    (tmp_path / "gt_sets" / "val.txt").unlink()
    with pytest.raises(DataFileError, match="missing file") as err:
        NYUDDataset(tmp_path, split="val")
    assert str(tmp_path / "gt_sets" / "val.txt") in str(err.value)


@pytest.mark.parametrize(
    ("relpath", "content", "message"),
    [
        ("depth/0002.npy", None, "missing file"),
        ("segmentation/0002.png", np.full(SIZE, 41, np.uint8), r"values \[41\] out of range"),
        ("edge/0002.png", np.full(SIZE, 128, np.uint8), r"values \[128\].*0 or 255"),
        ("depth/0002.npy", np.full(SIZE, -1.0, np.float32), "out of range"),
        ("depth/0002.npy", np.full(SIZE, np.nan, np.float32), "non-finite"),
        ("depth/0002.npy", np.ones((5, 5), np.float32), r"size \(5, 5\) differs"),
        ("images/0002.png", b"not an image", "unreadable image"),
        ("normals/0002.png", np.zeros(SIZE, np.uint8), "expected 3 channel"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, relpath: str, content, message: str):
    build_nyud(tmp_path)
    path = tmp_path / relpath
    if content is None:
        path.unlink()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif path.suffix == ".npy":
        write_npy(path, content)
    else:
        write_png(path, content)
    ds = NYUDDataset(tmp_path)
    ds.load_raw(0)  # other samples are unaffected
    with pytest.raises(DataFileError, match=message) as err:
        ds.load_raw(1)
    assert err.value.path == path and str(path) in str(err.value)
