"""Random room scenes: a camera in a box-shaped room with objects standing on the floor.

World frame: y up, the floor is ``y = 0``, the camera looks roughly along ``-z``.
Everything the renderer needs is in a ``Scene``; ``sample_scene`` draws one from a
``numpy.random.Generator`` and does not depend on the output resolution, so a scene can be
rendered at any size.

Classes (semseg) and parts (human_parts) are listed in ``CLASS_NAMES`` and ``PART_NAMES``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from atrc_nas.data.synthetic.geometry import Box, Capsule, Cylinder, Primitive, Sphere
from atrc_nas.data.synthetic.textures import (
    Relief,
    Texture,
    random_relief,
    random_texture,
)

CLASS_NAMES = ("floor", "wall", "box", "sphere", "cylinder", "person", "table", "other")
FLOOR, WALL, BOX, SPHERE, CYLINDER, PERSON, TABLE, OTHER = range(len(CLASS_NAMES))
SALIENT_CLASSES = frozenset(range(BOX, len(CLASS_NAMES)))  # every object, not the room
PART_NAMES = ("background", "head", "torso", "upper_arm", "lower_arm", "upper_leg",
              "lower_leg")
HEAD, TORSO, UPPER_ARM, LOWER_ARM, UPPER_LEG, LOWER_LEG = range(1, len(PART_NAMES))

REFERENCE_WIDTH = 160  # image width at which the local-structure relief is sized

# Room surfaces come first in Scene.surfaces, in this order.
ROOM_FLOOR, ROOM_CEILING, ROOM_WALLS = 0, 1, 2


@dataclass(frozen=True)
class Material:
    """A texture (and, with local structure, a relief) in a frame: local = R^T (p - origin)."""

    texture: Texture
    origin: np.ndarray
    rotation: np.ndarray
    relief: Relief | None = None

    def local(self, p: np.ndarray) -> np.ndarray:
        return (p - self.origin) @ self.rotation


@dataclass(frozen=True)
class Surface:
    """One primitive (``None`` for the room's faces) and the labels of its pixels.

    ``piece`` groups surfaces that join smoothly (the room's walls and ceiling); a depth
    gap between different pieces of one instance is an edge (an arm in front of a torso).
    """

    primitive: Primitive | None
    class_id: int
    part_id: int
    instance: int
    piece: int
    material: int


@dataclass(frozen=True)
class Camera:
    position: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    hfov: float  # radians, horizontal field of view

    def focal(self, width: int) -> float:
        """Focal length in pixels for an image ``width`` pixels wide."""
        return 0.5 * width / np.tan(0.5 * self.hfov)

    def pixel_size(self, point: np.ndarray) -> float:
        """Metres per pixel at ``point`` in an image REFERENCE_WIDTH pixels wide."""
        return float(np.linalg.norm(point - self.position)) / self.focal(REFERENCE_WIDTH)


@dataclass(frozen=True)
class Light:
    direction: np.ndarray  # unit vector towards the light
    ambient: float
    diffuse: float
    colour: np.ndarray
    shadow: float  # fraction of the direct light left in shadow


@dataclass
class Scene:
    camera: Camera
    light: Light
    room_lo: np.ndarray
    room_hi: np.ndarray
    noise_sigma: float  # sensor noise, in 0..255 grey levels
    exposure: float
    surfaces: list[Surface] = field(default_factory=list)
    materials: list[Material] = field(default_factory=list)

    def add_material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def add(self, primitive: Primitive | None, class_id: int, material: int, instance: int,
            part_id: int = 0, piece: int | None = None) -> None:
        piece = len(self.surfaces) if piece is None else piece
        self.surfaces.append(Surface(primitive, class_id, part_id, instance, piece, material))


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit ``axis`` by ``angle`` radians (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


X_AXIS, Y_AXIS = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


def _yaw(angle: float) -> np.ndarray:
    return _rotation(Y_AXIS, angle)


def _sample_camera(rng: np.random.Generator, width: float) -> Camera:
    yaw, pitch = rng.uniform(-0.25, 0.25), rng.uniform(0.08, 0.42)
    forward = np.array([-np.sin(yaw) * np.cos(pitch), -np.sin(pitch),
                        -np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, Y_AXIS)
    right /= np.linalg.norm(right)
    position = np.array([rng.uniform(-0.3, 0.3) * width, rng.uniform(1.0, 1.8), 0.0])
    return Camera(position, forward, right, np.cross(right, forward),
                  hfov=np.deg2rad(rng.uniform(50.0, 68.0)))


def _sample_light(rng: np.random.Generator) -> Light:
    elevation, azimuth = rng.uniform(0.45, 1.3), rng.uniform(0.0, 2.0 * np.pi)
    direction = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                          np.cos(elevation) * np.cos(azimuth)])
    return Light(direction, ambient=rng.uniform(0.2, 0.45), diffuse=rng.uniform(0.5, 0.85),
                 colour=1.0 + rng.uniform(-0.08, 0.08, size=3), shadow=rng.uniform(0.25, 0.5))


class _Builder:
    """Adds the objects of one scene, keeping their floor footprints apart."""

    def __init__(self, scene: Scene, rng: np.random.Generator, local_structure: bool) -> None:
        self.scene, self.rng, self.local = scene, rng, local_structure
        self.footprints: list[tuple[float, float, float]] = []
        self.instance = 1  # 0 is the room

    # -- placement -----------------------------------------------------------------------
    def place(self, radius: float, near: float = 1.8) -> tuple[float, float] | None:
        """A free floor position inside the room and the camera's view, or None."""
        cam, lo, hi = self.scene.camera, self.scene.room_lo, self.scene.room_hi
        fwd = np.array([cam.forward[0], 0.0, cam.forward[2]])
        fwd /= np.linalg.norm(fwd)
        right = np.array([-fwd[2], 0.0, fwd[0]])
        half_tan = np.tan(0.5 * cam.hfov)
        for _ in range(30):
            dist = near + (8.5 - near) * self.rng.random() ** 1.5  # favour near spots
            p = cam.position + dist * fwd + self.rng.uniform(-0.9, 0.9) * half_tan * dist * right
            x, z = float(p[0]), float(p[2])
            inside = lo[0] + radius < x < hi[0] - radius and lo[2] + radius < z < hi[2] - radius
            free = all(np.hypot(x - fx, z - fz) > radius + fr + 0.05
                       for fx, fz, fr in self.footprints)
            if inside and free:
                self.footprints.append((x, z, radius))
                return x, z
        return None

    def material(self, origin: np.ndarray, rotation: np.ndarray, relief_p: float = 0.0,
                 texture: Texture | None = None) -> int:
        relief = None
        if self.local and self.rng.random() < relief_p:
            relief = random_relief(self.rng, self.scene.camera.pixel_size(origin))
        return self.scene.add_material(
            Material(texture or random_texture(self.rng), origin, rotation, relief))

    def next_instance(self) -> int:
        self.instance += 1
        return self.instance - 1

    # -- object kinds: each adds one instance standing at (x, base_y, z) -----------------
    def box(self, x: float, z: float, base_y: float = 0.0, small: bool = False,
            crate: bool = False) -> None:
        half = self.rng.uniform(0.05, 0.15, 3) if small else self.rng.uniform(0.15, 0.5, 3)
        centre = np.array([x, base_y + half[1], z])
        rot = _yaw(self.rng.uniform(0, np.pi))
        mat = self.material(centre, rot, relief_p=1.0 if crate else 0.0)
        self.scene.add(Box(centre, half, rot), OTHER if crate else BOX, mat,
                       self.next_instance())

    def sphere(self, x: float, z: float, base_y: float = 0.0, small: bool = False) -> None:
        r = self.rng.uniform(0.05, 0.12) if small else self.rng.uniform(0.12, 0.45)
        centre = np.array([x, base_y + r, z])
        mat = self.material(centre, _yaw(self.rng.uniform(0, np.pi)), relief_p=0.3)
        self.scene.add(Sphere(centre, r), SPHERE, mat, self.next_instance())

    def cylinder(self, x: float, z: float, base_y: float = 0.0, small: bool = False) -> None:
        r = self.rng.uniform(0.04, 0.1) if small else self.rng.uniform(0.1, 0.35)
        length = self.rng.uniform(0.1, 0.3) if small else self.rng.uniform(0.3, 1.3)
        rot = _yaw(self.rng.uniform(0, np.pi))
        if not small and self.rng.random() < 0.25:  # lying on its side
            axis = rot[:, 0]
            base = np.array([x, base_y + r, z]) - 0.5 * length * axis
        else:
            axis = Y_AXIS
            base = np.array([x, base_y, z])
        mat = self.material(base, rot, relief_p=0.3)
        self.scene.add(Cylinder(base, axis, length, r), CYLINDER, mat, self.next_instance())

    def rod(self, x: float, z: float) -> None:
        r, length = self.rng.uniform(0.03, 0.08), self.rng.uniform(0.5, 1.5)
        rot = _yaw(self.rng.uniform(0, np.pi))
        if self.rng.random() < 0.4:  # standing
            a, b = np.array([x, r, z]), np.array([x, r + length, z])
        else:
            a = np.array([x, r, z]) - 0.5 * length * rot[:, 0]
            b = a + length * rot[:, 0]
        mat = self.material(a, rot, relief_p=0.3)
        self.scene.add(Capsule(a, b, r), OTHER, mat, self.next_instance())

    def table(self, x: float, z: float) -> None:
        half_x, half_z = self.rng.uniform(0.4, 0.85), self.rng.uniform(0.3, 0.5)
        height, thick = self.rng.uniform(0.6, 0.9), self.rng.uniform(0.02, 0.04)
        leg_r = self.rng.uniform(0.025, 0.045)
        rot = _yaw(self.rng.uniform(0, np.pi))
        centre = np.array([x, height - thick, z])
        mat = self.material(centre, rot, relief_p=0.2)
        inst = self.next_instance()
        self.scene.add(Box(centre, np.array([half_x, thick, half_z]), rot), TABLE, mat, inst)
        for sx in (-1, 1):
            for sz in (-1, 1):
                foot = centre + rot @ np.array([sx * (half_x - 2 * leg_r), 0.0,
                                                sz * (half_z - 2 * leg_r)])
                foot[1] = 0.0
                self.scene.add(Cylinder(foot, Y_AXIS, height - 2 * thick, leg_r), TABLE, mat,
                               inst)
        for side in (-1, 1):  # up to two small objects on the top
            if self.rng.random() < 0.5:
                p = centre + rot @ np.array([side * 0.5 * half_x, 0.0,
                                             self.rng.uniform(-0.4, 0.4) * half_z])
                kind = (self.box, self.sphere, self.cylinder)[self.rng.integers(3)]
                kind(float(p[0]), float(p[2]), base_y=height, small=True)

    def person(self, x: float, z: float) -> None:
        """An articulated figure of capsules and a head sphere, feet on the floor."""
        rng, h = self.rng, self.rng.uniform(1.5, 1.9)
        bones: list[tuple[np.ndarray, np.ndarray, float, int]] = [
            (np.array([0, 0.57, 0]), np.array([0, 0.74, 0]), 0.095, TORSO),
            (np.array([-0.12, 0.79, 0]), np.array([0.12, 0.79, 0]), 0.05, TORSO),
        ]
        for side in (-1, 1):
            shoulder = np.array([side * 0.15, 0.79, 0.0])
            abduct = _rotation(np.array([0.0, 0.0, 1.0]), side * rng.uniform(0.05, 0.8))
            swing = _rotation(X_AXIS, rng.uniform(-0.9, 0.9))
            upper = swing @ abduct @ np.array([0.0, -1.0, 0.0])
            lower = _rotation(X_AXIS, -rng.uniform(0.0, 1.7)) @ upper
            elbow = shoulder + 0.17 * upper
            bones += [(shoulder, elbow, 0.035, UPPER_ARM),
                      (elbow, elbow + 0.21 * lower, 0.03, LOWER_ARM)]
            hip = np.array([side * 0.06, 0.5, 0.0])
            thigh = _rotation(X_AXIS, rng.uniform(-0.45, 0.45)) @ np.array([0.0, -1.0, 0.0])
            shin = _rotation(X_AXIS, rng.uniform(0.0, 0.7)) @ thigh
            knee = hip + 0.24 * thigh
            ankle = knee + 0.23 * shin
            bones += [(hip, knee, 0.05, UPPER_LEG), (knee, ankle, 0.04, LOWER_LEG),
                      (ankle, ankle + np.array([0.0, 0.0, 0.08]), 0.025, LOWER_LEG)]
        lowest = min(min(a[1], b[1]) - r for a, b, r, _ in bones)
        rot = _yaw(rng.uniform(0, 2 * np.pi))
        origin = np.array([x, -lowest * h, z])

        def world(p: np.ndarray) -> np.ndarray:
            return origin + rot @ (h * np.asarray(p, dtype=float))

        skin = Texture("plain", (_skin(rng), _skin(rng)), 0.3, X_AXIS, rng.uniform(0, 100, 3),
                       0.1)
        mats = {HEAD: self.material(origin, rot, texture=skin),
                TORSO: self.material(origin, rot), UPPER_LEG: self.material(origin, rot)}
        mats[UPPER_ARM] = mats[TORSO]
        mats[LOWER_ARM] = mats[HEAD] if rng.random() < 0.5 else mats[TORSO]
        mats[LOWER_LEG] = mats[UPPER_LEG]
        inst = self.next_instance()
        self.scene.add(Sphere(world([0, 0.9, 0]), 0.065 * h), PERSON, mats[HEAD], inst,
                       part_id=HEAD)
        for a, b, r, part in bones:
            self.scene.add(Capsule(world(a), world(b), r * h), PERSON, mats[part], inst,
                           part_id=part)


def _skin(rng: np.random.Generator) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.6),
                                        rng.uniform(0.35, 0.95)))


