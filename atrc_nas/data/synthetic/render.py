"""Ray-cast a ``Scene`` into an RGB image and labels for all six tasks.

One ray per pixel centre through a pinhole camera; the nearest hit over the room and
every primitive gives the surface of each pixel. Ray directions have a unit component
along the optical axis, so the hit distance ``t`` is the z-buffer depth directly.

Labels (``render`` returns them with the image):

- ``semseg``: the class of the surface (``scene.CLASS_NAMES``), uint8.
- ``human_parts``: 0, or 1..6 on a person's parts (``scene.PART_NAMES``), uint8.
- ``sal``: 1 on objects (``scene.SALIENT_CLASSES``), 0 on floor, walls and ceiling, uint8.
- ``depth``: z-buffer depth in metres, float32, about 1..10.
- ``normals``: unit surface normals in the camera frame (x right, y up, z towards the
  camera), float32 ``[H, W, 3]``, including the relief of ``local_structure`` scenes.
- ``edge``: 1. on both pixels of every 4-neighbour pair that changes class or object, or
  that crosses a depth gap between two pieces of one object (an arm in front of the
  torso); float32, so lines are 2 pixels thick.

Shading is Lambertian under a directional light plus ambient light, with soft shadows
(shadow rays towards the light) and Gaussian sensor noise, so the image carries the
normals in its shading and the class only through shape, context and fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atrc_nas.data.synthetic.geometry import hits_bounding_sphere, room_exit
from atrc_nas.data.synthetic.scene import (
    ROOM_CEILING,
    ROOM_FLOOR,
    ROOM_WALLS,
    SALIENT_CLASSES,
    Scene,
)

EDGE_GAP_PIXELS = 2.5  # a depth gap wider than this many pixel footprints is an edge


@dataclass(frozen=True)
class _Group:
    """The surfaces of one object, with a bounding sphere for culling rays."""

    surfaces: tuple[int, ...]
    centre: np.ndarray
    radius: float


def _groups(scene: Scene) -> list[_Group]:
    by_instance: dict[int, list[int]] = {}
    for k, s in enumerate(scene.surfaces):
        if s.primitive is not None:
            by_instance.setdefault(s.instance, []).append(k)
    groups = []
    for members in by_instance.values():
        bounds = [scene.surfaces[k].primitive.bounds for k in members]
        centre = np.mean([c for c, _ in bounds], axis=0)
        radius = max(float(np.linalg.norm(c - centre)) + r for c, r in bounds)
        groups.append(_Group(tuple(members), centre, radius))
    return groups


def _rays(scene: Scene, height: int, width: int) -> np.ndarray:
    cam = scene.camera
    f = cam.focal(width)
    u = (np.arange(width) + 0.5 - 0.5 * width) / f
    v = (np.arange(height) + 0.5 - 0.5 * height) / f
    d = (cam.forward + u[None, :, None] * cam.right - v[:, None, None] * cam.up)
    return d.reshape(-1, 3)


def _cast(scene: Scene, groups: list[_Group], d: np.ndarray):
    """Nearest hit per primary ray: depth ``t``, surface index and world normal."""
    origin = scene.camera.position
    t, axis, normal = room_exit(origin, d, scene.room_lo, scene.room_hi)
    sid = np.full(len(d), ROOM_WALLS, dtype=np.int32)
    sid[(axis == 1) & (d[:, 1] < 0)] = ROOM_FLOOR
    sid[(axis == 1) & (d[:, 1] > 0)] = ROOM_CEILING
    for g in groups:
        rows = np.flatnonzero(hits_bounding_sphere(origin, d, g.centre, g.radius))
        for k in g.surfaces:
            t_k = scene.surfaces[k].primitive.intersect(origin, d[rows])
            nearer = t_k < t[rows]
            t[rows[nearer]] = t_k[nearer]
            sid[rows[nearer]] = k
    points = origin + t[:, None] * d
    for k in np.unique(sid):
        prim = scene.surfaces[k].primitive
        if prim is not None:
            mask = sid == k
            normal[mask] = prim.normal(points[mask])
    return t, sid, points, normal


def _in_shadow(scene: Scene, groups: list[_Group], points: np.ndarray,
               normal: np.ndarray) -> np.ndarray:
    """Whether the light is blocked by any object, for points whose normal faces it."""
    light = scene.light.direction
    shadow = np.zeros(len(points), dtype=bool)
    lit = np.flatnonzero(normal @ light > 0)
    origins = points[lit] + 1e-4 * normal[lit]
    dirs = np.broadcast_to(light, origins.shape)
    for g in groups:
        rows = np.flatnonzero(hits_bounding_sphere(origins, dirs, g.centre, g.radius))
        rows = rows[~shadow[lit[rows]]]
        for k in g.surfaces:
            blocked = np.isfinite(scene.surfaces[k].primitive.intersect(origins[rows],
                                                                         dirs[rows]))
            shadow[lit[rows[blocked]]] = True
    return shadow


def _apply_relief(scene: Scene, sid: np.ndarray, points: np.ndarray, normal: np.ndarray,
                  depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Displace relief surfaces along their normal: new depth and shading normals."""
    depth, shading = depth.copy(), normal.copy()
    material_of = np.array([s.material for s in scene.surfaces])[sid]
    for m, mat in enumerate(scene.materials):
        if mat.relief is None:
            continue
        rows = np.flatnonzero(material_of == m)
        n = normal[rows]
        h, grad_local = mat.relief.height_and_gradient(mat.local(points[rows]))
        grad = grad_local @ mat.rotation.T
        grad -= np.einsum("ij,ij->i", grad, n)[:, None] * n
        bumped = n - grad
        shading[rows] = bumped / np.linalg.norm(bumped, axis=1, keepdims=True)
        depth[rows] += h * (n @ scene.camera.forward)
    return depth, shading


