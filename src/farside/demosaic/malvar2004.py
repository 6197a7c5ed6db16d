"""Malvar-He-Cutler gradient-corrected linear demosaicing.

H. S. Malvar, L.-W. He, R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
color images", Proc. IEEE ICASSP 2004, vol. 3, pp. 485-488. Bilinear interpolation corrected by the
Laplacian of the channel sampled at the pixel, with the paper's 5x5 filters (gains 1/2, 5/8, 3/4).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farside.demosaic._common import as_float_cfa, pad_reflect, red_phase

_MARGIN = 2


@nb.njit(inline="always")
def _cross(p: np.ndarray, y: int, x: int) -> float:
    # Green at a red or blue site: [-1 2 4 2 -1] cross / 8.
    return (
        4.0 * p[y, x]
        + 2.0 * (p[y - 1, x] + p[y + 1, x] + p[y, x - 1] + p[y, x + 1])
        - (p[y - 2, x] + p[y + 2, x] + p[y, x - 2] + p[y, x + 2])
    ) * 0.125


@nb.njit(inline="always")
def _along_row(p: np.ndarray, y: int, x: int) -> float:
    # The colour whose samples are left/right of a green site.
    return (
        5.0 * p[y, x]
        + 4.0 * (p[y, x - 1] + p[y, x + 1])
        - (p[y, x - 2] + p[y, x + 2])
        - (p[y - 1, x - 1] + p[y - 1, x + 1] + p[y + 1, x - 1] + p[y + 1, x + 1])
        + 0.5 * (p[y - 2, x] + p[y + 2, x])
    ) * 0.125


@nb.njit(inline="always")
def _along_column(p: np.ndarray, y: int, x: int) -> float:
    # The colour whose samples are above/below a green site.
    return (
        5.0 * p[y, x]
        + 4.0 * (p[y - 1, x] + p[y + 1, x])
        - (p[y - 2, x] + p[y + 2, x])
        - (p[y - 1, x - 1] + p[y - 1, x + 1] + p[y + 1, x - 1] + p[y + 1, x + 1])
        + 0.5 * (p[y, x - 2] + p[y, x + 2])
    ) * 0.125


@nb.njit(inline="always")
def _diagonal(p: np.ndarray, y: int, x: int) -> float:
    # Red at blue sites and blue at red sites.
    return (
        6.0 * p[y, x]
        + 2.0 * (p[y - 1, x - 1] + p[y - 1, x + 1] + p[y + 1, x - 1] + p[y + 1, x + 1])
        - 1.5 * (p[y - 2, x] + p[y + 2, x] + p[y, x - 2] + p[y, x + 2])
    ) * 0.125


@nb.njit(parallel=True, fastmath=True, cache=True)
def _malvar(p: np.ndarray, ry: int, rx: int) -> np.ndarray:
    height, width = p.shape[0] - 2 * _MARGIN, p.shape[1] - 2 * _MARGIN
    out = np.empty((height, width, 3), np.float32)
    for y in nb.prange(height):
        py = y + _MARGIN
        red_row = (y & 1) == ry
        for x in range(width):
            px = x + _MARGIN
            red_col = (x & 1) == rx
            c = p[py, px]
            if red_row and red_col:
                r, g, b = c, _cross(p, py, px), _diagonal(p, py, px)
            elif not red_row and not red_col:
                r, g, b = _diagonal(p, py, px), _cross(p, py, px), c
            elif red_row:
                r, g, b = _along_row(p, py, px), c, _along_column(p, py, px)
            else:
                r, g, b = _along_column(p, py, px), c, _along_row(p, py, px)
            out[y, x, 0] = r
            out[y, x, 1] = g
            out[y, x, 2] = b
    return out


def malvar2004(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic a Bayer mosaic with Malvar-He-Cutler (2004) gradient-corrected interpolation.

    Parameters
    ----------
    cfa : (H, W) array of any real dtype
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.

    Returns
    -------
    (H, W, 3) float32 array, in the scale of the input (values may overshoot it slightly near edges).

    Examples
    --------
    >>> malvar2004(np.full((6, 6), 100, np.uint8))[2, 3].tolist()
    [100.0, 100.0, 100.0]
    """
    ry, rx = red_phase(pattern)
    return _malvar(pad_reflect(as_float_cfa(cfa), _MARGIN), ry, rx)
