"""Defective pixels: hot and dead pixels, found by directional prediction, and clipped (saturated) samples.

Each sample is predicted from its neighbourhood along four directions (along the row, the column and both
diagonals). On a Bayer mosaic the row and column predictions follow the colour difference to the adjacent
other-colour samples (real detail shows in every colour; a defect in one sample does not), and the diagonal
ones use the nearest same-colour samples (the diagonal greens at a green site, colour differences at red
and blue sites). Real image detail always has a direction along which it is predictable, such as along
an edge; a hot or dead pixel stands out in all four. So a sample is a defect when it departs from every
prediction in the same sense, by more than ``threshold`` (a fraction of full scale) and more than
``sigma`` times the frame's noise; it is rebuilt from the prediction along the smoothest direction.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farside.cfa import new_array, pad_reflect, red_phase

HOT = 1
DEAD = 2
_MARGIN = 3


@nb.njit(inline="always")
def _row_difference(p, y, x):
    return p[y, x] - np.float32(0.5) * (p[y, x - 1] + p[y, x + 1])


@nb.njit(inline="always")
def _column_difference(p, y, x):
    return p[y, x] - np.float32(0.5) * (p[y - 1, x] + p[y + 1, x])


@nb.njit(inline="always")
def _cross_difference(p, y, x):
    return p[y, x] - np.float32(0.25) * (p[y - 1, x] + p[y + 1, x] + p[y, x - 1] + p[y, x + 1])


@nb.njit(inline="always")
def _directions(p, y, x, mosaic, green):
    """Residual of the sample against its prediction along the row, column and both diagonals, and the
    disagreement of the two neighbours each prediction is made from (how edgy that direction is)."""
    half = np.float32(0.5)
    if not mosaic:
        a, b = p[y, x - 1], p[y, x + 1]
        c, d = p[y - 1, x], p[y + 1, x]
        e, f = p[y - 1, x - 1], p[y + 1, x + 1]
        g, h = p[y - 1, x + 1], p[y + 1, x - 1]
        v = p[y, x]
        return (
            (v - half * (a + b), v - half * (c + d), v - half * (e + f), v - half * (g + h)),
            (abs(a - b), abs(c - d), abs(e - f), abs(g - h)),
        )
    left, right = _row_difference(p, y, x - 2), _row_difference(p, y, x + 2)
    up, down = _column_difference(p, y - 2, x), _column_difference(p, y + 2, x)
    row = _row_difference(p, y, x) - half * (left + right)
    column = _column_difference(p, y, x) - half * (up + down)
    if green:
        a, b = p[y - 1, x - 1], p[y + 1, x + 1]
        c, d = p[y - 1, x + 1], p[y + 1, x - 1]
        diagonal, anti = p[y, x] - half * (a + b), p[y, x] - half * (c + d)
    else:
        centre = _cross_difference(p, y, x)
        a, b = _cross_difference(p, y - 2, x - 2), _cross_difference(p, y + 2, x + 2)
        c, d = _cross_difference(p, y - 2, x + 2), _cross_difference(p, y + 2, x - 2)
        diagonal, anti = centre - half * (a + b), centre - half * (c + d)
    return (row, column, diagonal, anti), (abs(left - right), abs(up - down), abs(a - b), abs(c - d))


@nb.njit(parallel=True, fastmath=True, cache=True)
def _repair(p, mosaic, green_parity, limit, out, flags):  # pragma: no cover - compiled
    height, width = out.shape
    for y in nb.prange(height):
        for x in range(width):
            py, px = y + _MARGIN, x + _MARGIN
            value = p[py, px]
            out[y, x] = value
            flags[y, x] = 0
            # The row residual alone rules out almost every sample: a defect departs in all four directions.
            if mosaic:
                half = np.float32(0.5)
                row = _row_difference(p, py, px) - half * (
                    _row_difference(p, py, px - 2) + _row_difference(p, py, px + 2)
                )
            else:
                row = _row_difference(p, py, px)
            if abs(row) <= limit:
                continue
            green = ((y + x) & 1) == green_parity
            (a, b, c, d), gradients = _directions(p, py, px, mosaic, green)
            if a > 0 and b > 0 and c > 0 and d > 0:
                if min(min(a, b), min(c, d)) <= limit:
                    continue
                flags[y, x] = HOT
            elif a < 0 and b < 0 and c < 0 and d < 0:
                if -max(max(a, b), max(c, d)) <= limit:
                    continue
                flags[y, x] = DEAD
            else:
                continue
            # Rebuild along the smoothest direction, as edge-directed interpolation does.
            best = 0
            for k in range(1, 4):
                if gradients[k] < gradients[best]:
                    best = k
            residuals = (a, b, c, d)
            out[y, x] = value - residuals[best]


def frame_noise(frame: np.ndarray) -> float:
    """Robust estimate of the noise standard deviation: the median absolute deviation of the difference
    between each sample and its same-colour neighbours two samples away along the row, scaled."""
    rows_wanted = max(1, 100_000 // max(frame.shape[1], 1))  # ~100,000 samples suffice
    step = max(1, frame.shape[0] // rows_wanted)
    sample = np.asarray(frame[::step], dtype=np.float32)
    difference = sample[:, 2:-2] - 0.5 * (sample[:, :-4] + sample[:, 4:])
    return float(1.4826 * np.median(np.abs(difference - np.median(difference))) / np.sqrt(1.5))


def repair_defects(
    frame: np.ndarray, pattern: str | None, threshold: float = 0.3, sigma: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """Find and repair hot and dead pixels.

    Parameters
    ----------
    frame : (H, W) float array
        A Bayer mosaic (``pattern`` given) or a single plane, in [0, 1] (or the units of ``threshold``).
    pattern : str or None
        Bayer pattern of a mosaic; None for a single plane.
    threshold : float
        Smallest departure from every directional prediction that counts as a defect.
    sigma : float
        The departure must also exceed this many times the frame's noise (see :func:`frame_noise`).

    Returns
    -------
    repaired : (H, W) float32 array
    flags : (H, W) uint8 array
        0 for good samples, ``HOT`` (1) or ``DEAD`` (2) for repaired ones.

    Examples
    --------
    >>> frame = np.full((12, 12), 0.2, np.float32); frame[5, 6] = 0.9
    >>> repaired, flags = repair_defects(frame, "RGGB")
    >>> round(float(repaired[5, 6]), 6), int(flags.sum())
    (0.2, 1)
    """
    if frame.ndim != 2:
        raise ValueError(f"defects are repaired one plane at a time; got shape {frame.shape}")
    frame = np.ascontiguousarray(frame, dtype=np.float32)
    green_parity = 1
    if pattern:
        ry, rx = red_phase(pattern)
        green_parity = 1 - ((ry + rx) & 1)
    limit = max(float(threshold), sigma * frame_noise(frame))
    padded = pad_reflect(frame, _MARGIN)
    out = new_array(frame.shape)
    flags = new_array(frame.shape, np.uint8)
    _repair(padded, pattern is not None, green_parity, np.float32(limit), out, flags)
    return out, flags


def saturated(frame: np.ndarray, level: float = 1.0) -> np.ndarray:
    """Boolean mask of samples at or above the clipping level."""
    return np.asarray(frame) >= np.float32(level) * np.float32(0.9999)
