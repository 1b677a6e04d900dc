"""The reference augmentation pipeline as small composable steps on raw samples.

A step is a callable ``step(sample, rng) -> sample`` taking a raw sample (see
docs/conventions.md) and a ``numpy.random.Generator``; it returns a new dict and never
mutates its input. Which keys are labels, how they are resized and which value pads them
come from the task registry; the only per-task code is the geometric meaning of a label
(depth shrinks when the image is enlarged, normals' x flips with the image), kept in
``GEOMETRY``. Evaluation targets (``atrc_nas.tasks.EVAL_TARGETS``) follow the rules of
their task's label; the training pipeline drops them first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from atrc_nas.data.io import Sample
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.tasks import EVAL_TARGETS, IGNORE_INDEX, TASKS, TaskSpec, label_task

Step = Callable[[Sample, np.random.Generator], Sample]

_CV2_INTERPOLATION = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def _rescale_depth(depth: np.ndarray, scale: float) -> np.ndarray:
    """Enlarging the image by ``scale`` brings the scene ``scale`` times closer."""
    valid = (depth > 0) & (depth != IGNORE_INDEX)
    return np.where(valid, depth / np.float32(scale), depth).astype(depth.dtype)


def _mirror_normals(normals: np.ndarray) -> np.ndarray:
    """A horizontal mirror negates the x component of every valid normal."""
    out = normals.copy()
    valid = (normals != IGNORE_INDEX).all(axis=-1)
    out[..., 0] = np.where(valid, -normals[..., 0], normals[..., 0])
    return out


@dataclass(frozen=True)
class Geometry:
    """Per-task hooks for labels whose values carry geometric meaning."""

    rescale: Callable[[np.ndarray, float], np.ndarray] | None = None
    mirror: Callable[[np.ndarray], np.ndarray] | None = None
    pad_value: float | None = None  # None: the task's ignore value


GEOMETRY: dict[str, Geometry] = {
    "depth": Geometry(rescale=_rescale_depth, pad_value=0.0),
    "normals": Geometry(mirror=_mirror_normals),
}
_NO_GEOMETRY = Geometry()


def pad_value(key: str) -> float:
    """The value that padding writes into a label (depth 0, else the ignore value); ``key``
    is a task or an evaluation target."""
    task = label_task(key)
    if task is None:
        raise KeyError(f"{key!r} is neither a task nor an evaluation target")
    geometry = GEOMETRY.get(task.name, _NO_GEOMETRY)
    return task.ignore_value if geometry.pad_value is None else geometry.pad_value


def label_items(sample: Sample) -> Iterator[tuple[str, TaskSpec]]:
    """The label entries of a sample: every key that names a registered task or an
    evaluation target, with the task whose rules apply to it."""
    for key in sample:
        task = label_task(key)
        if task is not None:
            yield key, task


def _map_arrays(
    sample: Sample,
    image_fn: Callable[[np.ndarray], np.ndarray],
    label_fn: Callable[[str, TaskSpec, np.ndarray], np.ndarray],
) -> Sample:
    out = dict(sample)
    out["image"] = image_fn(sample["image"])
    for name, task in label_items(sample):
        out[name] = label_fn(name, task, sample[name])
    return out


class Compose:
    """Run steps in order with one generator.

    Pass ``rng`` for reproducible augmentation (the data module seeds one per sample from
    (seed, epoch, index)). Without it a generator is seeded from OS entropy on each call,
    so that loader workers holding copies of the pipeline never repeat each other.
    """

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        rng = np.random.default_rng() if rng is None else rng
        for step in self.steps:
            sample = step(sample, rng)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"


@dataclass(frozen=True)
class RandomScale:
    """Resize by a factor drawn from U[low, high]: linear for the image, the task's
    interpolation for labels, then each task's geometric rescale hook."""

    scale_range: tuple[float, float] = (0.5, 2.0)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        scale = float(rng.uniform(*self.scale_range))
        h, w = sample["image"].shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 wants (W, H)

        def resize_label(name: str, task: TaskSpec, label: np.ndarray) -> np.ndarray:
            out = cv2.resize(label, size, interpolation=_CV2_INTERPOLATION[task.interpolation])
            hook = GEOMETRY.get(task.name, _NO_GEOMETRY).rescale
            return out if hook is None else hook(out, scale)

        return _map_arrays(
            sample,
            lambda img: cv2.resize(img, size, interpolation=cv2.INTER_LINEAR),
            resize_label,
        )


