"""Colour steps: white balance and the camera-to-sRGB matrix."""

from __future__ import annotations

import numpy as np

from farside.demosaic._common import red_phase

# Sampling every few pixels is plenty for frame statistics and keeps them cheap on large frames.
_SAMPLE_STEP = 4


def _cfa_planes(cfa: np.ndarray, pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ry, rx = red_phase(pattern)
    by, bx = 1 - ry, 1 - rx
    s = 2 * _SAMPLE_STEP
    red = cfa[ry::s, rx::s]
    blue = cfa[by::s, bx::s]
    green = cfa[ry::s, bx::s]
    rows, cols = (min(a.shape[i] for a in (red, green, blue)) for i in (0, 1))
    return red[:rows, :cols], green[:rows, :cols], blue[:rows, :cols]


def grey_world_gains(samples: np.ndarray, saturation: float = 0.98) -> np.ndarray:
    """R, G, B gains (G = 1) that make the mean of the mid-tone pixels neutral.

    ``samples`` is (N, 3) linear RGB in [0, 1]. Pixels with a clipped channel and the darkest and brightest
    2 % are left out, so shadows, sky and highlights do not steer the balance.

    >>> grey_world_gains(np.tile([[0.2, 0.4, 0.1]], (100, 1))).tolist()
    [2.0, 1.0, 4.0]
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    usable = np.all(samples < saturation, axis=1) & np.all(samples > 0, axis=1)
    values = samples[usable]
    if len(values) < 16:
        return np.ones(3)
    brightness = values.sum(axis=1)
    low, high = np.percentile(brightness, [2, 98])
    mid = values[(brightness >= low) & (brightness <= high)]
    means = (mid if len(mid) else values).mean(axis=0)
    if np.any(means <= 0):
        return np.ones(3)
    return means[1] / means


def cfa_samples(cfa: np.ndarray, pattern: str) -> np.ndarray:
    """(N, 3) samples of R, G, B from co-located 2x2 cells of a mosaic (one green per cell)."""
    red, green, blue = _cfa_planes(cfa, pattern)
    return np.stack([red.ravel(), green.ravel(), blue.ravel()], axis=1)


def rgb_samples(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) samples from an RGB image, every few pixels."""
    return rgb[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1, rgb.shape[-1])


def apply_cfa_gains(cfa: np.ndarray, pattern: str, gains: np.ndarray) -> np.ndarray:
    """Multiply each CFA site by its colour's gain, in place; returns ``cfa``."""
    ry, rx = red_phase(pattern)
    cfa[ry::2, rx::2] *= np.float32(gains[0])
    cfa[ry::2, 1 - rx :: 2] *= np.float32(gains[1])
    cfa[1 - ry :: 2, rx::2] *= np.float32(gains[1])
    cfa[1 - ry :: 2, 1 - rx :: 2] *= np.float32(gains[2])
    return cfa


def colour_matrix(matrix: object) -> np.ndarray:
    """A 3x3 camera-RGB-to-linear-sRGB matrix from a profile value, checked."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"a colour matrix is 3x3 finite numbers; got {matrix!r}")
    return m
