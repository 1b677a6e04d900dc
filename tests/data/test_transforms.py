"""Each step of the augmentation pipeline, on hand-made raw samples."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.data.transforms import (
    DropEvalTargets,
    Normalize,
    PadToSize,
    PhotometricDistortion,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    ToTensor,
    eval_transform,
    pad_value,
    train_transform,
)
from atrc_nas.tasks import EDGE_BOUNDARY_GT


def make_sample(h: int = 12, w: int = 16, seed: int = 0) -> dict:
    """A raw sample with all six tasks; the image encodes each pixel's (row, col)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:h, :w]
    image = np.stack([rows, cols, (rows + cols) % 7 * 30], axis=-1).astype(np.uint8)
    normals = rng.normal(size=(h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[0, 0] = 255.0
    normals[0, 1] = 0.0
    depth = (1.0 + rows * 100 + cols).astype(np.float32)
    depth[1, 1] = 0.0
    depth[1, 2] = 255.0
    semseg = ((cols // 4) % 3 + 1).astype(np.uint8)
    semseg[2, :3] = 255
    return {
        "image": image,
        "semseg": semseg,
        "human_parts": (rows % 7).astype(np.uint8),
        "sal": (cols > w // 2).astype(np.uint8),
        "edge": ((cols % 5) == 0).astype(np.float32),
        "depth": depth,
        "normals": normals,
        "meta": {"id": "x", "size": (h, w), "dataset": "test"},
    }


LABELS = ("semseg", "human_parts", "sal", "edge", "depth", "normals")


def test_pad_value_depth_zero_else_ignore():
    assert pad_value("depth") == 0
    for task in ("semseg", "human_parts", "sal", "edge", "normals"):
        assert pad_value(task) == 255


def test_evaluation_targets_follow_their_tasks_rules():
    assert pad_value(EDGE_BOUNDARY_GT) == 255
    with pytest.raises(KeyError, match="neither a task nor an evaluation target"):
        pad_value("image")
    sample = make_sample(12, 16)
    sample[EDGE_BOUNDARY_GT] = sample["edge"].copy()  # must stay equal to the edge label
    steps = [RandomScale((1.3, 1.3)), RandomCrop((10, 13)), RandomHorizontalFlip(p=1.0),
             PadToSize((18, 20)), ToTensor()]
    rng = np.random.default_rng(0)
    for step in steps:
        sample = step(sample, rng)
        np.testing.assert_array_equal(np.asarray(sample[EDGE_BOUNDARY_GT]),
                                      np.asarray(sample["edge"]), err_msg=repr(step))
    assert sample[EDGE_BOUNDARY_GT].shape == (1, 18, 20)
    assert (sample[EDGE_BOUNDARY_GT][0, 0] == 255).all()  # centred padding row


def test_training_drops_evaluation_targets():
    sample = make_sample(30, 40) | {EDGE_BOUNDARY_GT: np.zeros((30, 40), np.float32)}
    assert EDGE_BOUNDARY_GT not in DropEvalTargets()(sample, np.random.default_rng(0))
    assert set(DropEvalTargets()(sample, np.random.default_rng(0))) == set(make_sample())
    train = train_transform(get_dataset_spec("pascal"), (24, 32))(sample)
    assert EDGE_BOUNDARY_GT not in train and "edge" in train
    evaluated = eval_transform(get_dataset_spec("pascal"), (32, 40))(sample)
    assert evaluated[EDGE_BOUNDARY_GT].shape == (1, 32, 40)


def test_random_scale_linear_image_nearest_labels_depth_divided():
    sample = make_sample()
    out = RandomScale((0.5, 2.0))(sample, np.random.default_rng(3))
    scale = np.random.default_rng(3).uniform(0.5, 2.0)
    size = (round(16 * scale), round(12 * scale))
    assert out["image"].shape == (size[1], size[0], 3)
    np.testing.assert_array_equal(
        out["image"], cv2.resize(sample["image"], size, interpolation=cv2.INTER_LINEAR)
    )
    for task in LABELS:
        assert out[task].shape[:2] == (size[1], size[0]), task
        assert out[task].dtype == sample[task].dtype, task
    # nearest: every output class / vector exists in the input
    assert set(np.unique(out["semseg"])) <= set(np.unique(sample["semseg"]))
    in_vectors = {tuple(v) for v in sample["normals"].reshape(-1, 3)}
    assert {tuple(v) for v in out["normals"].reshape(-1, 3)} <= in_vectors
    # depth: nearest value divided by the scale; invalid (0, 255) untouched
    nearest = cv2.resize(sample["depth"], size, interpolation=cv2.INTER_NEAREST)
    valid = (nearest > 0) & (nearest != 255)
    np.testing.assert_allclose(out["depth"][valid], nearest[valid] / scale, rtol=1e-6)
    np.testing.assert_array_equal(out["depth"][~valid], nearest[~valid])
    assert (~valid).any()
    assert sample["depth"][1, 1] == 0  # input not mutated


def test_random_crop_cuts_the_same_window_everywhere():
    sample = make_sample(20, 30)
    out = RandomCrop((8, 10))(sample, np.random.default_rng(0))
    assert out["image"].shape == (8, 10, 3)
    top, left = int(out["image"][0, 0, 0]), int(out["image"][0, 0, 1])
    window = (slice(top, top + 8), slice(left, left + 10))
    for task in LABELS:
        np.testing.assert_array_equal(out[task], sample[task][window], err_msg=task)


def test_random_crop_smaller_image_keeps_whole_extent():
    sample = make_sample(6, 30)
    out = RandomCrop((8, 10))(sample, np.random.default_rng(1))
    assert out["image"].shape == (6, 10, 3)
    whole = RandomCrop((50, 50))(sample, np.random.default_rng(1))
    np.testing.assert_array_equal(whole["depth"], sample["depth"])


def _balanced(label: np.ndarray) -> bool:
    values, counts = np.unique(label[label != 255], return_counts=True)
    return len(values) > 1 and counts.max() / counts.sum() < 0.75


def test_random_crop_retries_until_class_balanced():
    # class 0 everywhere but a 5-column stripe of class 1: about 1 crop position in 9 passes
    sample = make_sample(10, 100)
    semseg = np.zeros((10, 100), np.uint8)
    semseg[:, 50:55] = 1
    semseg[:, 0] = 255  # ignore is left out of the ratio
    sample["semseg"] = semseg

    def balanced_share(max_tries: int) -> float:
        crop = RandomCrop((10, 10), max_tries=max_tries)
        hits = [_balanced(crop(sample, np.random.default_rng(s))["semseg"]) for s in range(200)]
        return float(np.mean(hits))

    once, retried = balanced_share(1), balanced_share(10)
    assert once < 0.25
    assert retried > 0.55  # 1 - (8/9)^10 = 0.69 expected

    # when the first crop is balanced, no further position is drawn
    stripes = sample | {"semseg": (np.arange(100)[None].repeat(10, 0) % 2).astype(np.uint8)}
    a = RandomCrop((10, 10), max_tries=10)(stripes, np.random.default_rng(7))
    b = RandomCrop((10, 10), max_tries=1)(stripes, np.random.default_rng(7))
    np.testing.assert_array_equal(a["image"], b["image"])


def test_random_crop_gives_up_after_max_tries():
    sample = make_sample(10, 40)
    sample["semseg"] = np.ones((10, 40), np.uint8)
    out = RandomCrop((5, 5))(sample, np.random.default_rng(0))
    assert out["semseg"].shape == (5, 5)


def test_flip_mirrors_and_negates_normals_x():
    sample = make_sample()
    out = RandomHorizontalFlip(p=1.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out["image"], sample["image"][:, ::-1])
    for task in ("semseg", "human_parts", "sal", "edge", "depth"):
        np.testing.assert_array_equal(out[task], sample[task][:, ::-1], err_msg=task)
    mirrored = sample["normals"][:, ::-1]
    np.testing.assert_array_equal(out["normals"][..., 1:], mirrored[..., 1:])
    valid = (mirrored != 255).all(-1)
    np.testing.assert_array_equal(out["normals"][..., 0][valid], -mirrored[..., 0][valid])
    np.testing.assert_array_equal(out["normals"][0, -1], [255, 255, 255])  # invalid kept
    kept = RandomHorizontalFlip(p=0.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(kept["normals"], sample["normals"])


def test_photometric_keeps_shape_and_dtype_and_changes_pixels():
    rng = np.random.default_rng(0)
    sample = make_sample() | {"image": rng.integers(40, 200, (12, 16, 3), dtype=np.uint8)}
    out = PhotometricDistortion(p=1.0)(sample, np.random.default_rng(1))
    assert out["image"].shape == sample["image"].shape
    assert out["image"].dtype == np.uint8
    assert np.abs(out["image"].astype(int) - sample["image"]).mean() > 2
    np.testing.assert_array_equal(out["semseg"], sample["semseg"])
    again = PhotometricDistortion(p=1.0)(sample, np.random.default_rng(1))
    np.testing.assert_array_equal(out["image"], again["image"])
    untouched = PhotometricDistortion(p=0.0)(sample, np.random.default_rng(1))
    np.testing.assert_array_equal(untouched["image"], sample["image"])


def test_photometric_brightness_only_matches_formula():
    sample = make_sample()
    step = PhotometricDistortion(p=1.0, contrast=(1.0, 1.0), saturation=(1.0, 1.0), hue=0)
    out = step(sample, np.random.default_rng(11))
    draws = np.random.default_rng(11)
    assert draws.random() < 1.0  # the brightness coin, then its delta
    delta = draws.uniform(-32, 32)
    expected = np.clip(sample["image"].astype(np.float32) + delta, 0, 255).astype(np.uint8)
    # the float HSV round trip at identity saturation and hue is exact up to rounding
    assert np.abs(out["image"].astype(int) - expected).max() <= 1


def test_photometric_rejects_float_image():
    sample = make_sample() | {"image": np.zeros((4, 4, 3), np.float32)}
    with pytest.raises(TypeError, match="uint8"):
        PhotometricDistortion()(sample, np.random.default_rng(0))


def test_normalize():
    sample = make_sample()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = Normalize(mean, std)(sample, np.random.default_rng(0))
    expected = (sample["image"] / 255.0 - np.array(mean)) / np.array(std)
    assert out["image"].dtype == np.float32
    np.testing.assert_allclose(out["image"], expected, rtol=1e-5, atol=1e-6)


def test_pad_centred_with_each_tasks_value():
    sample = make_sample(12, 16)
    out = PadToSize((17, 20))(sample, np.random.default_rng(0))
    top, left = 2, 2  # (17 - 12) // 2, (20 - 16) // 2
    assert out["meta"]["pad"] == (top, left, 12, 16)
    assert out["meta"]["id"] == "x"
    inner = (slice(top, top + 12), slice(left, left + 16))
    border = np.ones((17, 20), bool)
    border[inner] = False
    assert out["image"].shape == (17, 20, 3)
    assert (out["image"][border] == 0).all()
    np.testing.assert_array_equal(out["image"][inner], sample["image"])
    for task in LABELS:
        assert out[task].shape[:2] == (17, 20)
        assert (out[task][border] == pad_value(task)).all(), task
        np.testing.assert_array_equal(out[task][inner], sample[task], err_msg=task)
    assert (out["depth"][border] == 0).all()
    assert (out["normals"][border] == 255).all()


def test_pad_never_shrinks():
    sample = make_sample(12, 16)
    out = PadToSize((10, 20))(sample, np.random.default_rng(0))
    assert out["image"].shape == (12, 20, 3)
    assert out["meta"]["pad"] == (0, 2, 12, 16)


def test_to_tensor_layouts():
    sample = Normalize((0.5,) * 3, (0.5,) * 3)(make_sample(), np.random.default_rng(0))
    out = ToTensor()(sample, np.random.default_rng(0))
    assert out["image"].shape == (3, 12, 16) and out["image"].dtype == torch.float32
    for task in ("semseg", "human_parts", "sal"):
        assert out[task].shape == (12, 16) and out[task].dtype == torch.int64, task
    for task in ("edge", "depth"):
        assert out[task].shape == (1, 12, 16) and out[task].dtype == torch.float32, task
    assert out["normals"].shape == (3, 12, 16) and out["normals"].dtype == torch.float32
    np.testing.assert_array_equal(out["normals"].permute(1, 2, 0).numpy(), sample["normals"])
    np.testing.assert_array_equal(out["depth"][0].numpy(), sample["depth"])
    assert out["meta"]["pad"] == (0, 0, 12, 16)


def test_to_tensor_rejects_wrong_label_shape():
    sample = make_sample() | {"normals": np.zeros((12, 16, 2), np.float32)}
    with pytest.raises(ValueError, match=r"sample 'x', label 'normals'.*\(12, 16, 2\)"):
        ToTensor()(sample, np.random.default_rng(0))


def test_train_transform_end_to_end_reproducible():
    spec = get_dataset_spec("synthetic_pascal")
    transform = train_transform(spec, crop_size=(24, 32))
    sample = make_sample(30, 40)
    a = transform(sample, np.random.default_rng((0, 1)))
    b = transform(sample, np.random.default_rng((0, 1)))
    c = transform(sample, np.random.default_rng((0, 2)))
    assert a["image"].shape == (3, 24, 32)
    assert a["semseg"].shape == (24, 32) and a["normals"].shape == (3, 24, 32)
    for key in ("image", *LABELS):
        torch.testing.assert_close(a[key], b[key])
    assert not torch.equal(a["image"], c["image"])
    top, left, h, w = a["meta"]["pad"]
    assert top >= 0 and left >= 0 and top + h <= 24 and left + w <= 32


def test_eval_transform_normalises_and_pads_only():
    spec = get_dataset_spec("synthetic_nyud")
    sample = make_sample(12, 16)
    out = eval_transform(spec, pad_size=(16, 16))(sample)
    assert out["image"].shape == (3, 16, 16)
    assert out["meta"]["pad"] == (2, 0, 12, 16)
    np.testing.assert_array_equal(out["semseg"][2:14].numpy(), sample["semseg"])
    assert (out["semseg"][:2] == 255).all() and (out["depth"][:, :2] == 0).all()


def test_compose_without_rng_draws_fresh_randomness():
    transform = train_transform(get_dataset_spec("synthetic_nyud"), crop_size=(24, 32))
    sample = make_sample(30, 40)
    images = [transform(sample)["image"] for _ in range(3)]
    assert not (torch.equal(images[0], images[1]) and torch.equal(images[1], images[2]))


def _colour_sample() -> dict:
    img = np.zeros((2, 3, 3), np.uint8)
    img[0] = [[200, 30, 30], [30, 200, 30], [30, 30, 200]]
    img[1] = [[100, 100, 100], [250, 120, 10], [0, 0, 0]]
    return {"image": img}


def test_photometric_contrast_scales_and_saturates():
    step = PhotometricDistortion(p=1.0, brightness=0.0, contrast=(2.0, 2.0),
                                 saturation=(1.0, 1.0), hue=0)
    sample = _colour_sample()
    out = step(sample, np.random.default_rng(3))["image"]
    expected = np.clip(sample["image"].astype(np.int32) * 2, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_photometric_zero_saturation_gives_grey():
    step = PhotometricDistortion(p=1.0, brightness=0.0, contrast=(1.0, 1.0),
                                 saturation=(0.0, 0.0), hue=0)
    out = step(_colour_sample(), np.random.default_rng(0))["image"].astype(int)
    assert (out.max(axis=-1) - out.min(axis=-1) <= 1).all()
    # HSV value (the max channel) is kept
    np.testing.assert_allclose(out[..., 0], _colour_sample()["image"].max(axis=-1), atol=1)


def test_photometric_hue_rotates_colours():
    # 60 OpenCV hue units are 120 degrees: red -> green, green -> blue, blue -> red
    row = _colour_sample()["image"][:1]
    out = PhotometricDistortion._adjust_hsv(row, None, 60)
    np.testing.assert_array_equal(out[0], np.roll(row[0], -1, axis=0))
    np.testing.assert_array_equal(PhotometricDistortion._adjust_hsv(row, None, 0), row)