def _class_balanced(label: np.ndarray, max_ratio: float, ignore: int) -> bool:
    """True when the crop holds more than one class and none covers ``max_ratio`` or more
    of its non-ignored pixels."""
    counts = np.bincount(label[label != ignore].ravel().astype(np.int64))
    counts = counts[counts > 0]
    return counts.size > 1 and counts.max() / counts.sum() < max_ratio


@dataclass(frozen=True)
class RandomCrop:
    """Crop to ``size`` (H, W) at a random position (the whole extent where the image is
    smaller; padding follows later). Up to ``max_tries`` positions are drawn until the
    ``balance_task`` crop is class-balanced (see ``_class_balanced``); if none is, the
    last one is kept."""

    size: tuple[int, int]
    max_tries: int = 10
    max_ratio: float = 0.75
    balance_task: str = "semseg"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = sample["image"].shape[:2]
        ch, cw = min(self.size[0], h), min(self.size[1], w)
        label = sample.get(self.balance_task)
        tries = 1 if label is None or (ch, cw) == (h, w) else self.max_tries
        ignore = TASKS[self.balance_task].ignore_value
        for _ in range(tries):
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            window = (slice(top, top + ch), slice(left, left + cw))
            if label is not None and _class_balanced(label[window], self.max_ratio, ignore):
                break
        return _map_arrays(sample, lambda a: a[window].copy(), lambda n, t, a: a[window].copy())


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``, applying each task's mirror hook."""

    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample

        def mirror_label(name: str, task: TaskSpec, label: np.ndarray) -> np.ndarray:
            out = np.ascontiguousarray(label[:, ::-1])
            hook = GEOMETRY.get(task.name, _NO_GEOMETRY).mirror
            return out if hook is None else hook(out)

        return _map_arrays(sample, lambda img: np.ascontiguousarray(img[:, ::-1]), mirror_label)


