"""The fastest method that still corrects colour edges, for previews and quick looks.

Today it is the Malvar-He-Cutler gradient-corrected filters (H. S. Malvar, L.-W. He, R. Cutler, "High-quality
linear interpolation for demosaicing of Bayer-patterned color images", Proc. IEEE ICASSP 2004, vol. 3,
pp. 485-488) of :mod:`farside.demosaic.malvar2004`, run on the mosaic in its own integer type; the name stays
stable if a faster method of at least that quality replaces them.

The output is bit for bit that of ``malvar2004``. On an 8- or 16-bit mosaic every filter is an integer
combination of samples divided by 16, with magnitudes far below 2**24: float32 arithmetic on the filters
scaled by 16 is therefore exact in any order, and one multiplication by 1/16 (exact too) gives the value
that ``malvar2004`` rounds from float64. That freedom lets the compiler vectorise the loop. Float mosaics,
where the order of additions changes the rounding, go through ``malvar2004``'s own kernel.
"""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import native_cfa, pad_reflect, red_phase
from farside.demosaic.malvar2004 import run_pairs

_MARGIN = 2
_F = np.float32
_SIXTEENTH = _F(0.0625)


@nb.njit(inline="always")
def _colour_site(c0, u1, d1, u2, d2, x):
    # A red or blue sample: the sample itself, green ([-1 2 4 2 -1] cross) and the opposite colour
    # (diagonal filter), the two filters scaled by 16.
    c = _F(c0[x])
    cross_near = _F(c0[x - 1]) + _F(c0[x + 1]) + _F(u1[x]) + _F(d1[x])
    cross_far = _F(c0[x - 2]) + _F(c0[x + 2]) + _F(u2[x]) + _F(d2[x])
    corners = _F(u1[x - 1]) + _F(u1[x + 1]) + _F(d1[x - 1]) + _F(d1[x + 1])
    green = _F(8.0) * c + _F(4.0) * cross_near - _F(2.0) * cross_far
    opposite = _F(12.0) * c + _F(4.0) * corners - _F(3.0) * cross_far
    return c, green, opposite


@nb.njit(inline="always")
def _green_site(c0, u1, d1, u2, d2, x):
    # A green sample: the sample itself and, scaled by 16, the colour whose samples lie left and right
    # ("along the row") and the one whose samples lie above and below.
    c = _F(c0[x])
    near_row = _F(c0[x - 1]) + _F(c0[x + 1])
    near_column = _F(u1[x]) + _F(d1[x])
    far_row = _F(c0[x - 2]) + _F(c0[x + 2])
    far_column = _F(u2[x]) + _F(d2[x])
    corners = _F(u1[x - 1]) + _F(u1[x + 1]) + _F(d1[x - 1]) + _F(d1[x + 1])
    along_row = _F(10.0) * c + _F(8.0) * near_row - _F(2.0) * (far_row + corners) + far_column
    along_column = _F(10.0) * c + _F(8.0) * near_column - _F(2.0) * (far_column + corners) + far_row
    return c, along_row, along_column


@nb.njit(inline="always")
def _row(c0, u1, d1, u2, d2, o, colour_first, own, other, width):
    # One output row. ``own`` is the channel sampled in this row besides green (0 red, 2 blue), ``other``
    # the one sampled in the rows above and below; called with literal arguments, so that each of the four
    # cases compiles to its own branch-free loop. ``o`` is the row flattened: the compiler vectorises the
    # six interleaved stores of a pair when they are flat-indexed, not when they are 2-D.
    first = _MARGIN if colour_first else _MARGIN + 1  # padded column of the first colour site
    second = _MARGIN + 1 if colour_first else _MARGIN  # and of the first green site
    for j in range(width // 2):
        a = first + 2 * j
        b = second + 2 * j
        # Both sites before any store: the compiler cannot tell the output from the mosaic apart, so a
        # store in between would make it load and convert the samples the two sites share once more.
        c, green, opposite = _colour_site(c0, u1, d1, u2, d2, a)
        g, along_row, along_column = _green_site(c0, u1, d1, u2, d2, b)
        oa = 3 * (a - _MARGIN)
        o[oa + own] = c
        o[oa + 1] = green * _SIXTEENTH
        o[oa + other] = opposite * _SIXTEENTH
        ob = 3 * (b - _MARGIN)
        o[ob + own] = along_row * _SIXTEENTH
        o[ob + 1] = g
        o[ob + other] = along_column * _SIXTEENTH
    if width & 1:
        x = width - 1 + _MARGIN
        ox = 3 * (width - 1)
        if colour_first:  # width - 1 is even: the column has the phase of the first
            c, green, opposite = _colour_site(c0, u1, d1, u2, d2, x)
            o[ox + own] = c
            o[ox + 1] = green * _SIXTEENTH
            o[ox + other] = opposite * _SIXTEENTH
        else:
            g, along_row, along_column = _green_site(c0, u1, d1, u2, d2, x)
            o[ox + own] = along_row * _SIXTEENTH
            o[ox + 1] = g
            o[ox + other] = along_column * _SIXTEENTH


@nb.njit(parallel=True, fastmath=True, cache=True)
def _malvar_integer(p, ry, rx, out):  # pragma: no cover - compiled
    height, width = out.shape[0], out.shape[1] // 3
    for y in nb.prange(height):
        py = y + _MARGIN
        c0, u1, d1, u2, d2 = p[py], p[py - 1], p[py + 1], p[py - 2], p[py + 2]
        o = out[y]
        red_row = (y & 1) == ry
        colour_first = (rx == 0) == red_row
        if red_row:
            if colour_first:  # R G
                _row(c0, u1, d1, u2, d2, o, True, 0, 2, width)
            else:  # G R
                _row(c0, u1, d1, u2, d2, o, False, 0, 2, width)
        elif colour_first:  # B G
            _row(c0, u1, d1, u2, d2, o, True, 2, 0, width)
        else:  # G B
            _row(c0, u1, d1, u2, d2, o, False, 2, 0, width)


def fast(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic quickly with Malvar-He-Cutler filters (same output as ``malvar2004``).

    Parameters
    ----------
    cfa : (H, W) array, uint8, uint16 or float
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input.

    Examples
    --------
    >>> fast(np.full((5, 7), 3, np.uint16))[2, 6].tolist()
    [3.0, 3.0, 3.0]
    """
    cfa = native_cfa(cfa)
    if cfa.dtype == np.float32:
        return run_pairs(cfa, pattern)
    ry, rx = red_phase(pattern)
    height, width = cfa.shape
    # Not zero-filled first: the kernel writes every element, and its threads fault the fresh pages in
    # in parallel, which is cheaper than one thread touching them all beforehand.
    out = np.empty((height, width, 3), np.float32)
    _malvar_integer(pad_reflect(cfa, _MARGIN), ry, rx, out.reshape(height, width * 3))
    return out
