"""The JIT build: cache location, cache keys, failure reporting and concurrent first builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from atrc_nas.ops import build

CPU = build.Variant(with_cuda=False)
needs_compiler = pytest.mark.skipif(
    build.missing_tools(CPU) is not None, reason=f"cannot build: {build.missing_tools(CPU)}"
)


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(build.ENV_DIR, raising=False)
    monkeypatch.delenv("ATRC_NAS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build.cache_root() == tmp_path / "xdg" / "atrc_nas" / "extensions"
    monkeypatch.setenv("ATRC_NAS_CACHE", str(tmp_path / "project"))
    assert build.cache_root() == tmp_path / "project" / "extensions"
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path / "ext"))
    assert build.cache_root() == tmp_path / "ext"


@pytest.fixture
def sources(monkeypatch, tmp_path) -> Path:
    """A private copy of csrc/ that tests may edit."""
    copy = tmp_path / "csrc"
    shutil.copytree(build.sources_dir(), copy)
    monkeypatch.setattr(build, "sources_dir", lambda: copy)
    return copy


def test_name_hashes_sources_and_flags(sources, monkeypatch):
    name = build.extension_name(CPU)
    assert name.startswith("atrc_local_attention_cpu_")
    assert build.extension_name(CPU) == name
    assert build.extension_name(build.Variant(with_cuda=True)) != name
    monkeypatch.setattr(build, "CFLAGS", (*build.CFLAGS, "-DEXTRA"))
    flagged = build.extension_name(CPU)
    assert flagged != name
    header = sources / "local_attention_dims.h"
    header.write_text(header.read_text() + "\n// edited\n")
    assert build.extension_name(CPU) not in (name, flagged)


def test_every_source_file_is_hashed():
    listed = set(build.CPU_FILES) | set(build.CUDA_FILES)
    assert {p.name for p in build.sources_dir().iterdir() if p.is_file()} == listed


def test_missing_source_is_named(sources):
    (sources / "local_attention_cpu.cpp").unlink()
    with pytest.raises(build.BuildUnavailable, match=r"local_attention_cpu\.cpp is missing"):
        build.extension_name(CPU)


@needs_compiler
def test_failed_build_is_reported_with_its_log(sources, monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path / "cache"))
    cpp = sources / "local_attention_cpu.cpp"
    cpp.write_text('#error "deliberately broken"\n')
    with pytest.raises(build.BuildUnavailable, match="failed \\(log: ") as info:
        build.load_variant(CPU)
    log = Path(str(info.value).split("log: ")[1].rstrip(")"))
    assert "deliberately broken" in log.read_text()
    assert not (log.parent / "BUILD_OK").exists()


_BUILD_AND_RUN = """
import sys, torch
from atrc_nas.ops import build
from atrc_nas.ops.library import forward_op
result = build.load_variant(build.Variant(with_cuda=False))
torch.manual_seed(0)
q, k, v = torch.randn(3, 1, 2, 5, 6)
out, _ = forward_op(q, k, v, 3, 1)
print("built" if result.built else "loaded", f"{out.sum().item():.6f}")
"""


@pytest.mark.slow
@needs_compiler
def test_two_processes_build_once_and_agree(tmp_path):
    env = {**os.environ, build.ENV_DIR: str(tmp_path)}
    name = build.extension_name(CPU)
    # A baton left behind by a killed build must not block the next one.
    (tmp_path / name).mkdir()
    (tmp_path / name / "lock").write_text("")
    procs = [
        subprocess.Popen([sys.executable, "-c", _BUILD_AND_RUN], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    lines = sorted(out.split()[0] for out, _ in results)
    sums = {out.split()[1] for out, _ in results}
    assert lines == ["built", "loaded"]
    assert len(sums) == 1
    assert (tmp_path / name / "BUILD_OK").is_file()
    assert (tmp_path / name / f"{name}.so").is_file()
