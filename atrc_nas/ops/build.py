"""JIT build of the local-attention extension into a cache folder shared by every process.

A build lives in ``<cache>/<name>/`` where ``name`` hashes the sources, the torch and Python
versions, the compiler flags and (because of ``-march=native``) the CPU's instruction sets, so
a changed input never loads a stale library. The first process to need a build takes an
exclusive ``fcntl`` lock, compiles with ninja and writes a marker; every other process, then
or later, waits on the lock or sees the marker and only loads the library (no compiler needed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from atrc_nas.resources import CSRC, resource_dir

ENV_DIR = "ATRC_NAS_EXT_DIR"


def sources_dir() -> Path:
    """The extension's sources (``csrc/``, shipped with the package)."""
    return resource_dir(CSRC)

CPU_FILES = (
    "local_attention_dims.h",
    "local_attention_common.h",
    "local_attention_cpu_kernels.h",
    "local_attention_cpu.cpp",
    "boundary_counts_cpu.cpp",
)
CUDA_FILES = (
    "local_attention_cuda.h",
    "local_attention_cuda.cu",
    "local_attention_cuda_binding.cpp",
)
# -fopenmp: at::parallel_for is inline and runs serially unless the extension itself is
# compiled with OpenMP; the library then shares torch's libgomp (same soname).
CFLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fopenmp")
LDFLAGS = ("-fopenmp",)
CUDA_CFLAGS = ("-O3",)
_MARKER = "BUILD_OK"
_ERROR_LOG = "build_error.log"


class BuildUnavailable(RuntimeError):
    """The extension cannot be built or loaded here; the message says why."""


@dataclass(frozen=True)
class Variant:
    """One way to build the extension: CPU kernels only, or CPU and CUDA kernels."""

    with_cuda: bool

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the build reads (hashed into its name)."""
        return CPU_FILES + (CUDA_FILES if self.with_cuda else ())

    @property
    def sources(self) -> tuple[str, ...]:
        """The files compiled, as opposed to included."""
        return tuple(f for f in self.files if f.endswith((".cpp", ".cu")))

    @property
    def devices(self) -> tuple[str, ...]:
        return ("cpu", "cuda") if self.with_cuda else ("cpu",)


@dataclass(frozen=True)
class LoadResult:
    library: Path
    devices: tuple[str, ...]
    built: bool  # False when a cached build was loaded
    seconds: float


def cache_root() -> Path:
    """``$ATRC_NAS_EXT_DIR``, else ``extensions/`` under the project cache (``$ATRC_NAS_CACHE``,
    else ``$XDG_CACHE_HOME/atrc_nas``, else ``~/.cache/atrc_nas``)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override).expanduser()
    project = os.environ.get("ATRC_NAS_CACHE")
    if project:
        return Path(project).expanduser() / "extensions"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "atrc_nas" / "extensions"


def _cpu_isa() -> str:
    """The CPU's instruction-set flags (what ``-march=native`` compiles for)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    return platform.machine() + platform.processor()


def wanted_variants() -> list[Variant]:
    """CUDA kernels first when this torch has a usable GPU, CPU kernels always as a fallback."""
    if torch.cuda.is_available() and torch.version.cuda is not None:
        return [Variant(with_cuda=True), Variant(with_cuda=False)]
    return [Variant(with_cuda=False)]


def extension_name(variant: Variant) -> str:
    """Name (and cache folder) of the build: a hash of everything that shapes the library."""
    digest = hashlib.sha256()
    for src in variant.files:
        path = sources_dir() / src
        if not path.is_file():
            raise BuildUnavailable(f"extension source {path} is missing")
        digest.update(src.encode() + b"\0" + path.read_bytes())
    meta = (torch.__version__, str(torch.version.cuda), sys.implementation.cache_tag,
            " ".join(CFLAGS), " ".join(LDFLAGS),
            " ".join(CUDA_CFLAGS) if variant.with_cuda else "", _cpu_isa())
    digest.update("\0".join(meta).encode())
    kind = "cuda" if variant.with_cuda else "cpu"
    return f"atrc_local_attention_{kind}_{digest.hexdigest()[:16]}"


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def missing_tools(variant: Variant) -> str | None:
    """Why ``variant`` cannot be compiled here (compiler, ninja, CUDA), or None."""
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler!r} is not on PATH; set CXX)"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if variant.with_cuda and cpp_extension.CUDA_HOME is None:
        return "CUDA_HOME is not set and nvcc was not found"
    return None


def _compile(variant: Variant, name: str, build_dir: Path, verbose: bool) -> None:
    from torch.utils import cpp_extension

    missing = missing_tools(variant)
    if missing:
        raise BuildUnavailable(missing)
    # A baton left by a killed ninja run would block torch's builder forever; the
    # exclusive lock proves that no other builder is alive.
    (build_dir / "lock").unlink(missing_ok=True)
    try:
        cpp_extension.load(
            name=name,
            sources=[str(sources_dir() / s) for s in variant.sources],
            extra_cflags=list(CFLAGS),
            extra_cuda_cflags=list(CUDA_CFLAGS) if variant.with_cuda else None,
            extra_ldflags=list(LDFLAGS),
            extra_include_paths=[str(sources_dir())],
            build_directory=str(build_dir),
            with_cuda=variant.with_cuda,
            is_python_module=False,
            verbose=verbose,
        )
    except (RuntimeError, OSError, ImportError) as exc:
        log = build_dir / _ERROR_LOG
        log.write_text(str(exc))
        raise BuildUnavailable(f"building {name} failed (log: {log})") from exc


def load_variant(variant: Variant, verbose: bool = False) -> LoadResult:
    """Loads the cached build of ``variant``, compiling it first if no process has yet."""
    start = time.perf_counter()
    name = extension_name(variant)
    root = cache_root()
    build_dir = root / name
    library = build_dir / f"{name}.so"  # what torch's builder links
    built = False
    if not (build_dir / _MARKER).is_file():
        with _exclusive(root / f"{name}.lock"):
            if not (build_dir / _MARKER).is_file():
                build_dir.mkdir(parents=True, exist_ok=True)
                _compile(variant, name, build_dir, verbose)
                (build_dir / _MARKER).write_text(f"{library}\n")
                built = True
    if not built:
        try:
            torch.ops.load_library(str(library))
        except OSError as exc:
            raise BuildUnavailable(f"loading {library} failed: {exc}") from exc
    return LoadResult(library, variant.devices, built, time.perf_counter() - start)


def load(verbose: bool = False) -> tuple[LoadResult, list[str]]:
    """Loads the best variant that works; also returns why better variants did not."""
    failures: list[str] = []
    for variant in wanted_variants():
        try:
            return load_variant(variant, verbose), failures
        except BuildUnavailable as exc:
            failures.append(f"{'+'.join(variant.devices)}: {exc}")
    raise BuildUnavailable("; ".join(failures))
