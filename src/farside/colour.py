"""Colour steps: white balance and the camera-to-sRGB matrix."""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import cell_values, planes, red_phase

# Sampling every few pixels is plenty for frame statistics and keeps them cheap on large frames.
_SAMPLE_STEP = 4


def grey_world_gains(samples: np.ndarray, saturation: float = 0.98) -> np.ndarray:
    """R, G, B gains (G = 1) that make the mean of the mid-tone pixels neutral.

    ``samples`` is (N, 3) linear RGB in [0, 1]. Pixels with a clipped channel and the darkest and brightest
    2 % are left out, so shadows, sky and highlights do not steer the balance.

    >>> grey_world_gains(np.tile([[0.2, 0.4, 0.1]], (100, 1))).tolist()
    [2.0, 1.0, 4.0]
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    red, green, blue = samples.T
    # Channel by channel: numpy's reductions along a length-3 axis are several times slower.
    usable = (red < saturation) & (green < saturation) & (blue < saturation)
    usable &= (red > 0) & (green > 0) & (blue > 0)
    values = samples[usable]
    if len(values) < 16:
        return np.ones(3)
    brightness = values[:, 0] + values[:, 1] + values[:, 2]  # as values.sum(axis=1) adds them
    low, high = np.percentile(brightness, [2, 98])
    mid = values[(brightness >= low) & (brightness <= high)]
    means = (mid if len(mid) else values).mean(axis=0)
    if np.any(means <= 0):
        return np.ones(3)
    return means[1] / means


def cfa_samples(cfa: np.ndarray, pattern: str) -> np.ndarray:
    """(N, 3) samples of R, G, B from co-located 2x2 cells of a mosaic (one green per cell)."""
    red, green, blue = planes(cfa, pattern, _SAMPLE_STEP)
    return np.stack([red.ravel(), green.ravel(), blue.ravel()], axis=1)


def rgb_samples(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) samples from an RGB image, every few pixels."""
    return rgb[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1, rgb.shape[-1])


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _balance(cfa, gains, ceiling):  # pragma: no cover - compiled
    for y in nb.prange(cfa.shape[0]):
        for x in range(cfa.shape[1]):
            cfa[y, x] = min(cfa[y, x] * gains[y & 1, x & 1], ceiling)


def apply_cfa_gains(cfa: np.ndarray, pattern: str, gains: np.ndarray, ceiling: float = np.inf) -> np.ndarray:
    """Multiply each CFA site by its colour's gain, in place, clipping at ``ceiling``; returns ``cfa``.

    >>> apply_cfa_gains(np.ones((2, 2), np.float32), "RGGB", np.array([2.0, 1.0, 3.0])).tolist()
    [[2.0, 1.0], [1.0, 3.0]]
    """
    cells, top = cell_values(pattern, gains), np.float32(min(ceiling, np.finfo(np.float32).max))
    nb.in_row_blocks(cfa.shape[0], lambda a, b: _balance(cfa[a:b], cells, top))
    return cfa


def colour_matrix(matrix: object) -> np.ndarray:
    """A 3x3 camera-RGB-to-linear-sRGB matrix from a profile value, checked."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"a colour matrix is 3x3 finite numbers; got {matrix!r}")
    return m


def patch_gains(frame: np.ndarray, pattern: str | None, patch: tuple[int, int, int, int]) -> np.ndarray:
    """R, G, B gains (G = 1) that make a known-neutral patch grey.

    ``patch`` is (x, y, width, height) in samples and lines of the frame; ``frame`` is a Bayer mosaic
    (``pattern`` given) or RGB.

    >>> frame = np.tile(np.array([[0.2, 0.4], [0.4, 0.1]], np.float32), (4, 4))
    >>> patch_gains(frame, "RGGB", (0, 0, 8, 8)).tolist()
    [2.0, 1.0, 4.0]
    """
    x, y, w, h = (int(v) for v in patch)
    height, width = frame.shape[:2]
    if w < 2 or h < 2 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"grey patch {x},{y},{w},{h} does not lie inside the {width} x {height} frame")
    region = frame[y : y + h, x : x + w]
    if pattern:
        ry, rx = red_phase(pattern)
        ry, rx = (ry - y) % 2, (rx - x) % 2  # the phase inside the patch
        means = np.array(
            [
                region[ry::2, rx::2].mean(),
                0.5 * (region[ry::2, 1 - rx :: 2].mean() + region[1 - ry :: 2, rx::2].mean()),
                region[1 - ry :: 2, 1 - rx :: 2].mean(),
            ],
            dtype=np.float64,
        )
    else:
        means = region.reshape(-1, region.shape[-1]).mean(axis=0).astype(np.float64)
    if np.any(means <= 0):
        raise ValueError(f"grey patch {x},{y},{w},{h} has no signal in some channel")
    return means[1] / means


def coefficient_gains(coefficients: tuple[float, ...] | None) -> np.ndarray:
    """Gains (G = 1) from per-channel absolute calibration coefficients (radiance = coefficient x DN):
    weighting each channel by its coefficient puts the three on a common radiometric scale.

    >>> coefficient_gains((0.1, 0.2, 0.4)).tolist()
    [0.5, 1.0, 2.0]
    """
    if coefficients is None or len(coefficients) != 3 or min(coefficients) <= 0:
        raise ValueError("the label gives no three positive radiometric coefficients (R, G, B)")
    k = np.asarray(coefficients, dtype=np.float64)
    return k / k[1]


def decorrelation_matrix(samples: np.ndarray) -> np.ndarray:
    """3x3 decorrelation stretch: rotate to principal components, equalise their spread, rotate back.

    The classic planetary-imaging enhancement (A. R. Gillespie, A. B. Kahle, R. E. Walker, "Color
    enhancement of highly correlated images. I. Decorrelation and HSI contrast stretches", Remote Sensing of
    Environment 20(3), 1986): subtle colour differences become visible while the overall brightness
    ordering is kept. Apply as ``x' = M @ x``; follow with a per-channel stretch.
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    covariance = np.cov(samples, rowvar=False)
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, values.max() * 1e-6 + 1e-18)
    target = np.sqrt(values).mean()
    return vectors @ np.diag(target / np.sqrt(values)) @ vectors.T
