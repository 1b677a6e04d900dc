from pathlib import Path

import numpy as np
import pytest
from fixtures import (
    PASCAL_TRAIN,
    PASCAL_VAL,
    SIZE,
    box,
    build_pascal,
    write_anno,
    write_mat,
    write_png,
)

from atrc_nas.boundary_maps import edges_from_label_map, seg2bmap
from atrc_nas.data.collate import collate
from atrc_nas.data.io import DataFileError
from atrc_nas.data.pascal import NORMALS_VALID_CLASSES, PART_GROUPS, PascalContextDataset
from atrc_nas.data.transforms import eval_transform, train_transform
from atrc_nas.tasks import EDGE_BOUNDARY_GT


def test_labels_decoded(tmp_path: Path):
    expected = build_pascal(tmp_path)
    ds = PascalContextDataset(tmp_path, split="train")
    assert ds.ids == list(PASCAL_TRAIN)
    assert ds.spec.tasks == ("semseg", "human_parts", "sal", "normals", "edge")
    for i, sample_id in enumerate(PASCAL_TRAIN):
        sample, want = ds.load_raw(i), expected[sample_id]
        assert sample["meta"] == {"id": sample_id, "size": SIZE, "dataset": "pascal"}
        assert np.abs(sample["image"].astype(int) - want["image"]).max() <= 6  # JPEG
        for task in ("semseg", "human_parts", "sal"):
            assert sample[task].dtype == np.uint8, task
            np.testing.assert_array_equal(sample[task], want[task], err_msg=task)
        assert sample["normals"].dtype == np.float32
        np.testing.assert_allclose(sample["normals"], want["normals"], atol=1e-6)
        assert sample["edge"].dtype == np.float32 and sample["edge"].shape == SIZE
        np.testing.assert_array_equal(sample["edge"], edges_from_label_map(want["label_map"]))
    assert PascalContextDataset(tmp_path, split="val").ids == list(PASCAL_VAL)


def test_samples_carry_seg2bmap_boundaries_for_evaluation(tmp_path: Path):
    expected = build_pascal(tmp_path)
    ds = PascalContextDataset(tmp_path, split="val")
    assert ds.spec.eval_targets == (EDGE_BOUNDARY_GT,)
    assert ds.spec.boundary_ground_truth == "seg2bmap"
    sample = ds.load_raw(0)
    label_map = expected[PASCAL_VAL[0]]["label_map"]
    boundary = sample[EDGE_BOUNDARY_GT]
    assert boundary.dtype == np.float32 and boundary.shape == SIZE
    np.testing.assert_array_equal(boundary, seg2bmap(label_map))
    assert (boundary != sample["edge"]).any()  # not the training label
    assert EDGE_BOUNDARY_GT not in PascalContextDataset(tmp_path, tasks=["sal"]).load_raw(0)


def test_boundary_target_is_padded_like_a_label_and_dropped_for_training(tmp_path: Path):
    build_pascal(tmp_path)
    ds = PascalContextDataset(tmp_path, split="train", tasks=["semseg", "edge"])
    raw = [ds.load_raw(i) for i in range(2)]
    pad = (SIZE[0] + 8, SIZE[1] + 6)
    batch = collate([eval_transform(ds.spec, pad)(s, np.random.default_rng(0)) for s in raw])
    assert batch[EDGE_BOUNDARY_GT].shape == (2, 1, *pad)
    assert batch[EDGE_BOUNDARY_GT].dtype == batch["edge"].dtype
    top, left, h, w = batch["meta"][0]["pad"]
    inside = batch[EDGE_BOUNDARY_GT][0, 0, top:top + h, left:left + w]
    np.testing.assert_array_equal(inside.numpy(), raw[0][EDGE_BOUNDARY_GT])
    outside = batch[EDGE_BOUNDARY_GT][0, 0].clone()
    outside[top:top + h, left:left + w] = 255
    assert (outside == 255).all()  # padding is ignore, as for the edge label
    train = train_transform(ds.spec, SIZE)(raw[0], np.random.default_rng(0))
    assert EDGE_BOUNDARY_GT not in train and "edge" in train


def test_human_part_groups():
    heads = {"hair", "head", "leye", "reye", "lear", "rear", "lebrow", "rebrow", "nose", "mouth"}
    groups = [
        heads,
        {"torso", "neck"},
        {"luarm", "ruarm"},
        {"llarm", "rlarm", "lhand", "rhand"},
        {"luleg", "ruleg"},
        {"llleg", "rlleg", "lfoot", "rfoot"},
    ]
    assert {name: k + 1 for k, names in enumerate(groups) for name in names} == PART_GROUPS


