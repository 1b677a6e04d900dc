"""The wheel: built from the repository, installed into a fresh virtual environment outside
the source tree, it carries its search spaces and the extension's sources and runs."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import sys, pathlib
import atrc_nas
from atrc_nas.resources import resource_dir
from atrc_nas.search.space_io import load_space, shipped_spaces
from atrc_nas.data.registry import get_dataset_spec
root = pathlib.Path(atrc_nas.__file__).parent
assert not str(root).startswith(sys.argv[1]), root  # not the source tree
for folder in ("csrc", "search_spaces"):
    assert resource_dir(folder).is_relative_to(root), folder
names = shipped_spaces()
assert {"atrc", "atrc_wide"} <= set(names), names
for name in names:
    load_space(name).build(get_dataset_spec("nyud").tasks)
from atrc_nas.ops import build
result = build.load_variant(build.Variant(with_cuda=False))
print("spaces", ",".join(names), "extension", result.library)
"""


@pytest.mark.slow
def test_the_wheel_installs_and_runs_outside_the_source_tree(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", str(REPO), "-w", str(wheels)], check=True, capture_output=True)
    (wheel,) = wheels.glob("atrc_nas-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    # the dependencies (torch, Ray, ...) come from this environment, after the venv's own
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # the suite's extension cache: the wheel's sources hash alike, so a build is loaded
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run([str(python), "-c", CHECK, str(REPO)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "spaces atrc,atrc_wide" in done.stdout
    assert Path(done.stdout.split("extension ")[-1].strip()).is_file()
    launch = subprocess.run([str(python), "-m", "atrc_nas.launch", "--help"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert launch.returncode == 0 and "--dry-run" in launch.stdout, launch.stderr
