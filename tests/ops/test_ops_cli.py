"""``python -m atrc_nas.ops build`` and ``info``."""

from __future__ import annotations

import pytest

from atrc_nas.ops import backend
from atrc_nas.ops.__main__ import main


@pytest.mark.usefixtures("compiled")
def test_build_reports_the_library(capsys):
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cpu") and "already built" in out and ".so" in out


@pytest.mark.usefixtures("compiled")
def test_info_names_the_backend_and_why(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"{backend.ENV_BACKEND}:" in out
    assert "backend: cpp (" in out
    assert "cpu: compiled extension" in out


def test_unknown_command_exits(capsys):
    with pytest.raises(SystemExit):
        main(["compile"])
    assert "invalid choice" in capsys.readouterr().err
