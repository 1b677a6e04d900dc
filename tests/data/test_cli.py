"""``python -m atrc_nas.data``: show, check, and the download argument handling."""

from __future__ import annotations

import subprocess
import sys

import cv2
import pytest
from fixtures import NYUD_TRAIN, NYUD_VAL, SIZE, build_nyud

from atrc_nas.data.__main__ import main
from atrc_nas.data.visualize import GAP, HEADER, cell_size

SYNTHETIC = ["--option", "num_images=6", "--option", "image_size=[40,48]"]


def test_show_writes_png_of_expected_size(tmp_path):
    out = tmp_path / "grid.png"
    code = main(["show", "--num", "3", "--out", str(out), "--seed", "1", *SYNTHETIC])
    assert code == 0
    png = cv2.imread(str(out))
    ch, cw = cell_size((40, 48))
    columns = 1 + 4  # image, semseg, depth, normals, edge
    assert png.shape == (HEADER + 3 * ch + 2 * GAP, columns * cw + (columns - 1) * GAP, 3)


def test_show_pascal_preset_has_every_task_column(tmp_path, capsys):
    out = tmp_path / "pascal.png"
    assert (
        main(["show", "--dataset", "synthetic_pascal", "--num", "2", "--out", str(out), *SYNTHETIC])
        == 0
    )
    assert "semseg, human_parts, sal, normals, edge" in capsys.readouterr().out
    ch, cw = cell_size((40, 48))
    assert cv2.imread(str(out)).shape == (HEADER + 2 * ch + GAP, 6 * cw + 5 * GAP, 3)


def test_show_nyud_fixture(tmp_path):
    build_nyud(tmp_path, layout="NYUD_MT")
    out = tmp_path / "nyud.png"
    code = main(
        ["show", "--dataset", "nyud", "--root", str(tmp_path), "--split", "val", "--out", str(out)]
    )
    assert code == 0
    ch, cw = cell_size(SIZE)
    rows = len(NYUD_VAL)
    expected = (HEADER + rows * ch + (rows - 1) * GAP, 5 * cw + 4 * GAP, 3)
    assert cv2.imread(str(out)).shape == expected


def test_check_exit_codes(tmp_path, capsys):
    root = tmp_path
    build_nyud(root, layout="NYUD_MT")
    assert main(["check", "--dataset", "nyud", str(root)]) == 0
    assert "OK" in capsys.readouterr().out
    missing = root / "depth" / f"{NYUD_TRAIN[1]}.npy"
    corrupt = root / "edge" / f"{NYUD_VAL[0]}.npy"
    missing.unlink()
    corrupt.write_bytes(b"not an array")
    assert main(["check", "--dataset", "nyud", str(root)]) == 1
    printed = capsys.readouterr().out
    assert str(missing) in printed and str(corrupt) in printed


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    # a folder that is not there is a bad argument (2), as in every command
    assert main(["show", "--dataset", "nyud", "--root", str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["show", "--num", "0"])
    with pytest.raises(SystemExit):
        main(["show", "--option", "no_equals_sign"])
    with pytest.raises(SystemExit):
        main(["check", "--dataset", "synthetic_nyud", str(tmp_path)])


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "atrc_nas.data", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("show", "download", "check"):
        assert command in result.stdout
