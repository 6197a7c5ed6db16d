"""Bilinear demosaicing.

Each missing sample is the mean of its nearest same-colour neighbours: the 4 axial ones for green, the 2
axial or 4 diagonal ones for red and blue. The textbook baseline against which every other method is
measured (e.g. R. Ramanath, W. E. Snyder, G. L. Bilbro, W. A. Sander, "Demosaicking methods for Bayer
color arrays", Journal of Electronic Imaging 11(3), 2002).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farside.demosaic._common import as_float_cfa, pad_reflect, red_phase

_MARGIN = 1


@nb.njit(parallel=True, fastmath=True, cache=True)
def _bilinear(p: np.ndarray, ry: int, rx: int) -> np.ndarray:
    height, width = p.shape[0] - 2 * _MARGIN, p.shape[1] - 2 * _MARGIN
    out = np.empty((height, width, 3), np.float32)
    for y in nb.prange(height):
        py = y + _MARGIN
        red_row = (y & 1) == ry
        for x in range(width):
            px = x + _MARGIN
            red_col = (x & 1) == rx
            c = p[py, px]
            axial = 0.25 * (p[py - 1, px] + p[py + 1, px] + p[py, px - 1] + p[py, px + 1])
            diagonal = 0.25 * (p[py - 1, px - 1] + p[py - 1, px + 1] + p[py + 1, px - 1] + p[py + 1, px + 1])
            horizontal = 0.5 * (p[py, px - 1] + p[py, px + 1])
            vertical = 0.5 * (p[py - 1, px] + p[py + 1, px])
            if red_row and red_col:
                r, g, b = c, axial, diagonal
            elif not red_row and not red_col:
                r, g, b = diagonal, axial, c
            elif red_row:
                r, g, b = horizontal, c, vertical
            else:
                r, g, b = vertical, c, horizontal
            out[y, x, 0] = r
            out[y, x, 1] = g
            out[y, x, 2] = b
    return out


def bilinear(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic a Bayer mosaic by bilinear interpolation.

    Parameters
    ----------
    cfa : (H, W) array of any real dtype
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.

    Returns
    -------
    (H, W, 3) float32 array, in the scale of the input.

    Examples
    --------
    >>> bilinear(np.full((4, 4), 7, np.uint16))[1, 1].tolist()
    [7.0, 7.0, 7.0]
    """
    ry, rx = red_phase(pattern)
    return _bilinear(pad_reflect(as_float_cfa(cfa), _MARGIN), ry, rx)
