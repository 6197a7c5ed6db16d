"""Malvar-He-Cutler gradient-corrected linear demosaicing.

H. S. Malvar, L.-W. He, R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
color images", Proc. IEEE ICASSP 2004, vol. 3, pp. 485-488. Bilinear interpolation corrected by the
Laplacian of the channel sampled at the pixel, with the paper's 5x5 filters (gains 1/2, 5/8, 3/4).
"""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import native_cfa, new_array, pad_reflect, red_phase

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


@nb.njit(inline="always")
def _write(out, y, x, r, g, b):
    out[y, x, 0] = r
    out[y, x, 1] = g
    out[y, x, 2] = b


@nb.njit(parallel=True, fastmath=True, cache=True)
def _malvar_pairs(p, ry, rx, out):  # pragma: no cover - compiled
    height, width = out.shape[0], out.shape[1]
    for y in nb.prange(height):
        py = y + _MARGIN
        red_row = (y & 1) == ry
        # In each pair (x, x + 1) starting at an even x, the first sample has column parity 0.
        first_is_colour = (rx == 0) == red_row  # red in a red row, blue in a blue row
        for x in range(0, width - 1, 2):
            px = x + _MARGIN
            a = np.float32(p[py, px])
            c = np.float32(p[py, px + 1])
            if red_row:
                if first_is_colour:  # R G
                    _write(out, y, x, a, _cross(p, py, px), _diagonal(p, py, px))
                    _write(out, y, x + 1, _along_row(p, py, px + 1), c, _along_column(p, py, px + 1))
                else:  # G R
                    _write(out, y, x, _along_row(p, py, px), a, _along_column(p, py, px))
                    _write(out, y, x + 1, c, _cross(p, py, px + 1), _diagonal(p, py, px + 1))
            else:
                if first_is_colour:  # B G
                    _write(out, y, x, _diagonal(p, py, px), _cross(p, py, px), a)
                    _write(out, y, x + 1, _along_column(p, py, px + 1), c, _along_row(p, py, px + 1))
                else:  # G B
                    _write(out, y, x, _along_column(p, py, px), a, _along_row(p, py, px))
                    _write(out, y, x + 1, _diagonal(p, py, px + 1), _cross(p, py, px + 1), c)
        if width & 1:
            x = width - 1
            px = x + _MARGIN
            v = np.float32(p[py, px])
            colour_site = ((x & 1) == rx) == red_row
            if colour_site and red_row:
                _write(out, y, x, v, _cross(p, py, px), _diagonal(p, py, px))
            elif colour_site:
                _write(out, y, x, _diagonal(p, py, px), _cross(p, py, px), v)
            elif red_row:
                _write(out, y, x, _along_row(p, py, px), v, _along_column(p, py, px))
            else:
                _write(out, y, x, _along_column(p, py, px), v, _along_row(p, py, px))


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
    return run_pairs(native_cfa(cfa), pattern)


def run_pairs(cfa: np.ndarray, pattern: str) -> np.ndarray:
    """Run the Malvar filters over a 2-D mosaic of a type the kernel reads (uint8, uint16, float32)."""
    ry, rx = red_phase(pattern)
    padded = pad_reflect(cfa, _MARGIN)
    out = new_array((padded.shape[0] - 2 * _MARGIN, padded.shape[1] - 2 * _MARGIN, 3))
    _malvar_pairs(padded, ry, rx, out)
    return out
