import json
import os
import stat

import pytest

from atrc_nas import fileio


def test_atomic_json_round_trip_and_mode(tmp_path):
    path = fileio.atomic_write_json(tmp_path / "a" / "b.json", {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = fileio.atomic_write_text(tmp_path / "f.txt", "old")

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        fileio.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
