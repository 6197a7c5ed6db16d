"""Defective pixels: hot, dead and stuck pixels, and clipped (saturated) samples.

A defect is a single sample that departs from all its neighbours, the same-colour ones included. Real
detail cannot do that: light reaches the sensor through optics whose point-spread function (lens, optical
low-pass filter, pixel aperture) is at least ``psf_sigma`` samples wide, so a star, a glint or a fine bright
texture element always lends part of itself to the adjacent samples. For a Gaussian PSF of width sigma,
along a row or column the two adjacent samples rise above the background by at least
``exp(-1 / (2 sigma**2))`` of what the sample itself does (0.25 for sigma 0.6), along a diagonal by at least
``exp(-1 / sigma**2)``, whatever the scene. A hot pixel, a dead pixel or one stuck at some value breaks that
bound, because its neighbours did not see its excess.

The test has two parts:

1. The sample departs in the same sense from its prediction along each of the four directions (row,
   column, both diagonals; on a Bayer mosaic the predictions follow the colour differences to the adjacent
   samples, so an edge or a colour boundary is predictable along it) by more than ``threshold`` (a fraction
   of full scale) and more than ``sigma`` times the noise expected at its level. The noise follows
   ``variance = read + shot * signal`` (shot noise grows with the signal), fitted to the frame.
2. In at least two directions the adjacent samples carry clearly less of its departure from the local
   background than the optics would give them (by more than the noise). The background along each line is
   the even parabola through the samples two and three away (exact for a flat, sloping or curved one). On a
   mosaic the adjacent samples are other colours: the colours are first put on a common scale by their mean
   levels around the sample, so that a highlight of the local colour raises them all alike.

A defect is rebuilt from the prediction along the smoothest direction, as edge-directed interpolation does.
Frames whose detail can be narrower than a sample (a camera without a low-pass filter and a lens sharper
than ``psf_sigma``, or an image sharpened or resampled after capture) should not be repaired
(``--no-hot-pixels``).
"""

from __future__ import annotations

import math

import numpy as np

from farside import _jit as nb
from farside.cfa import new_array, pad_reflect, red_phase

HOT = 1
DEAD = 2
_MARGIN = 3
_EVIDENCE = 2  # directions in which the neighbours must fail to share a defect's excess
_REACH = 8  # local colour balance from the samples within this many rows and columns


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


@nb.njit(inline="always")
def _scaled(p, y, x, gains):
    return p[y, x] * gains[((y - _MARGIN) & 1) * 2 + ((x - _MARGIN) & 1)]


@nb.njit(inline="always")
def _unsupported(p, gains, y, x, dy, dx, v, sign, spread):
    """How far, along direction (dy, dx), the two adjacent samples fall short of ``spread`` times the
    sample's departure from the line's background (``sign`` 1: above it, -1: below), all on the common
    colour scale ``gains``: positive where optics cannot have made the sample. The background is the even
    parabola through the means of the samples two and three away on either side: exact for a flat, sloping
    or curved one, and raised by far less than the adjacent samples by a detail at the sample."""
    m3, p3 = _scaled(p, y - 3 * dy, x - 3 * dx, gains), _scaled(p, y + 3 * dy, x + 3 * dx, gains)
    m2, p2 = _scaled(p, y - 2 * dy, x - 2 * dx, gains), _scaled(p, y + 2 * dy, x + 2 * dx, gains)
    adjacent = np.float32(0.5) * (_scaled(p, y + dy, x + dx, gains) + _scaled(p, y - dy, x - dx, gains))
    near, far = np.float32(0.5) * (m2 + p2), np.float32(0.5) * (m3 + p3)
    curvature = (far - near) / np.float32(5.0)  # background(t) = base + curvature * t**2
    # Never beyond the samples it comes from (a slope into clipping would overshoot).
    lowest, highest = min(min(m2, p2), min(m3, p3)), max(max(m2, p2), max(m3, p3))
    base = min(max(near - np.float32(4.0) * curvature, lowest), highest)
    departure = sign * (v - base)
    curved = spread * departure - sign * (adjacent - base - curvature)
    # Where the two sides disagree with any smooth background (their slopes two and three samples out
    # differ: another detail on one side, such as a star two samples away), the sample must also fail the
    # bound measured from the line's floor on the side away from it, each colour from its own.
    if abs((p2 - m2) / np.float32(4.0) - (p3 - m3) / np.float32(6.0)) <= np.float32(0.1) * abs(departure):
        return curved
    near_floor, far_floor = min(sign * m2, sign * p2), min(sign * m3, sign * p3)
    return min(curved, spread * (sign * v - near_floor) - (sign * adjacent - far_floor))