def _albedo(scene: Scene, sid: np.ndarray, points: np.ndarray) -> np.ndarray:
    material_of = np.array([s.material for s in scene.surfaces])[sid]
    albedo = np.empty_like(points)
    for m in np.unique(material_of):
        mask = material_of == m
        mat = scene.materials[m]
        albedo[mask] = mat.texture.albedo(mat.local(points[mask]))
    return albedo


def _edges(class_map: np.ndarray, instance: np.ndarray, piece: np.ndarray,
           points: np.ndarray, normal: np.ndarray, depth: np.ndarray,
           focal: float) -> np.ndarray:
    """Both pixels of each 4-neighbour pair across a class, object or depth boundary."""
    edge = np.zeros(class_map.shape, dtype=bool)
    for axis in (0, 1):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        delta = points[b] - points[a]
        gap = np.maximum(np.abs(np.einsum("...i,...i->...", normal[a], delta)),
                         np.abs(np.einsum("...i,...i->...", normal[b], delta)))
        footprint = np.minimum(depth[a], depth[b]) / focal
        cut = ((class_map[a] != class_map[b]) | (instance[a] != instance[b])
               | ((piece[a] != piece[b]) & (gap > EDGE_GAP_PIXELS * footprint)))
        edge[a] |= cut
        edge[b] |= cut
    return edge


def render(scene: Scene, size: tuple[int, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The image (uint8 RGB) and every task's label at ``size`` = (H, W); ``rng`` draws noise."""
    height, width = size
    cam, light = scene.camera, scene.light
    groups = _groups(scene)
    d = _rays(scene, height, width)
    t, sid, points, normal = _cast(scene, groups, d)
    depth, shading_normal = _apply_relief(scene, sid, points, normal, t)

    direct = np.clip(shading_normal @ light.direction, 0.0, None)
    direct[_in_shadow(scene, groups, points, normal)] *= light.shadow
    irradiance = (light.ambient + light.diffuse * direct)[:, None] * light.colour
    rgb = 255.0 * scene.exposure * _albedo(scene, sid, points) * irradiance
    rgb += rng.normal(0.0, scene.noise_sigma, size=rgb.shape)
    image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(height, width, 3)

    table = np.array([(s.class_id, s.part_id, s.instance, s.piece) for s in scene.surfaces])
    class_map, part_map, instance, piece = (table[sid, c].reshape(height, width)
                                            for c in range(4))
    cam_axes = np.stack([cam.right, cam.up, -cam.forward], axis=1)
    edge = _edges(class_map, instance, piece, points.reshape(height, width, 3),
                  normal.reshape(height, width, 3), t.reshape(height, width),
                  cam.focal(width))
    return {
        "image": image,
        "semseg": class_map.astype(np.uint8),
        "human_parts": part_map.astype(np.uint8),
        "sal": np.isin(class_map, sorted(SALIENT_CLASSES)).astype(np.uint8),
        "depth": depth.reshape(height, width).astype(np.float32),
        "normals": (shading_normal @ cam_axes).reshape(height, width, 3).astype(np.float32),
        "edge": edge.astype(np.float32),
    }
