"""Synthetic scenes: determinism, the disk cache, label formats and geometric consistency."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.data.synthetic import (
    CLASS_NAMES,
    PART_NAMES,
    SALIENT_CLASSES,
    VERSION,
    SyntheticDataset,
    render_sample,
)
from atrc_nas.data.synthetic import dataset as dataset_module
from atrc_nas.data.synthetic.geometry import Box, Sphere
from atrc_nas.data.synthetic.render import render
from atrc_nas.data.synthetic.scene import FLOOR, OTHER, PERSON, SPHERE, WALL, sample_scene

SIZE = (48, 64)
TINY = {"num_images": 4, "image_size": SIZE}


def scene_and_labels(index: int, size=SIZE, local_structure=False, seed=0):
    """A train scene exactly as the dataset draws it, and its rendering."""
    rng = np.random.default_rng([seed, 0, index])
    scene = sample_scene(rng, local_structure)
    return scene, render(scene, size, rng)


def backproject(scene, depth: np.ndarray) -> np.ndarray:
    """World points ``[H, W, 3]`` of a z-buffer depth map, independently of the renderer."""
    height, width = depth.shape
    cam = scene.camera
    f = 0.5 * width / np.tan(0.5 * cam.hfov)
    u = (np.arange(width) + 0.5 - width / 2) / f
    v = (np.arange(height) + 0.5 - height / 2) / f
    rays = cam.forward + u[None, :, None] * cam.right - v[:, None, None] * cam.up
    return cam.position + depth[..., None].astype(np.float64) * rays


def to_world(scene, normals: np.ndarray) -> np.ndarray:
    cam = scene.camera
    return normals.astype(np.float64) @ np.stack([cam.right, cam.up, -cam.forward])


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.abs(np.einsum("...i,...i->...", a, b))
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))


def first_index(predicate, local_structure=False, size=SIZE) -> int:
    for i in range(60):
        if predicate(*scene_and_labels(i, size, local_structure)):
            return i
    raise AssertionError("no scene among the first 60 satisfies the predicate")


# -- dataset API, determinism, cache -------------------------------------------------------

def test_tables_match_the_spec():
    assert len(CLASS_NAMES) == 8
    assert len(PART_NAMES) == get_dataset_spec("synthetic_pascal").num_classes["human_parts"]


def test_same_seed_and_index_give_the_same_sample_whatever_the_dataset_size(tmp_path):
    small = SyntheticDataset("synthetic_nyud", root=tmp_path / "a", num_images=2,
                             image_size=SIZE)
    large = SyntheticDataset("synthetic_nyud", root=tmp_path / "b", num_images=5,
                             image_size=SIZE)
    for key in ("image", "semseg", "depth", "normals", "edge"):
        np.testing.assert_array_equal(small[1][key], large[1][key])
        np.testing.assert_array_equal(small[1][key], render_sample(0, "train", 1, SIZE)[key])
    other_seed = render_sample(1, "train", 1, SIZE)
    test_split = render_sample(0, "test", 1, SIZE)
    for different in (other_seed, test_split):
        assert not np.array_equal(different["depth"], small[1]["depth"])


def test_cache_folder_layout_and_second_construction_only_reads(tmp_path, monkeypatch):
    first = SyntheticDataset("synthetic_pascal", "test", root=tmp_path, seed=3, **TINY)
    assert first.directory == (tmp_path / "synthetic" /
                               f"synthetic_pascal_48x64_s3_test_v{VERSION}")
    files = sorted(first.directory.glob("*.npz"))
    assert [f.stem for f in files] == first.ids == [f"test_{i:05d}" for i in range(4)]
    stamps = [f.stat().st_mtime_ns for f in files]
    expected = [first[i] for i in range(4)]

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although every file was cached")

    monkeypatch.setattr(dataset_module, "render_sample", no_rendering)
    second = SyntheticDataset("synthetic_pascal", "test", root=tmp_path, seed=3, **TINY)
    for i in range(4):
        for key in ("image", "semseg", "human_parts", "sal", "normals", "edge"):
            np.testing.assert_array_equal(second[i][key], expected[i][key])
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert not list(first.directory.glob("*.tmp"))


def test_local_structure_has_its_own_cache_folder(tmp_path):
    plain = SyntheticDataset(root=tmp_path, **TINY)
    local = SyntheticDataset(root=tmp_path, local_structure=True, **TINY)
    assert local.directory.name == plain.directory.name + "_local"


def test_default_root_is_the_cache_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ATRC_NAS_CACHE", str(tmp_path))
    ds = SyntheticDataset(num_images=1, image_size=(8, 10))
    assert ds.directory.parent == tmp_path / "synthetic"
    assert len(SyntheticDataset("synthetic_nyud", "test", num_images=0)) == 0


def test_a_corrupted_cache_file_is_named_and_rendered_again(tmp_path):
    ds = SyntheticDataset(root=tmp_path, **TINY)
    before = ds.load_raw(2)
    ds.path(2).write_bytes(b"not an npz file")
    with pytest.warns(RuntimeWarning, match=str(ds.path(2).name)):
        after = ds.load_raw(2)
    np.testing.assert_array_equal(after["depth"], before["depth"])
    np.testing.assert_array_equal(ds.load_raw(2)["image"], before["image"])


def _build(root: str) -> None:
    SyntheticDataset(root=root, num_images=6, image_size=(24, 32), num_workers=1)


def test_two_processes_rendering_the_same_folder_at_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_build, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ds = SyntheticDataset(root=tmp_path, num_images=6, image_size=(24, 32))
    assert sorted(os.listdir(ds.directory)) == [f"{i}.npz" for i in ds.ids]
    for i in range(6):
        np.testing.assert_array_equal(ds[i]["normals"],
                                      render_sample(0, "train", i, (24, 32))["normals"])


def test_pool_rendering_matches_in_process_rendering(tmp_path):
    n = dataset_module.POOL_MIN_IMAGES
    ds = SyntheticDataset("synthetic_pascal", root=tmp_path, num_images=n,
                          image_size=(24, 32), num_workers=2)
    for i in (0, n - 1):
        direct = render_sample(0, "train", i, (24, 32))
        for key in ("image", "human_parts", "sal"):
            np.testing.assert_array_equal(ds[i][key], direct[key])


def test_raw_sample_format_per_preset(tmp_path):
    for name in ("synthetic_nyud", "synthetic_pascal"):
        ds = SyntheticDataset(name, root=tmp_path, **TINY)
        spec = get_dataset_spec(name)
        assert ds.spec == spec
        sample = ds[0]
        assert set(sample) == {"image", "meta", *spec.tasks}
        assert sample["meta"] == {"id": "train_00000", "size": SIZE, "dataset": name}
        assert sample["image"].dtype == np.uint8 and sample["image"].shape == (*SIZE, 3)
        assert sample["image"].std() > 10
        for task in spec.tasks:
            label = sample[task]
            assert label.shape[:2] == SIZE, task
        checks = {
            "semseg": lambda x: x.dtype == np.uint8 and x.max() < len(CLASS_NAMES),
            "human_parts": lambda x: x.dtype == np.uint8 and x.max() < len(PART_NAMES),
            "sal": lambda x: x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1},
            "edge": lambda x: x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0},
            "depth": lambda x: x.dtype == np.float32 and x.min() >= 0.7 and x.max() <= 10.0,
            "normals": lambda x: x.dtype == np.float32 and x.shape == (*SIZE, 3)
            and np.allclose(np.linalg.norm(x, axis=-1), 1.0, atol=1e-5),
        }
        for task in spec.tasks:
            assert checks[task](sample[task]), task


def test_tasks_subset_and_transform(tmp_path):
    ds = SyntheticDataset("synthetic_pascal", root=tmp_path, tasks=["sal", "edge"],
                          transform=lambda raw: sorted(raw), **TINY)
    assert ds.spec.tasks == ("sal", "edge")
    assert ds[0] == ["edge", "image", "meta", "sal"]
    assert set(ds.load_raw(-1)) == {"image", "meta", "sal", "edge"}
    with pytest.raises(IndexError, match="out of range"):
        ds.load_raw(4)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"spec_name": "nyud"}, KeyError, "synthetic_nyud, synthetic_pascal"),
        ({"split": "val"}, ValueError, "train, test"),
        ({"tasks": ["depth", "human_parts"]}, KeyError, "human_parts"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        SyntheticDataset(root=tmp_path, **{**TINY, **kwargs})


# -- geometric consistency ---------------------------------------------------------------

def test_depth_is_the_z_buffer_of_the_scene_geometry():
    for index in range(4):
        scene, labels = scene_and_labels(index)
        points = backproject(scene, labels["depth"])
        floor = labels["semseg"] == FLOOR
        assert np.abs(points[floor][:, 1]).max() < 1e-4
        walls = labels["semseg"] == WALL
        on_room_box = np.minimum(np.abs(points - scene.room_lo),
                                 np.abs(points - scene.room_hi)).min(axis=-1)
        assert on_room_box[walls].max() < 1e-4
        spheres = [s.primitive for s in scene.surfaces if s.class_id == SPHERE]
        for sphere in spheres:
            assert isinstance(sphere, Sphere)
        if spheres:
            p = points[labels["semseg"] == SPHERE]
            dist = np.min([np.abs(np.linalg.norm(p - s.centre, axis=-1) - s.radius)
                           for s in spheres], axis=0)
            assert dist.max() < 1e-4


def test_normals_match_the_surfaces():
    for index in range(4):
        scene, labels = scene_and_labels(index)
        normals = to_world(scene, labels["normals"])
        floor = labels["semseg"] == FLOOR
        np.testing.assert_allclose(normals[floor], np.tile([0.0, 1.0, 0.0], (floor.sum(), 1)),
                                   atol=1e-5)
        assert (labels["normals"][floor][:, 1] > 0.8).all()  # floor points up in the image
        points = backproject(scene, labels["depth"])
        towards_camera = np.einsum("...i,...i->...", normals, scene.camera.position - points)
        assert (towards_camera > 0).all()
        spheres = [s.primitive for s in scene.surfaces if s.class_id == SPHERE]
        for s in spheres:
            on_it = (np.abs(np.linalg.norm(points - s.centre, axis=-1) - s.radius) < 1e-4) & (
                labels["semseg"] == SPHERE)
            np.testing.assert_allclose(normals[on_it], (points[on_it] - s.centre) / s.radius,
                                       atol=1e-4)


def test_depth_grows_up_the_floor_towards_the_back_wall():
    scene, labels = scene_and_labels(0)
    depth, floor = labels["depth"], labels["semseg"] == FLOOR
    below_is_floor = floor[:-1] & floor[1:]
    assert below_is_floor.sum() > 100
    assert (depth[:-1][below_is_floor] > depth[1:][below_is_floor]).all()
    back_z = backproject(scene, depth)[..., 2]
    back_wall = (labels["semseg"] == WALL) & (np.abs(back_z - scene.room_lo[2]) < 1e-3)
    wall_on_floor = back_wall[:-1] & floor[1:]
    assert wall_on_floor.sum() > 10
    assert (depth[:-1][wall_on_floor] > depth[1:][wall_on_floor]).all()


def test_labels_at_three_times_the_resolution_agree_at_the_shared_pixel_centres():
    scene, low = scene_and_labels(5, size=(16, 20))
    high = render(scene, (48, 60), np.random.default_rng(0))
    np.testing.assert_array_equal(high["semseg"][1::3, 1::3], low["semseg"])
    np.testing.assert_array_equal(high["human_parts"][1::3, 1::3], low["human_parts"])
    np.testing.assert_allclose(high["depth"][1::3, 1::3], low["depth"], rtol=1e-5)
    np.testing.assert_allclose(high["normals"][1::3, 1::3], low["normals"], atol=1e-5)


def test_saliency_and_parts_follow_the_classes():
    with_person = first_index(lambda s, lab: (lab["semseg"] == PERSON).any())
    without = first_index(lambda s, lab: not (lab["semseg"] == PERSON).any())
    for index in (with_person, without):
        _, labels = scene_and_labels(index)
        semseg = labels["semseg"]
        np.testing.assert_array_equal(labels["sal"],
                                      np.isin(semseg, sorted(SALIENT_CLASSES)).astype(np.uint8))
        np.testing.assert_array_equal(labels["human_parts"] > 0, semseg == PERSON)
    _, labels = scene_and_labels(with_person)
    assert len(np.unique(labels["human_parts"])) >= 4
    assert not scene_and_labels(without)[1]["human_parts"].any()


def test_edges_lie_on_class_and_depth_discontinuities():
    for index in range(6):
        _, labels = scene_and_labels(index)
        semseg, depth, edge = labels["semseg"], labels["depth"], labels["edge"] > 0
        change = np.zeros(SIZE, dtype=bool)
        for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                     ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            cut = semseg[a] != semseg[b]
            assert edge[a][cut].all() and edge[b][cut].all()  # every class boundary
            jump = np.abs(depth[a] - depth[b]) > 0.01 * np.minimum(depth[a], depth[b])
            change[a] |= cut | jump
            change[b] |= cut | jump
        # Nearly every edge pixel borders another class or a depth jump; the rest border a
        # different object of the same class at almost the same depth.
        assert change[edge].mean() > 0.97
        assert 0.02 < edge.mean() < 0.4


def test_local_structure_relief_shows_in_depth_and_normals():
    """Crates (class "other" boxes) carry a relief: the normals computed from the depth
    map follow the relief normals, not the flat faces of the box. Rendered at three times
    the reference size so that finite differences resolve the 4-7 pixel relief."""

    def has_crate(scene, labels):
        return any(s.class_id == OTHER and isinstance(s.primitive, Box)
                   and (labels["semseg"] == OTHER).sum() > 100 for s in scene.surfaces)

    index = first_index(has_crate, local_structure=True)
    scene, labels = scene_and_labels(index, (384, 480), local_structure=True)
    crate = next(s.primitive for s in scene.surfaces
                 if s.class_id == OTHER and isinstance(s.primitive, Box))
    points = backproject(scene, labels["depth"])
    from_depth = np.cross(points[1:-1, 2:] - points[1:-1, :-2],
                          points[2:, 1:-1] - points[:-2, 1:-1])
    from_depth /= np.linalg.norm(from_depth, axis=-1, keepdims=True)
    normals = to_world(scene, labels["normals"])[1:-1, 1:-1]
    mask = (labels["semseg"] == OTHER)[1:-1, 1:-1]
    inner = points[1:-1, 1:-1][mask]
    on_crate = np.abs((inner - crate.centre) @ crate.rotation).max(axis=-1) < (
        crate.half.max() + 0.05)
    flat = crate.normal(inner[on_crate])
    fd, label = from_depth[mask][on_crate], normals[mask][on_crate]
    assert np.median(angle_deg(label, flat)) > 10  # the relief tilts the normals
    assert np.median(angle_deg(fd, label)) < 0.5 * np.median(angle_deg(fd, flat))
