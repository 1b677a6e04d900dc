"""Content fingerprints of datasets: what a result was computed on.

A folder dataset's fingerprint hashes the bytes of every file of its split (the split
list and each file named after one of its samples); each file's hash is cached by path,
size and modification time (``<cache>/fingerprints.json``), so a second look costs a
``stat`` per file. A generated dataset's fingerprint is its generator's settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from atrc_nas.fileio import atomic_write_json

CACHE_FILE = "fingerprints.json"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_digest(files: Iterable[Path], cache_dir: Path) -> str:
    """One hash over the contents (and relative order) of ``files``, with a per-file cache."""
    cache_path = cache_dir / CACHE_FILE
    try:
        cache: dict[str, Any] = json.loads(cache_path.read_text())
    except (OSError, json.JSONDecodeError):
        cache = {}
    total = hashlib.sha256()
    changed = False
    for path in files:
        stat = os.stat(path)
        key = str(path.resolve())
        entry = cache.get(key)
        if entry is None or entry["size"] != stat.st_size or entry["mtime"] != stat.st_mtime_ns:
            entry = {"size": stat.st_size, "mtime": stat.st_mtime_ns, "sha256": file_digest(path)}
            cache[key] = entry
            changed = True
        total.update(f"{path.name}:{entry['sha256']}\n".encode())
    if changed:
        atomic_write_json(cache_path, cache)
    return total.hexdigest()


def folder_files(root: Path, ids: Iterable[str], extra: Iterable[Path] = ()) -> list[Path]:
    """The files under ``root`` named after one of ``ids`` (any folder, any suffix), plus
    ``extra`` (e.g. the split list), in a stable order."""
    wanted = set(ids)
    found = [p for p in root.rglob("*") if p.is_file() and p.stem in wanted]
    return sorted({*found, *extra}, key=lambda p: p.relative_to(root).as_posix()
                  if p.is_relative_to(root) else p.as_posix())
