"""Directional linear minimum mean-square-error (DLMMSE) demosaicing.

L. Zhang, X. Wu, "Color demosaicking via directional linear minimum mean square-error estimation",
IEEE Transactions on Image Processing 14(12), 2005, pp. 2167-2178.

Green is estimated at red and blue sites from two noisy observations of the green-minus-colour difference,
one along the row and one along the column (second-order Hamilton-Adams estimates). Each observation is
denoised by LMMSE against a Gaussian-smoothed version of itself (signal mean and variance from a 9-sample
window, noise variance from the residual), and the two are fused with weights inversely proportional to
their estimation error variances. Red and blue are then filled by interpolating colour differences:
diagonally at blue/red sites, then axially at green sites (using the red/blue just estimated).
"""

from __future__ import annotations

import math

import numpy as np

from farside import _jit as nb
from farside.cfa import as_float_cfa, new_array, pad_reflect, red_phase

_MARGIN = 12
_HALF = 4  # the Gaussian and the statistics window span 2 * 4 + 1 = 9 samples
_GAUSS = np.array([math.exp(-(k * k) / 8.0) for k in range(-_HALF, _HALF + 1)], np.float32)
_GAUSS /= _GAUSS.sum()
_EPS = np.float32(1e-10)


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _observations(p, ry, rx, dh, dv):  # pragma: no cover - compiled
    # Green-minus-colour differences along rows (dh) and columns (dv), at every site.
    height, width = p.shape
    for y in nb.prange(height):
        green_first = ((y & 1) == ry) == (rx == 1)  # is (y, 0) a green site?
        for x in range(2, width - 2):
            estimate = 0.5 * (p[y, x - 1] + p[y, x + 1]) + 0.25 * (2.0 * p[y, x] - p[y, x - 2] - p[y, x + 2])
            green = ((x & 1) == 0) == green_first
            dh[y, x] = p[y, x] - estimate if green else estimate - p[y, x]
        if 2 <= y < height - 2:
            for x in range(width):
                estimate = 0.5 * (p[y - 1, x] + p[y + 1, x]) + 0.25 * (
                    2.0 * p[y, x] - p[y - 2, x] - p[y + 2, x]
                )
                green = ((x & 1) == 0) == green_first
                dv[y, x] = p[y, x] - estimate if green else estimate - p[y, x]


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _smooth(dh, dv, gauss, sh, sv):  # pragma: no cover - compiled
    height, width = dh.shape
    for y in nb.prange(height):
        for x in range(_HALF + 2, width - _HALF - 2):
            acc = np.float32(0.0)
            for k in range(-_HALF, _HALF + 1):
                acc += gauss[k + _HALF] * dh[y, x + k]
            sh[y, x] = acc
        if _HALF + 2 <= y < height - _HALF - 2:
            for x in range(width):
                sv[y, x] = 0.0
            for k in range(-_HALF, _HALF + 1):
                weight = gauss[k + _HALF]
                for x in range(width):
                    sv[y, x] += weight * dv[y + k, x]


