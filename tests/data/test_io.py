import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atrc_nas.data.io import DataFileError, read_label_png, read_npy, read_rgb, read_split


def test_palette_png_keeps_class_indices(tmp_path: Path):
    labels = np.array([[0, 1, 2], [20, 255, 7]], np.uint8)
    img = Image.fromarray(labels, mode="P")
    img.putpalette([v for i in range(256) for v in (i * 7 % 256, i * 3 % 256, 255 - i)])
    img.save(tmp_path / "seg.png")
    np.testing.assert_array_equal(read_label_png(tmp_path / "seg.png"), labels)


def test_rgb_order(tmp_path: Path):
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0] = 200  # red
    Image.fromarray(image).save(tmp_path / "red.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "red.png"), image)


def test_errors_name_the_file_and_expectation(tmp_path: Path):
    with pytest.raises(DataFileError, match=r"missing file \(expected an RGB image\)"):
        read_rgb(tmp_path / "none.png")
    np.save(tmp_path / "a.npy", np.zeros((2, 2, 2)))
    with pytest.raises(DataFileError, match="expected 2 dimensions"):
        read_npy(tmp_path / "a.npy", ndim=2)
    np.save(tmp_path / "b.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFileError, match=r"unreadable \.npy"):
        read_npy(tmp_path / "b.npy", ndim=1)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataFileError, match="lists no sample ids") as err:
        read_split(tmp_path / "empty.txt")
    assert err.value.path == tmp_path / "empty.txt"
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value) and again.path == err.value.path


def test_read_split_skips_blank_lines(tmp_path: Path):
    (tmp_path / "s.txt").write_text("a\n\n b \nc")
    assert read_split(tmp_path / "s.txt") == ["a", "b", "c"]
