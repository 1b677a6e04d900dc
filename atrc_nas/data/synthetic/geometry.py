"""Vectorised ray intersections with the primitives that scenes are built from.

Rays are ``o + t * d`` with origins ``o`` of shape ``[M, 3]`` (or ``[3]``, shared) and
directions ``d`` of shape ``[M, 3]``; directions need not be unit vectors, so ``t`` is in
units of ``|d|``. ``intersect`` returns the nearest ``t > EPS`` per ray (``inf`` on a
miss); ``normal`` returns the outward unit normal at points on the surface. Rays never
start inside a primitive (the camera and the surface points that shadow rays leave from
lie outside every solid), so only entry points are needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-6


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of ``[M, 3]`` and/or ``[3]`` arrays."""
    if a.ndim == 1:
        return b @ a
    if b.ndim == 1:
        return a @ b
    return np.einsum("ij,ij->i", a, b)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _sphere_t(o: np.ndarray, d: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    oc = o - centre
    a = _dot(d, d)
    b = _dot(d, oc)
    disc = b * b - a * (_dot(oc, oc) - radius * radius)
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc >= 0) & (t > EPS), t, np.inf)


def _tube_t(
    o: np.ndarray, d: np.ndarray, base: np.ndarray, axis: np.ndarray, length: float,
    radius: float,
) -> np.ndarray:
    """Entry through the side of a finite open tube along ``axis`` from ``base``."""
    oc = o - base
    d_ax = d @ axis
    oc_ax = oc @ axis
    d_perp = d - d_ax[:, None] * axis
    oc_perp = oc - oc_ax[..., None] * axis
    a = _dot(d_perp, d_perp)
    b = _dot(d_perp, oc_perp)
    disc = b * b - a * (_dot(oc_perp, oc_perp) - radius * radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / a
    s = oc_ax + t * d_ax
    return np.where((disc >= 0) & (a > 0) & (t > EPS) & (s >= 0) & (s <= length), t, np.inf)


@dataclass(frozen=True)
class Sphere:
    centre: np.ndarray
    radius: float

    @property
    def bounds(self) -> tuple[np.ndarray, float]:
        return self.centre, self.radius

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        return _sphere_t(o, d, self.centre, self.radius)

    def normal(self, p: np.ndarray) -> np.ndarray:
        return (p - self.centre) / self.radius


@dataclass(frozen=True)
class Box:
    """An oriented box: ``rotation`` columns are its local axes in the world frame."""

    centre: np.ndarray
    half: np.ndarray
    rotation: np.ndarray

    @property
    def bounds(self) -> tuple[np.ndarray, float]:
        return self.centre, float(np.linalg.norm(self.half))

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        o_l = (o - self.centre) @ self.rotation
        d_l = d @ self.rotation
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-self.half - o_l) / d_l
            t2 = (self.half - o_l) / d_l
        t_near = np.minimum(t1, t2).max(axis=-1)
        t_far = np.maximum(t1, t2).min(axis=-1)
        return np.where((t_near <= t_far) & (t_near > EPS), t_near, np.inf)

    def normal(self, p: np.ndarray) -> np.ndarray:
        p_l = (p - self.centre) @ self.rotation / self.half
        face = np.abs(p_l).argmax(axis=-1)
        n_l = np.zeros_like(p_l)
        rows = np.arange(len(p_l))
        n_l[rows, face] = np.sign(p_l[rows, face])
        return n_l @ self.rotation.T


@dataclass(frozen=True)
class Cylinder:
    """A closed cylinder from ``base`` along the unit vector ``axis`` for ``length``."""

    base: np.ndarray
    axis: np.ndarray
    length: float
    radius: float

    @property
    def bounds(self) -> tuple[np.ndarray, float]:
        return self.base + 0.5 * self.length * self.axis, float(np.hypot(self.length / 2,
                                                                          self.radius))

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        t = _tube_t(o, d, self.base, self.axis, self.length, self.radius)
        d_ax = d @ self.axis
        for s_cap in (0.0, self.length):
            with np.errstate(divide="ignore", invalid="ignore"):
                t_cap = (s_cap - (o - self.base) @ self.axis) / d_ax
                p = o + t_cap[:, None] * d - self.base
            radial = p - (p @ self.axis)[:, None] * self.axis
            inside = _dot(radial, radial) <= self.radius * self.radius
            t = np.where(inside & (t_cap > EPS) & (t_cap < t), t_cap, t)
        return t

    def normal(self, p: np.ndarray) -> np.ndarray:
        rel = p - self.base
        s = rel @ self.axis
        radial = rel - s[:, None] * self.axis
        r = np.linalg.norm(radial, axis=-1)
        side = np.abs(r - self.radius) < np.minimum(np.abs(s), np.abs(s - self.length))
        cap = np.where(s > self.length / 2, 1.0, -1.0)[:, None] * self.axis
        with np.errstate(divide="ignore", invalid="ignore"):
            n_side = radial / r[:, None]
        return np.where(side[:, None], n_side, cap)


@dataclass(frozen=True)
class Capsule:
    """A segment ``a``-``b`` swept by a sphere of ``radius`` (a rod with rounded ends)."""

    a: np.ndarray
    b: np.ndarray
    radius: float

    @property
    def bounds(self) -> tuple[np.ndarray, float]:
        return (self.a + self.b) / 2, float(np.linalg.norm(self.b - self.a) / 2 + self.radius)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        seg = self.b - self.a
        length = float(np.linalg.norm(seg))
        t = _tube_t(o, d, self.a, seg / length, length, self.radius)
        t = np.minimum(t, _sphere_t(o, d, self.a, self.radius))
        return np.minimum(t, _sphere_t(o, d, self.b, self.radius))

    def normal(self, p: np.ndarray) -> np.ndarray:
        seg = self.b - self.a
        s = np.clip((p - self.a) @ seg / (seg @ seg), 0.0, 1.0)
        return _unit(p - (self.a + s[:, None] * seg))


Primitive = Sphere | Box | Cylinder | Capsule


def hits_bounding_sphere(
    o: np.ndarray, d: np.ndarray, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Rays that pass within ``radius`` of ``centre`` ahead of their origin (a cheap cull)."""
    oc = centre - o
    along = _dot(oc, d)
    closest2 = _dot(oc, oc) - along * along / _dot(d, d)
    return (closest2 <= radius * radius) & ((along > 0) | (_dot(oc, oc) <= radius * radius))


def room_exit(o: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Where rays from inside the box ``lo``..``hi`` leave it.

    Returns ``(t, axis, inward_normal)``: the exit distance, the axis (0 x, 1 y, 2 z) of
    the face hit, and that face's normal pointing into the room.
    """
    with np.errstate(divide="ignore"):
        t_axes = np.where(d > 0, (hi - o) / d, (lo - o) / d)
    t_axes = np.where(d == 0, np.inf, t_axes)
    axis = t_axes.argmin(axis=-1)
    rows = np.arange(len(d))
    normal = np.zeros_like(d)
    normal[rows, axis] = -np.sign(d[rows, axis])
    return t_axes[rows, axis], axis, normal