@nb.njit(inline="always")
def _estimate(mean, mean_sq, noise, observed):
    # LMMSE estimate of the difference signal and its error variance, from window statistics.
    var_x = max(mean_sq - mean * mean, np.float32(0.0)) + _EPS
    var_n = noise + _EPS
    gain = var_x / (var_x + var_n)
    return mean + gain * (observed - mean), var_x * (1 - gain)


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _green(p, ry, rx, dh, dv, sh, sv, g):  # pragma: no cover - compiled
    height, width = p.shape
    lo, hi = _MARGIN - 2, height - _MARGIN + 2
    inv = np.float32(1.0 / (2 * _HALF + 1))
    for y in nb.prange(lo, hi):
        green_first = ((y & 1) == ry) == (rx == 1)
        for x in range(_MARGIN - 2, width - _MARGIN + 2):
            if ((x & 1) == 0) == green_first:
                g[y, x] = p[y, x]
                continue
            # Row direction: signal statistics from the smoothed differences, noise from the residual.
            m = np.float32(0.0)
            m2 = np.float32(0.0)
            n2 = np.float32(0.0)
            for k in range(-_HALF, _HALF + 1):
                s = sh[y, x + k]
                r = dh[y, x + k] - s
                m += s
                m2 += s * s
                n2 += r * r
            est_h, err_h = _estimate(m * inv, m2 * inv, n2 * inv, dh[y, x])
            # Column direction.
            m = np.float32(0.0)
            m2 = np.float32(0.0)
            n2 = np.float32(0.0)
            for k in range(-_HALF, _HALF + 1):
                s = sv[y + k, x]
                r = dv[y + k, x] - s
                m += s
                m2 += s * s
                n2 += r * r
            est_v, err_v = _estimate(m * inv, m2 * inv, n2 * inv, dv[y, x])
            g[y, x] = p[y, x] + (err_v * est_h + err_h * est_v) / (err_h + err_v)


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _chroma(p, ry, rx, g, other, out):  # pragma: no cover - compiled
    height, width = p.shape
    h_out, w_out = height - 2 * _MARGIN, width - 2 * _MARGIN
    # Pass 1: red at blue sites and blue at red sites, from the four diagonal colour differences.
    # The result goes to a padded scratch plane so pass 2 can read it across the frame edges.
    for y in nb.prange(_MARGIN - 1, height - _MARGIN + 1):
        red_row = (y & 1) == ry
        for x in range(_MARGIN - 1, width - _MARGIN + 1):
            red_col = (x & 1) == rx
            if red_row == red_col:  # a red or a blue site
                diff = 0.25 * (
                    (g[y - 1, x - 1] - p[y - 1, x - 1])
                    + (g[y - 1, x + 1] - p[y - 1, x + 1])
                    + (g[y + 1, x - 1] - p[y + 1, x - 1])
                    + (g[y + 1, x + 1] - p[y + 1, x + 1])
                )
                other[y, x] = g[y, x] - diff
    # Pass 2: at every site write R, G, B; at green sites red and blue come from the four axial
    # differences (two measured, two estimated in pass 1).
    for y in nb.prange(h_out):
        py = y + _MARGIN
        red_row = (py & 1) == ry
        for x in range(w_out):
            px = x + _MARGIN
            red_col = (px & 1) == rx
            gv = g[py, px]
            if red_row == red_col:
                if red_row:
                    r, b = p[py, px], other[py, px]
                else:
                    r, b = other[py, px], p[py, px]
            else:
                # Horizontal neighbours carry red in a red row, blue otherwise; vertical ones the other.
                h_diff = 0.5 * ((g[py, px - 1] - p[py, px - 1]) + (g[py, px + 1] - p[py, px + 1]))
                v_diff = 0.5 * ((g[py - 1, px] - p[py - 1, px]) + (g[py + 1, px] - p[py + 1, px]))
                h_other = 0.5 * ((g[py - 1, px] - other[py - 1, px]) + (g[py + 1, px] - other[py + 1, px]))
                v_other = 0.5 * ((g[py, px - 1] - other[py, px - 1]) + (g[py, px + 1] - other[py, px + 1]))
                # Average the measured pair with the estimated pair for each colour.
                if red_row:
                    r = gv - 0.5 * (h_diff + h_other)
                    b = gv - 0.5 * (v_diff + v_other)
                else:
                    r = gv - 0.5 * (v_diff + v_other)
                    b = gv - 0.5 * (h_diff + h_other)
            out[y, x, 0] = r
            out[y, x, 1] = gv
            out[y, x, 2] = b


def lmmse(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic a Bayer mosaic with Zhang-Wu directional LMMSE interpolation.

    Parameters
    ----------
    cfa : (H, W) array of any real dtype
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input.

    Examples
    --------
    >>> lmmse(np.full((16, 16), 40.0))[8, 8].round(3).tolist()
    [40.0, 40.0, 40.0]
    """
    ry, rx = red_phase(pattern)
    p = pad_reflect(as_float_cfa(cfa), _MARGIN)
    # Every kernel writes all the samples the next one reads (the margins absorb the filter supports).
    dh, dv, sh, sv, g = (new_array(p.shape) for _ in range(5))
    _observations(p, ry, rx, dh, dv)
    _smooth(dh, dv, _GAUSS, sh, sv)
    _green(p, ry, rx, dh, dv, sh, sv, g)
    out = new_array((p.shape[0] - 2 * _MARGIN, p.shape[1] - 2 * _MARGIN, 3))
    _chroma(p, ry, rx, g, dh, out)  # dh is free again: reuse it as scratch
    return out
