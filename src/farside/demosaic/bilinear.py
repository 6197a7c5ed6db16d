"""Bilinear demosaicing.

Each missing sample is the mean of its nearest same-colour neighbours: the 4 axial ones for green, the 2
axial or 4 diagonal ones for red and blue. The textbook baseline against which every other method is
measured (e.g. R. Ramanath, W. E. Snyder, G. L. Bilbro, W. A. Sander, "Demosaicking methods for Bayer
color arrays", Journal of Electronic Imaging 11(3), 2002).
"""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import native_cfa, new_array, pad_reflect, red_phase

_MARGIN = 1


@nb.njit(inline="always")
def _axial(p, y, x):
    return np.float32(0.25) * (np.float32(p[y - 1, x]) + p[y + 1, x] + p[y, x - 1] + p[y, x + 1])


@nb.njit(inline="always")
def _diagonal(p, y, x):
    return np.float32(0.25) * (
        np.float32(p[y - 1, x - 1]) + p[y - 1, x + 1] + p[y + 1, x - 1] + p[y + 1, x + 1]
    )


@nb.njit(inline="always")
def _horizontal(p, y, x):
    return np.float32(0.5) * (np.float32(p[y, x - 1]) + p[y, x + 1])


@nb.njit(inline="always")
def _vertical(p, y, x):
    return np.float32(0.5) * (np.float32(p[y - 1, x]) + p[y + 1, x])


@nb.njit(inline="always")
def _pixel(p, out, y, x, py, px, red_row, colour_site):
    c = np.float32(p[py, px])
    if colour_site and red_row:
        r, g, b = c, _axial(p, py, px), _diagonal(p, py, px)
    elif colour_site:
        r, g, b = _diagonal(p, py, px), _axial(p, py, px), c
    elif red_row:
        r, g, b = _horizontal(p, py, px), c, _vertical(p, py, px)
    else:
        r, g, b = _vertical(p, py, px), c, _horizontal(p, py, px)
    out[y, x, 0] = r
    out[y, x, 1] = g
    out[y, x, 2] = b


@nb.njit(parallel=True, fastmath=True, cache=True)
def _bilinear(p, ry, rx, out):  # pragma: no cover - compiled
    height, width = out.shape[0], out.shape[1]
    for y in nb.prange(height):
        py = y + _MARGIN
        red_row = (y & 1) == ry
        # Walk the row two samples at a time so each call below has a fixed site type.
        even_is_colour = (rx == 0) == red_row
        for x in range(0, width - 1, 2):
            _pixel(p, out, y, x, py, x + _MARGIN, red_row, even_is_colour)
            _pixel(p, out, y, x + 1, py, x + 1 + _MARGIN, red_row, not even_is_colour)
        if width & 1:
            _pixel(p, out, y, width - 1, py, width - 1 + _MARGIN, red_row, even_is_colour)


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
    padded = pad_reflect(native_cfa(cfa), _MARGIN)
    out = new_array((padded.shape[0] - 2 * _MARGIN, padded.shape[1] - 2 * _MARGIN, 3))
    _bilinear(padded, ry, rx, out)
    return out