def test_only_persons_with_parts_are_painted(tmp_path: Path):
    expected = build_pascal(tmp_path)
    parts = PascalContextDataset(tmp_path, tasks=["human_parts"]).load_raw(0)["human_parts"]
    assert set(np.unique(parts)) == set(range(7))
    assert (parts[:8, 24:] == 0).all()  # the dog's head stays background
    assert (parts[20:, 20:] == 0).all()  # so does the person without parts
    np.testing.assert_array_equal(parts, expected[PASCAL_TRAIN[0]]["human_parts"])


def test_single_object_and_single_part(tmp_path: Path):
    build_pascal(tmp_path)
    path = tmp_path / "human_parts" / f"{PASCAL_TRAIN[1]}.mat"
    write_anno(
        path, "x", [("person", 15, box(SIZE, 0, 0, 9, 9), [("rfoot", box(SIZE, 1, 1, 3, 3))])]
    )
    parts = PascalContextDataset(tmp_path, tasks=["human_parts"]).load_raw(1)["human_parts"]
    np.testing.assert_array_equal(parts, 6 * box(SIZE, 1, 1, 3, 3))


def test_normals_only_on_context_classes_known_to_nyud(tmp_path: Path):
    expected = build_pascal(tmp_path)
    normals = PascalContextDataset(tmp_path, tasks=["normals"]).load_raw(0)["normals"]
    label_map = expected[PASCAL_TRAIN[0]]["label_map"]
    invalid = np.isin(label_map, (0, 360))
    assert (normals[invalid] == 0).all()
    assert (np.abs(normals[~invalid]).sum(axis=-1) > 0).all()
    assert len(NORMALS_VALID_CLASSES) == 170 and len(set(NORMALS_VALID_CLASSES.tolist())) == 170
    # wall, person, table, tvmonitor (added by hand) in; sky, unknown, grass out
    assert {440, 284, 397, 427} <= set(NORMALS_VALID_CLASSES.tolist())
    assert not {360, 431, 187, 0} & set(NORMALS_VALID_CLASSES.tolist())


def test_semseg_falls_back_and_missing_names_both_places(tmp_path: Path):
    build_pascal(tmp_path)
    sample_id = PASCAL_TRAIN[1]
    (tmp_path / "semseg" / "pascal-context" / f"{sample_id}.png").unlink()
    with pytest.raises(DataFileError, match="missing file") as err:
        PascalContextDataset(tmp_path, tasks=["semseg"]).load_raw(1)
    assert "VOC12" in str(err.value) and "pascal-context" in str(err.value)


@pytest.mark.parametrize(
    ("relpath", "write", "message"),
    [
        ("human_parts/{}.mat", None, "missing file"),
        ("pascal-context/trainval/{}.mat", None, "missing file"),
        ("semseg/pascal-context/{}.png", np.full(SIZE, 21, np.uint8), r"\[21\] out of range"),
        ("pascal-context/trainval/{}.mat", {"Labels": np.zeros(SIZE)}, "no variable 'LabelMap'"),
        ("pascal-context/trainval/{}.mat", {"LabelMap": np.full(SIZE, 460)}, r"\[460\]"),
        ("pascal-context/trainval/{}.mat", {"LabelMap": np.zeros((4, 4), int)}, "differs"),
        ("human_parts/{}.mat", {"anno": np.zeros(3)}, "not a Pascal-Part annotation"),
        ("sal_distill/{}.png", np.zeros((5, 5), np.uint8), r"size \(5, 5\) differs"),
        ("JPEGImages/{}.jpg", b"\xff\xd8 broken", "unreadable image"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, relpath: str, write, message: str):
    build_pascal(tmp_path)
    path = tmp_path / relpath.format(PASCAL_TRAIN[1])
    if write is None:
        path.unlink()
    elif isinstance(write, bytes):
        path.write_bytes(write)
    elif isinstance(write, dict):
        write_mat(path, write)
    else:
        write_png(path, write)
    ds = PascalContextDataset(tmp_path)
    ds.load_raw(0)
    with pytest.raises(DataFileError, match=message) as err:
        ds.load_raw(1)
    assert err.value.path == path


def test_unknown_part_name_is_named(tmp_path: Path):
    build_pascal(tmp_path)
    path = tmp_path / "human_parts" / f"{PASCAL_TRAIN[1]}.mat"
    write_anno(
        path, "x", [("person", 15, box(SIZE, 0, 0, 5, 5), [("tail", box(SIZE, 0, 0, 2, 2))])]
    )
    with pytest.raises(DataFileError, match="unknown person part 'tail'") as err:
        PascalContextDataset(tmp_path, tasks=["human_parts"]).load_raw(1)
    assert err.value.path == path


def test_unknown_task(tmp_path: Path):
    build_pascal(tmp_path)
    with pytest.raises(KeyError, match=r"no task\(s\) \['depth'\]"):
        PascalContextDataset(tmp_path, tasks=["depth"])