@nb.njit(inline="always")
def _local_gains(p, y, x, mosaic, green_parity, reach):
    """Factors putting the four colours of the Bayer cell on green's scale around (y, x): the ratio of the
    mean green to the mean of each, over the samples within ``reach``. Detail of the local colour (a glint
    on gold foil, a star on the sky) then raises every colour alike."""
    one = np.float32(1.0)
    if not mosaic:
        return (one, one, one, one)
    height, width = p.shape
    s0 = s1 = s2 = s3 = np.float32(0.0)
    n0 = n1 = n2 = n3 = 0
    for yy in range(max(0, y - reach), min(height, y + reach + 1)):
        for xx in range(max(0, x - reach), min(width, x + reach + 1)):
            k = ((yy - _MARGIN) & 1) * 2 + ((xx - _MARGIN) & 1)
            if k == 0:
                s0 += p[yy, xx]
                n0 += 1
            elif k == 1:
                s1 += p[yy, xx]
                n1 += 1
            elif k == 2:
                s2 += p[yy, xx]
                n2 += 1
            else:
                s3 += p[yy, xx]
                n3 += 1
    m0, m1, m2, m3 = s0 / max(n0, 1), s1 / max(n1, 1), s2 / max(n2, 1), s3 / max(n3, 1)
    green = np.float32(0.5) * ((m1 + m2) if green_parity == 1 else (m0 + m3))
    floor = np.float32(1e-3) * abs(green) + np.float32(1e-9)
    low, high = np.float32(1.0 / 16.0), np.float32(16.0)
    return (
        min(max((green + floor) / (m0 + floor), low), high),
        min(max((green + floor) / (m1 + floor), low), high),
        min(max((green + floor) / (m2 + floor), low), high),
        min(max((green + floor) / (m3 + floor), low), high),
    )


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _repair(p, mosaic, green_parity, threshold, sigma, read, shot, spread, out, flags):  # pragma: no cover
    height, width = out.shape
    axial, diagonal = spread
    half = np.float32(0.5)
    for y in nb.prange(height):
        for x in range(width):
            flags[y, x] = 0
            py, px = y + _MARGIN, x + _MARGIN
            value = p[py, px]
            # The row residual alone rules out almost every sample: a defect departs in all four directions.
            if mosaic:
                row = _row_difference(p, py, px) - half * (
                    _row_difference(p, py, px - 2) + _row_difference(p, py, px + 2)
                )
            else:
                row = _row_difference(p, py, px)
            if abs(row) <= threshold:
                continue
            green = ((y + x) & 1) == green_parity
            (a, b, c, d), gradients = _directions(p, py, px, mosaic, green)
            if a > 0 and b > 0 and c > 0 and d > 0:
                sign, departure, level = 1, min(min(a, b), min(c, d)), value
            elif a < 0 and b < 0 and c < 0 and d < 0:
                sign, departure = -1, -max(max(a, b), max(c, d))
                level = value + departure
            else:
                continue
            # Large against the noise expected at this level (shot noise grows with the signal) ...
            noise = math.sqrt(read + shot * max(level, np.float32(0.0)))
            if departure <= max(threshold, sigma * noise):
                continue
            # ... and not shared with the adjacent samples as the optics share real detail.
            gains = _local_gains(p, py, px, mosaic, green_parity, _REACH)
            gain = gains[(y & 1) * 2 + (x & 1)]
            v, margin = value * gain, noise * gain
            unsupported = (
                (_unsupported(p, gains, py, px, 0, 1, v, sign, axial) > margin)
                + (_unsupported(p, gains, py, px, 1, 0, v, sign, axial) > margin)
                + (_unsupported(p, gains, py, px, 1, 1, v, sign, diagonal) > margin)
                + (_unsupported(p, gains, py, px, 1, -1, v, sign, diagonal) > margin)
            )
            if unsupported < _EVIDENCE:
                continue
            flags[y, x] = HOT if sign == 1 else DEAD
            # Rebuild along the smoothest direction, as edge-directed interpolation does.
            best = 0
            for k in range(1, 4):
                if gradients[k] < gradients[best]:
                    best = k
            residuals = (a, b, c, d)
            out[y, x] = value - residuals[best]