def sample_scene(rng: np.random.Generator, local_structure: bool = False) -> Scene:
    """Draw a room, a camera, a light and up to 9 objects plus 0-2 people.

    With ``local_structure`` about a third of the spheres, cylinders, rods and tables get a
    fine relief (``textures.Relief``, period 4-7 pixels at REFERENCE_WIDTH) and half of the
    "other" objects are crates: boxes drawn exactly like class-2 boxes whose only
    difference is that relief, so telling them apart needs fine local detail (in the image
    and in the normals and depth).
    """
    width, depth = rng.uniform(4.0, 7.0), rng.uniform(5.0, 8.8)
    camera = _sample_camera(rng, width)
    scene = Scene(
        camera=camera, light=_sample_light(rng),
        room_lo=np.array([-width / 2, 0.0, -depth]),
        room_hi=np.array([width / 2, rng.uniform(2.5, 3.2), 1.0]),
        noise_sigma=rng.uniform(1.5, 5.0), exposure=rng.uniform(0.85, 1.2),
    )
    builder = _Builder(scene, rng, local_structure)
    identity = np.eye(3)
    floor = builder.material(np.zeros(3), identity, texture=random_texture(rng, scale=(0.2, 0.8)))
    ceiling = builder.material(np.zeros(3), identity, texture=random_texture(rng))
    walls = builder.material(np.zeros(3), identity, texture=random_texture(rng, scale=(0.2, 1.0)))
    scene.add(None, FLOOR, floor, instance=0, piece=0)
    scene.add(None, WALL, ceiling, instance=0, piece=1)
    scene.add(None, WALL, walls, instance=0, piece=1)

    for _ in range(rng.choice(3, p=[0.35, 0.45, 0.2])):
        spot = builder.place(0.35, near=2.2)
        if spot:
            builder.person(*spot)
    kinds = list(_OBJECT_KINDS)
    for kind in rng.choice(len(kinds), size=rng.integers(4, 10), p=[0.25, 0.2, 0.2, 0.15, 0.2]):
        footprint, add = _OBJECT_KINDS[kinds[kind]]
        spot = builder.place(footprint)
        if spot:
            add(builder, *spot)
    return scene


def _other(builder: _Builder, x: float, z: float) -> None:
    if builder.local and builder.rng.random() < 0.5:
        builder.box(x, z, crate=True)
    else:
        builder.rod(x, z)


# kind -> (footprint radius in metres that bounds every size drawn, how to add one)
_OBJECT_KINDS = {
    "box": (0.7, _Builder.box),
    "sphere": (0.45, _Builder.sphere),
    "cylinder": (0.65, _Builder.cylinder),
    "table": (1.0, _Builder.table),
    "other": (0.75, _other),
}
