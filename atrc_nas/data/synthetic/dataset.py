"""``SyntheticDataset``: rendered room scenes with labels for every task, cached on disk.

Image ``i`` of a split is drawn from ``numpy.random.default_rng([seed, split, i])``, so it
is the same whatever ``num_images`` is, and "train" and "test" never share a scene. The
first construction renders the missing images (on a small process pool, with a progress
bar) into ``<root>/synthetic/<preset>_<H>x<W>_s<seed>_<split>_v<VERSION>[_local]/<id>.npz``;
later ones only read. Files are written to a temporary name and renamed, so readers never
see a partial file and two processes rendering the same folder at once are harmless. A
file that does not load is rendered again, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field
from tqdm import tqdm

from atrc_nas.data.spec import DatasetSpec
from atrc_nas.data.synthetic.render import render
from atrc_nas.data.synthetic.scene import CLASS_NAMES, PART_NAMES, sample_scene
from atrc_nas.fileio import atomic_write_bytes

VERSION = 1  # bump whenever a change to the scenes or the renderer changes the images
PRESETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec(name="synthetic_nyud", tasks=("semseg", "depth", "normals", "edge"),
                num_classes={"semseg": len(CLASS_NAMES)}, crop_size=(128, 160),
                edge_pos_weight=0.8, boundary_tolerance=0.011, lr=0.01),
    DatasetSpec(name="synthetic_pascal", tasks=("semseg", "human_parts", "sal", "normals", "edge"),
                num_classes={"semseg": len(CLASS_NAMES), "human_parts": len(PART_NAMES), "sal": 2},
                crop_size=(128, 160), edge_pos_weight=0.95, boundary_tolerance=0.0075, lr=0.005),
)}
"""The synthetic datasets (nyud-like and pascal-like task sets of the same scenes)."""
SPLITS = {"train": 0, "test": 1}  # split -> random stream, keeps the splits disjoint
DEFAULT_NUM_IMAGES = {"train": 800, "test": 200}
PROGRESS_MIN_IMAGES = 50  # show a progress bar when rendering at least this many
POOL_MIN_IMAGES = 16  # render on a process pool from this many missing images


def cache_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$ATRC_NAS_CACHE``, else ``~/.cache/atrc_nas``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ATRC_NAS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "atrc_nas"


def render_sample(seed: int, split: str, index: int, image_size: tuple[int, int],
                  local_structure: bool = False) -> dict[str, np.ndarray]:
    """The image and all six labels of one sample, without any cache."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    return render(sample_scene(rng, local_structure), image_size, rng)


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as a compressed .npz, atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


# (file, seed, split, index, image size, local structure, tasks stored)
_Job = tuple[Path, int, str, int, tuple[int, int], bool, tuple[str, ...]]


def _render_to(job: _Job) -> None:
    path, seed, split, index, size, local, keys = job
    sample = render_sample(seed, split, index, size, local)
    _save(path, {k: sample[k] for k in ("image", *keys)})


class SyntheticDataset:
    """Rendered scenes for a synthetic preset of ``atrc_nas.data.spec.DATASETS``.

    ``spec_name`` is "synthetic_nyud" (semseg, depth, normals, edge) or
    "synthetic_pascal" (semseg, human_parts, sal, normals, edge); ``tasks`` picks a subset.
    ``local_structure`` adds fine relief and relief-only classes (see ``scene.sample_scene``).
    ``num_workers`` processes render missing images (default: up to 2).
    """

    def __init__(
        self,
        spec_name: str = "synthetic_nyud",
        split: str = "train",
        root: str | Path | None = None,
        num_images: Annotated[int, Field(ge=0)] | None = None,
        image_size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (128, 160),
        seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0,
        tasks: Sequence[str] | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        local_structure: bool = False,
        num_workers: Annotated[int, Field(ge=0)] | None = None,
    ) -> None:
        if spec_name not in PRESETS:
            raise KeyError(f"unknown synthetic preset {spec_name!r}; known: {', '.join(PRESETS)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        height, width = (int(s) for s in image_size)
        if height < 1 or width < 1:
            raise ValueError(f"image_size must be positive (H, W), got {image_size}")
        preset = PRESETS[spec_name]
        self.spec: DatasetSpec = preset.with_tasks(preset.tasks if tasks is None else list(tasks))
        self.split, self.seed, self.local_structure = split, seed, local_structure
        self.image_size = (height, width)
        self.transform = transform
        self._stored_tasks = preset.tasks
        n = DEFAULT_NUM_IMAGES[split] if num_images is None else int(num_images)
        if n < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}")
        self.ids = [f"{split}_{i:05d}" for i in range(n)]
        suffix = "_local" if local_structure else ""
        self.directory = (cache_root(root) / "synthetic" /
                          f"{spec_name}_{height}x{width}_s{seed}_{split}_v{VERSION}{suffix}")
        self._generate_missing(num_workers)

    def __len__(self) -> int:
        return len(self.ids)

    def content_fingerprint(self, cache_dir: Path | None = None) -> str:
        """A hash of the generator's settings, which fix every image and label."""
        settings = [VERSION, self.spec.name, self.split, self.image_size, self.seed,
                    self.local_structure, len(self.ids)]
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()

    def path(self, index: int) -> Path:
        """The cache file of sample ``index``."""
        return self.directory / f"{self.ids[index]}.npz"

    def _job(self, index: int) -> _Job:
        return (self.path(index), self.seed, self.split, index, self.image_size,
                self.local_structure, self._stored_tasks)

    def _generate_missing(self, num_workers: int | None) -> None:
        missing = [i for i in range(len(self)) if not self.path(i).is_file()]
        if not missing:
            return
        workers = min(2, os.cpu_count() or 1) if num_workers is None else num_workers
        jobs = [self._job(i) for i in missing]
        bar = tqdm(total=len(jobs), desc=f"rendering {self.directory.name}", unit="img",
                   disable=len(jobs) < PROGRESS_MIN_IMAGES)
        with bar:
            if workers > 1 and len(jobs) >= POOL_MIN_IMAGES:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    for _ in pool.map(_render_to, jobs, chunksize=8):
                        bar.update()
            else:
                for job in jobs:
                    _render_to(job)
                    bar.update()

    def _read(self, index: int) -> dict[str, np.ndarray]:
        path = self.path(index)
        expected = ("image", *self._stored_tasks)
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in expected}
            if arrays["image"].shape != (*self.image_size, 3):
                raise ValueError(f"image shape {arrays['image'].shape}, "
                                 f"expected {(*self.image_size, 3)}")
            return arrays
        except Exception as err:  # any unreadable or incomplete file is rendered again
            warnings.warn(f"{path}: unreadable synthetic sample ({err}); rendering it again",
                          RuntimeWarning, stacklevel=3)
            _render_to(self._job(index))
            with np.load(path) as data:
                return {k: data[k] for k in expected}

    def load_raw(self, index: int) -> dict[str, Any]:
        """The raw sample of ``docs/conventions.md``: image, the chosen tasks' labels, meta."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} synthetic images")
        index %= len(self)
        arrays = self._read(index)
        sample: dict[str, Any] = {"image": arrays["image"]}
        sample.update((task, arrays[task]) for task in self.spec.tasks)
        sample["meta"] = {"id": self.ids[index], "size": self.image_size,
                          "dataset": self.spec.name}
        return sample

    def __getitem__(self, index: int) -> Any:
        raw = self.load_raw(index)
        return self.transform(raw) if self.transform is not None else raw