def _affine_uint8(img: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class PhotometricDistortion:
    """Brightness, contrast, saturation and hue jitter on the uint8 RGB image.

    Order as in the reference: brightness; contrast either first or last (coin flip);
    saturation and hue in between. Each of the four applies with probability ``p``.
    Brightness and contrast saturate to uint8 after each step, as the reference does;
    saturation and hue work in float HSV so that they lose no precision.
    """

    brightness: float = 32.0
    contrast: tuple[float, float] = (0.5, 1.5)
    saturation: tuple[float, float] = (0.5, 1.5)
    hue: int = 18  # OpenCV hue units (0..179)
    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = sample["image"]
        if img.dtype != np.uint8:
            raise TypeError(f"PhotometricDistortion needs a uint8 image, got {img.dtype}")
        if rng.random() < self.p:
            img = _affine_uint8(img, 1.0, rng.uniform(-self.brightness, self.brightness))
        contrast_first = rng.integers(2) == 1
        if contrast_first:
            img = self._contrast(img, rng)
        saturate = rng.uniform(*self.saturation) if rng.random() < self.p else None
        shift = int(rng.integers(-self.hue, self.hue + 1)) if rng.random() < self.p else None
        if saturate is not None or shift is not None:
            img = self._adjust_hsv(img, saturate, shift)
        if not contrast_first:
            img = self._contrast(img, rng)
        return {**sample, "image": img}

    @staticmethod
    def _adjust_hsv(img: np.ndarray, saturate: float | None, shift: int | None) -> np.ndarray:
        """Scale saturation and rotate hue in float HSV (H in degrees, S in [0, 1])."""
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
        if saturate is not None:
            hsv[..., 1] = np.clip(hsv[..., 1] * saturate, 0.0, 1.0)
        if shift is not None:
            hsv[..., 0] = (hsv[..., 0] + 2.0 * shift) % 360.0  # OpenCV hue unit = 2 degrees
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)

    def _contrast(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.p:
            return _affine_uint8(img, rng.uniform(*self.contrast), 0.0)
        return img


@dataclass(frozen=True)
class Normalize:
    """uint8 RGB -> float32 (x / 255 - mean) / std."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = sample["image"].astype(np.float32) / 255.0
        img = (img - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return {**sample, "image": img}


@dataclass(frozen=True)
class PadToSize:
    """Pad centred to at least ``size`` (H, W): image 0, labels ``pad_value(task)``.

    Records where the content lies as ``meta["pad"] = (top, left, height, width)``.
    """

    size: tuple[int, int]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = sample["image"].shape[:2]
        top = (max(self.size[0], h) - h) // 2
        left = (max(self.size[1], w) - w) // 2
        bottom = max(self.size[0], h) - h - top
        right = max(self.size[1], w) - w - left

        def pad(array: np.ndarray, value: float) -> np.ndarray:
            widths = [(top, bottom), (left, right)] + [(0, 0)] * (array.ndim - 2)
            return np.pad(array, widths, constant_values=value)

        out = _map_arrays(sample, lambda img: pad(img, 0), lambda n, t, a: pad(a, pad_value(n)))
        out["meta"] = {**sample.get("meta", {}), "pad": (top, left, h, w)}
        return out


def label_tensor(name: str, task: TaskSpec, label: np.ndarray, sample_id: str) -> torch.Tensor:
    """A raw label (HxW or HxWxC) in the tensor layout of ``atrc_nas/tasks.py`` ([H, W] long
    class maps, else float [C, H, W]); a ValueError names a label of the wrong shape."""
    where = f"sample {sample_id!r}, label {name!r}"
    if task.is_classification:
        if label.ndim != 2:
            raise ValueError(f"{where}: expected a [H, W] class map, got {label.shape}")
        return torch.from_numpy(label.astype(np.int64))
    array = label[..., None] if label.ndim == 2 else label
    if array.ndim != 3 or array.shape[-1] != task.label_channels:
        raise ValueError(
            f"{where}: expected [H, W] or [H, W, {task.label_channels}], got {label.shape}"
        )
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))


@dataclass(frozen=True)
class ToTensor:
    """numpy sample -> tensor sample (layouts in atrc_nas/tasks.py); ``meta`` is kept and
    gets ``pad`` = (0, 0, H, W) if no padding step recorded one."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = sample["image"]
        out: Sample = {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()
        }
        meta = dict(sample.get("meta", {}))
        for name, task in label_items(sample):
            out[name] = label_tensor(name, task, sample[name], meta.get("id", "?"))
        meta.setdefault("pad", (0, 0, *img.shape[:2]))
        out["meta"] = meta
        return out


@dataclass(frozen=True)
class DropEvalTargets:
    """Remove the evaluation targets: training never reads them, so they are not augmented."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return {key: value for key, value in sample.items() if key not in EVAL_TARGETS}


def train_transform(spec: DatasetSpec, crop_size: tuple[int, int] | None = None) -> Compose:
    """The reference training pipeline: scale, crop, flip, photometric, normalise, pad
    (evaluation targets dropped first)."""
    crop = tuple(crop_size or spec.crop_size)
    return Compose(
        [
            DropEvalTargets(),
            RandomScale(spec.scale_range),
            RandomCrop(crop),
            RandomHorizontalFlip(),
            PhotometricDistortion(),
            Normalize(spec.mean, spec.std),
            PadToSize(crop),
            ToTensor(),
        ]
    )


def eval_transform(spec: DatasetSpec, pad_size: tuple[int, int] | None = None) -> Compose:
    """Validation and test: normalise and pad (to at least ``pad_size``, default the crop)."""
    return Compose(
        [Normalize(spec.mean, spec.std), PadToSize(tuple(pad_size or spec.crop_size)), ToTensor()]
    )
