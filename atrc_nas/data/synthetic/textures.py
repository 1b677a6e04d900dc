"""Procedural solid textures and surface relief, evaluated at points in a surface's frame.

Textures are solid (functions of 3-D position in the owning object's frame), so they stick
to the object without texture coordinates. Every surface samples its texture kind and
colours from the same distribution, so colour alone does not tell a surface's class.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

TEXTURE_KINDS = ("plain", "checker", "stripes", "noise", "marble")

_LATTICE = np.random.default_rng(20_210_913).random(4096)


def value_noise(p: np.ndarray) -> np.ndarray:
    """Smooth lattice value noise in [0, 1] at points ``p`` ``[M, 3]`` (unit lattice)."""
    cell = np.floor(p)
    f = p - cell
    f = f * f * (3.0 - 2.0 * f)
    ix, iy, iz = (cell[:, k].astype(np.int64) for k in range(3))
    hx = (ix * 73_856_093, (ix + 1) * 73_856_093)
    hy = (iy * 19_349_663, (iy + 1) * 19_349_663)
    hz = (iz * 83_492_791, (iz + 1) * 83_492_791)
    out = np.zeros(len(p))
    for cx in (0, 1):
        wx = f[:, 0] if cx else 1.0 - f[:, 0]
        for cy in (0, 1):
            wy = f[:, 1] if cy else 1.0 - f[:, 1]
            for cz in (0, 1):
                wz = f[:, 2] if cz else 1.0 - f[:, 2]
                out += wx * wy * wz * _LATTICE[(hx[cx] ^ hy[cy] ^ hz[cz]) & 4095]
    return out


def fbm(p: np.ndarray, octaves: int = 3) -> np.ndarray:
    """Fractal sum of ``value_noise`` octaves, in [0, 1]."""
    total = np.zeros(len(p))
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        total += amp * value_noise(p * (2.0**k) + 17.0 * k)
        norm += amp
        amp *= 0.5
    return total / norm


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour in [0, 1] with any hue and a broad range of saturation and value."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.1, 0.9),
                                        rng.uniform(0.3, 0.95)))


@dataclass(frozen=True)
class Texture:
    kind: str  # one of TEXTURE_KINDS
    colours: tuple[np.ndarray, np.ndarray]
    scale: float  # metres per pattern cell / stripe period / noise feature
    direction: np.ndarray  # unit vector for stripes and marble
    offset: np.ndarray  # shifts the noise so that surfaces differ
    grain: float  # amplitude of the fine brightness noise

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """RGB reflectance ``[M, 3]`` in [0, 1] at points ``p`` in the surface frame."""
        q = p / self.scale + self.offset
        mix = _PATTERNS[self.kind](self, q)
        c0, c1 = self.colours
        rgb = c0 + mix[:, None] * (c1 - c0)
        rgb *= (1.0 + self.grain * (value_noise(p * 40.0 + self.offset) - 0.5))[:, None]
        return np.clip(rgb, 0.0, 1.0)


def _plain(tex: Texture, q: np.ndarray) -> np.ndarray:
    return 0.25 * fbm(q, octaves=2)


def _checker(tex: Texture, q: np.ndarray) -> np.ndarray:
    return (np.floor(q - tex.offset).astype(np.int64).sum(axis=-1) % 2).astype(np.float64)


def _stripes(tex: Texture, q: np.ndarray) -> np.ndarray:
    return (np.mod(q @ tex.direction, 1.0) < 0.5).astype(np.float64)


def _noise(tex: Texture, q: np.ndarray) -> np.ndarray:
    return np.clip(2.0 * fbm(q) - 0.5, 0.0, 1.0)


def _marble(tex: Texture, q: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.sin(2.0 * np.pi * (q @ tex.direction) + 6.0 * fbm(q))


_PATTERNS = {
    "plain": _plain, "checker": _checker, "stripes": _stripes, "noise": _noise,
    "marble": _marble,
}


def random_texture(rng: np.random.Generator, scale: tuple[float, float] = (0.08, 0.5),
                   kinds: tuple[str, ...] = TEXTURE_KINDS) -> Texture:
    direction = rng.normal(size=3)
    return Texture(
        kind=str(rng.choice(kinds)),
        colours=(random_colour(rng), random_colour(rng)),
        scale=float(rng.uniform(*scale)),
        direction=direction / np.linalg.norm(direction),
        offset=rng.uniform(0.0, 100.0, size=3),
        grain=float(rng.uniform(0.05, 0.3)),
    )


@dataclass(frozen=True)
class Relief:
    """A fine egg-crate height field ``h = A/2 * sum_k sin(2 pi p_k / period + phase_k)``.

    It displaces the surface along its normal by ``h`` (metres): the depth label moves by
    ``h`` and the normal tilts by the surface gradient of ``h``, so shading, depth and
    normals all show the bumps.
    """

    amplitude: float
    period: float
    phase: np.ndarray

    def height_and_gradient(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = 2.0 * np.pi / self.period
        arg = k * p + self.phase
        return (0.5 * self.amplitude * np.sin(arg).sum(axis=-1),
                0.5 * self.amplitude * k * np.cos(arg))


def random_relief(rng: np.random.Generator, pixel: float) -> Relief:
    """A relief whose period is 4-7 ``pixel`` (metres per pixel where it is seen).

    Its slope along each local axis peaks at 0.3-0.45, tilting normals by up to ~30 deg.
    """
    period = rng.uniform(4.0, 7.0) * pixel
    return Relief(amplitude=float(rng.uniform(0.3, 0.45) * period / np.pi), period=period,
                  phase=rng.uniform(0.0, 2.0 * np.pi, size=3))