def noise_model(frame: np.ndarray, pattern: str | None = None) -> tuple[float, float]:
    """The frame's noise as ``variance = read + shot * signal`` (shot noise grows with the signal).

    Each sample is compared with the mean of its two nearest same-colour neighbours on a line (the
    diagonal greens on a mosaic, the row on a plane); where those two agree (the flattest quarter at each
    signal level, which leaves most detail out; the noise of their mean does not depend on their
    difference), the spread of that difference (median absolute deviation) gives the noise at that level.
    A straight line is fitted through the levels."""
    rows_wanted = max(1, 25_000 // max(frame.shape[1], 1))
    step = max(1, frame.shape[0] // rows_wanted)
    if pattern:  # a green sample and the greens diagonally beside it
        ry, rx = red_phase(pattern)
        rows = np.arange(ry + 2, frame.shape[0] - 1, 2 * max(1, step // 2))
        cols = np.arange(1 - rx + 2, frame.shape[1] - 1, 2)
        centre = np.asarray(frame[np.ix_(rows, cols)], dtype=np.float64)
        left = np.asarray(frame[np.ix_(rows - 1, cols - 1)], dtype=np.float64)
        right = np.asarray(frame[np.ix_(rows + 1, cols + 1)], dtype=np.float64)
    else:
        sample = np.asarray(frame[::step], dtype=np.float64)
        centre, left, right = sample[:, 1:-1], sample[:, :-2], sample[:, 2:]
    if centre.size < 200:
        return 0.0, 0.0
    difference = (centre - 0.5 * (left + right)).ravel()
    level = (0.5 * (left + right)).ravel()
    slope = np.abs(left - right).ravel()
    order = np.argsort(level)
    levels, variances = [], []
    for chunk in np.array_split(order, 16):
        if chunk.size < 12:
            continue
        flat = chunk[slope[chunk] <= np.quantile(slope[chunk], 0.25)]
        d = difference[flat]
        mad = np.median(np.abs(d - np.median(d)))
        levels.append(float(np.median(level[flat])))
        variances.append(float((1.4826 * mad) ** 2 / 1.5))
    if not levels:
        return 0.0, 0.0
    x, v = np.asarray(levels), np.asarray(variances)
    shot, read = np.polyfit(x, v, 1) if np.ptp(x) > 1e-9 else (0.0, float(np.median(v)))
    if shot < 0:
        shot, read = 0.0, float(np.median(v))
    if read < 0:
        read, shot = 0.0, float(np.dot(x, v) / max(np.dot(x, x), 1e-12))
    return float(read), float(shot)


def frame_noise(frame: np.ndarray, pattern: str | None = None) -> float:
    """Noise standard deviation at the frame's median level, from :func:`noise_model`."""
    read, shot = noise_model(frame, pattern)
    return math.sqrt(read + shot * max(float(np.median(frame[::8, ::8])), 0.0))


def repair_defects(
    frame: np.ndarray,
    pattern: str | None,
    threshold: float = 0.3,
    sigma: float = 8.0,
    *,
    psf_sigma: float = 0.6,
) -> tuple[np.ndarray, np.ndarray]:
    """Find and repair hot, dead and stuck pixels (see the module's description of the test).

    Parameters
    ----------
    frame : (H, W) float array
        A Bayer mosaic (``pattern`` given) or a single plane, in [0, 1] (or the units of ``threshold``).
    pattern : str or None
        Bayer pattern of a mosaic; None for a single plane.
    threshold : float
        Smallest departure from the neighbourhood that counts as a defect.
    sigma : float
        The departure must also exceed this many times the noise expected at the sample's level (see
        :func:`noise_model`); the adjacent samples' share of it must fall short of the optics' by more
        than that noise.
    psf_sigma : float
        Narrowest point-spread function (Gaussian sigma, in samples) the camera's optics can have: detail
        after such optics spreads over the adjacent samples, defects do not.

    Returns
    -------
    repaired : (H, W) float32 array
    flags : (H, W) uint8 array
        0 for good samples, ``HOT`` (1) or ``DEAD`` (2) for repaired ones (a stuck pixel is hot or dead
        depending on which side of the scene it is stuck).

    Examples
    --------
    >>> frame = np.full((12, 12), 0.2, np.float32); frame[5, 6] = 0.9
    >>> repaired, flags = repair_defects(frame, "RGGB")
    >>> round(float(repaired[5, 6]), 6), int(flags.sum())
    (0.2, 1)
    """
    if frame.ndim != 2:
        raise ValueError(f"defects are repaired one plane at a time; got shape {frame.shape}")
    if psf_sigma <= 0:
        raise ValueError(f"psf_sigma must be positive; got {psf_sigma}")
    frame = np.ascontiguousarray(frame, dtype=np.float32)
    green_parity = 1
    if pattern:
        ry, rx = red_phase(pattern)
        green_parity = 1 - ((ry + rx) & 1)
    read, shot = noise_model(frame, pattern)
    spread = (np.float32(math.exp(-0.5 / psf_sigma**2)), np.float32(math.exp(-1.0 / psf_sigma**2)))
    padded = pad_reflect(frame, _MARGIN)
    out = frame.copy()
    flags = new_array(frame.shape, np.uint8)
    limits = np.float32(threshold), np.float32(sigma), np.float32(read), np.float32(shot)

    def repair_rows(start: int, stop: int) -> None:
        _repair(padded[start : stop + 2 * _MARGIN], pattern is not None, green_parity, *limits, spread,
                out[start:stop], flags[start:stop])  # fmt: skip

    nb.in_row_blocks(frame.shape[0], repair_rows)
    return out, flags


def saturated(frame: np.ndarray, level: float = 1.0) -> np.ndarray:
    """Boolean mask of samples at or above the clipping level."""
    return np.asarray(frame) >= np.float32(level) * np.float32(0.9999)
