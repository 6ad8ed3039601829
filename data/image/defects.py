"""Synthetic surface defects with exact masks, for the built-in texture benchmark.

Every defect takes a clean crop ``(S, S, 3)`` uint8 and a NumPy generator and returns
``(defective crop (S, S, 3) uint8, mask (S, S) bool)``: pixels outside the mask are untouched,
pixels inside are replaced or blended. Shapes cover 0.5-10 % of the crop, like MVTec defects.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

MIN_AREA = 0.005


def perlin_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Classic 2-D gradient (Perlin) noise ``(size, size)`` in about [-0.7, 0.7] with ``cells`` lattice cells per side."""
    angles = rng.uniform(0.0, 2.0 * np.pi, (cells + 1, cells + 1))
    gradients = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    coords = np.arange(size) * (cells / size)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    i, j = y.astype(int), x.astype(int)
    fy, fx = y - i, x - j

    def corner(di: int, dj: int) -> np.ndarray:
        g = gradients[i + di, j + dj]
        return g[..., 0] * (fy - di) + g[..., 1] * (fx - dj)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    u, v = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - v) + corner(0, 1) * v
    bottom = corner(1, 0) * (1 - v) + corner(1, 1) * v
    return top * (1 - u) + bottom * u


def ellipse_distance(size: int, rng: np.random.Generator, radius: tuple[float, float]) -> np.ndarray:
    """Normalised distance ``(size, size)`` to a random rotated ellipse's centre (< 1 inside it)."""
    cy, cx = rng.uniform(0.2 * size, 0.8 * size, 2)
    ry, rx = rng.uniform(radius[0] * size, radius[1] * size, 2)
    theta = rng.uniform(0.0, np.pi)
    y, x = np.mgrid[:size, :size].astype(np.float64)
    dy, dx = y - cy, x - cx
    a = dy * np.cos(theta) + dx * np.sin(theta)
    b = -dy * np.sin(theta) + dx * np.cos(theta)
    return np.sqrt((a / ry) ** 2 + (b / rx) ** 2)


def blob_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """An irregular local region ``(size, size)`` bool: Perlin noise thresholded inside a random ellipse."""
    for _ in range(20):
        inside = ellipse_distance(size, rng, (0.08, 0.22)) < 1.0
        mask = inside & (perlin_noise(size, int(rng.integers(3, 8)), rng) > rng.uniform(-0.15, 0.1))
        if mask.mean() >= MIN_AREA:
            return mask
    return inside


def _as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def cut_paste(clean: np.ndarray, rng: np.random.Generator, donor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A rotated, brightness-shifted rectangle of ``donor`` (another crop of the same texture) pasted in."""
    size = clean.shape[0]
    h, w = rng.integers(int(0.12 * size), int(0.28 * size) + 1, 2)
    sy, sx = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    patch = np.rot90(donor[sy : sy + h, sx : sx + w], k=int(rng.integers(1, 4))).astype(np.float64)
    patch *= rng.choice([rng.uniform(0.6, 0.8), rng.uniform(1.2, 1.4)])
    ph, pw = patch.shape[:2]
    ty, tx = rng.integers(0, size - ph + 1), rng.integers(0, size - pw + 1)
    out, mask = clean.copy(), np.zeros((size, size), dtype=bool)
    out[ty : ty + ph, tx : tx + pw] = _as_uint8(patch)
    mask[ty : ty + ph, tx : tx + pw] = True
    return out, mask


def scratch(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin polyline, dark on bright surfaces and bright on dark ones."""
    size = clean.shape[0]
    stroke = Image.new("L", (size, size), 0)
    start = rng.uniform(0.15 * size, 0.85 * size, 2)
    steps = rng.normal(0.0, 0.18 * size, (int(rng.integers(2, 5)), 2))
    points = [tuple(p) for p in np.clip(start + np.cumsum(np.vstack([[0, 0], steps]), axis=0), 0, size - 1)]
    ImageDraw.Draw(stroke).line(points, fill=255, width=int(rng.integers(2, 5)))
    mask = np.asarray(stroke) > 0
    target = 25.0 if clean[mask].mean() > 110 else 235.0
    out = clean.copy()
    out[mask] = _as_uint8(0.15 * clean[mask] + 0.85 * target)
    return out, mask


def foreign_blend(clean: np.ndarray, rng: np.random.Generator, foreign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A Perlin-shaped region where another texture (``foreign``, same shape) shows through."""
    mask = blob_mask(clean.shape[0], rng)
    alpha = rng.uniform(0.7, 0.95)
    out = clean.copy()
    out[mask] = _as_uint8((1 - alpha) * clean[mask] + alpha * foreign[mask])
    return out, mask


def hole(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark elliptical pit, darkest at its centre, with the texture faintly visible."""
    distance = ellipse_distance(clean.shape[0], rng, (0.05, 0.14))
    mask = distance < 1.0
    shade = (8.0 + 30.0 * distance[mask])[:, None]
    out = clean.copy()
    out[mask] = _as_uint8(shade + 0.15 * clean[mask])
    return out, mask


def color_shift(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A Perlin-shaped stain: one colour channel raised, the others lowered."""
    mask = blob_mask(clean.shape[0], rng)
    gain = np.full(3, 0.7)
    gain[rng.integers(0, 3)] = 1.3
    out = clean.copy()
    out[mask] = _as_uint8(clean[mask] * gain + 30.0 * (gain > 1))
    return out, mask


DEFECT_KINDS = ("cut_paste", "scratch", "foreign", "hole", "color")

_APPLY: dict[str, Callable[[np.ndarray, np.random.Generator, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "cut_paste": lambda clean, rng, donor, foreign: cut_paste(clean, rng, donor),
    "scratch": lambda clean, rng, donor, foreign: scratch(clean, rng),
    "foreign": lambda clean, rng, donor, foreign: foreign_blend(clean, rng, foreign),
    "hole": lambda clean, rng, donor, foreign: hole(clean, rng),
    "color": lambda clean, rng, donor, foreign: color_shift(clean, rng),
}


def make_defect(kind: str, clean: np.ndarray, rng: np.random.Generator, donor: np.ndarray, foreign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply defect ``kind`` (one of ``DEFECT_KINDS``) to ``clean``; ``donor`` and ``foreign`` are crops
    of the same size from the same texture and from another one."""
    return _APPLY[kind](clean, rng, donor, foreign)
