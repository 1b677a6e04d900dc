from pathlib import Path

import numpy as np
import pytest
from fixtures import NYUD_VAL, PASCAL_TRAIN, SIZE, build_nyud, build_pascal, write_png

from atrc_nas.data.check import check_dataset


@pytest.mark.parametrize("layout", ["NYUDv2", "NYUD_MT"])
def test_complete_nyud_has_no_problems(tmp_path: Path, layout: str):
    build_nyud(tmp_path, layout=layout)
    assert check_dataset("nyud", tmp_path) == []


def test_complete_pascal_has_no_problems(tmp_path: Path):
    build_pascal(tmp_path)
    assert check_dataset("pascal", tmp_path) == []


def test_every_broken_nyud_file_is_reported_once(tmp_path: Path):
    build_nyud(tmp_path)
    missing = tmp_path / "depth" / "0001.npy"
    missing.unlink()
    corrupt = tmp_path / "images" / "0002.png"
    corrupt.write_bytes(b"garbage")
    out_of_range = tmp_path / "segmentation" / f"{NYUD_VAL[0]}.png"
    write_png(out_of_range, np.full(SIZE, 77, np.uint8))
    wrong_size = tmp_path / "edge" / "0003.png"
    write_png(wrong_size, np.zeros((4, 4), np.uint8))
    with (tmp_path / "gt_sets" / "train.txt").open("a") as f:
        f.write("0001\n9999\n")

    problems = check_dataset("nyud", tmp_path)

    def reported(path: Path, words: str) -> bool:
        return any(p.startswith(str(path)) and words in p for p in problems)

    assert reported(missing, "missing file")
    assert reported(corrupt, "unreadable image")
    assert reported(out_of_range, "[77] out of range")
    assert reported(wrong_size, "differs")
    assert reported(tmp_path / "gt_sets" / "train.txt", "more than once: ['0001']")
    for folder, suffix in [("images", ".png"), ("segmentation", ".png"), ("depth", ".npy")]:
        assert reported(tmp_path / folder / f"9999{suffix}", "missing file")
    # the valid labels of the sample with the unreadable image raise nothing
    assert not any("0002" in p and "images" not in p for p in problems)
    assert len(problems) == len(set(problems)) == 5 + 5


def test_missing_split_file_and_root(tmp_path: Path):
    build_pascal(tmp_path)
    split = tmp_path / "ImageSets" / "Context" / "val.txt"
    split.unlink()
    problems = check_dataset("pascal", tmp_path)
    assert problems == [
        f"{split}: missing file (expected a split file with one sample id per line)"
    ]
    problems = check_dataset("pascal", tmp_path / "absent")
    assert len(problems) == 1 and "dataset folder not found" in problems[0]


def test_broken_pascal_files(tmp_path: Path):
    build_pascal(tmp_path)
    sample_id = PASCAL_TRAIN[2]
    label_map = tmp_path / "pascal-context" / "trainval" / f"{sample_id}.mat"
    label_map.write_bytes(b"MATLAB 5.0 MAT-file but not really")
    (tmp_path / "sal_distill" / f"{sample_id}.png").unlink()
    problems = check_dataset("pascal", tmp_path)
    # edge and normals both need the context map: one line for it
    assert len(problems) == 2
    assert {p.split(": ")[0] for p in problems} == {
        str(label_map),
        str(tmp_path / "sal_distill" / f"{sample_id}.png"),
    }


def test_unknown_dataset_name(tmp_path: Path):
    with pytest.raises(KeyError, match="checkable datasets: nyud, pascal"):
        check_dataset("cityscapes", tmp_path)
