"""Demosaicing with directional filtering and a posteriori decision (DDFAPD).

D. Menon, S. Andriani, G. Calvagno, "Demosaicing with directional filtering and a posteriori decision",
IEEE Transactions on Image Processing 16(1), 2007, pp. 132-141.

Green is interpolated along rows and along columns with the 5-tap filter [-1/4, 1/2, 1/2, 1/2, -1/4]
(written as [0, 1/2, 0, 1/2, 0] + [-1/4, 0, 1/2, 0, -1/4]); at each red/blue site the direction whose
colour differences vary least over the neighbourhood (the paper's classifier, weights 1 and 3) is kept.
Red and blue follow from colour differences along the chosen direction, then the paper's refining step
re-estimates green, red and blue from low-passed colour differences along that direction.
"""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import as_float_cfa, pad_reflect, red_phase

_MARGIN = 20


@nb.njit(inline="always")
def _site(y, x, ry, rx):  # 0 red, 1 green, 2 blue
    red_row = (y & 1) == ry
    red_col = (x & 1) == rx
    if red_row and red_col:
        return 0
    if not red_row and not red_col:
        return 2
    return 1


@nb.njit(parallel=True, fastmath=True, cache=True)
def _directional_green(p, ry, rx, gh, gv, ch, cv):  # pragma: no cover - compiled
    height, width = p.shape
    for y in nb.prange(2, height - 2):
        for x in range(2, width - 2):
            if _site(y, x, ry, rx) == 1:
                gh[y, x] = p[y, x]
                gv[y, x] = p[y, x]
                ch[y, x] = 0.0
                cv[y, x] = 0.0
            else:
                h = 0.5 * (p[y, x - 1] + p[y, x + 1]) + 0.5 * p[y, x] - 0.25 * (p[y, x - 2] + p[y, x + 2])
                v = 0.5 * (p[y - 1, x] + p[y + 1, x]) + 0.5 * p[y, x] - 0.25 * (p[y - 2, x] + p[y + 2, x])
                gh[y, x] = h
                gv[y, x] = v
                ch[y, x] = p[y, x] - h
                cv[y, x] = p[y, x] - v


@nb.njit(inline="always")
def _dh(ch, y, x):
    return abs(ch[y, x] - ch[y, x + 2])


@nb.njit(inline="always")
def _dv(cv, y, x):
    return abs(cv[y, x] - cv[y + 2, x])


@nb.njit(parallel=True, fastmath=True, cache=True)
def _decide(gh, gv, ch, cv, g, horizontal):  # pragma: no cover - compiled
    height, width = g.shape
    for y in nb.prange(4, height - 4):
        for x in range(4, width - 4):
            d_h = (
                _dh(ch, y - 2, x - 2) + _dh(ch, y - 2, x) + 3.0 * (_dh(ch, y, x - 2) + _dh(ch, y, x))
                + _dh(ch, y + 2, x - 2) + _dh(ch, y + 2, x) + _dh(ch, y - 1, x - 1) + _dh(ch, y + 1, x - 1)
            )  # fmt: skip
            d_v = (
                _dv(cv, y - 2, x - 2) + _dv(cv, y, x - 2) + 3.0 * (_dv(cv, y - 2, x) + _dv(cv, y, x))
                + _dv(cv, y - 2, x + 2) + _dv(cv, y, x + 2) + _dv(cv, y - 1, x - 1) + _dv(cv, y - 1, x + 1)
            )  # fmt: skip
            use_h = d_v >= d_h
            horizontal[y, x] = use_h
            g[y, x] = gh[y, x] if use_h else gv[y, x]


@nb.njit(parallel=True, fastmath=True, cache=True)
def _red_blue(p, ry, rx, g, horizontal, r, b):  # pragma: no cover - compiled
    height, width = p.shape
    # Measured samples, then red and blue at green sites from the neighbours that carry them.
    for y in nb.prange(height):
        for x in range(width):
            site = _site(y, x, ry, rx)
            r[y, x] = p[y, x] if site == 0 else 0.0
            b[y, x] = p[y, x] if site == 2 else 0.0
    for y in nb.prange(1, height - 1):
        red_row = (y & 1) == ry
        for x in range(1, width - 1):
            if _site(y, x, ry, rx) != 1:
                continue
            gh_avg = 0.5 * (g[y, x - 1] + g[y, x + 1])
            gv_avg = 0.5 * (g[y - 1, x] + g[y + 1, x])
            if red_row:
                r[y, x] = g[y, x] + 0.5 * (p[y, x - 1] + p[y, x + 1]) - gh_avg
                b[y, x] = g[y, x] + 0.5 * (p[y - 1, x] + p[y + 1, x]) - gv_avg
            else:
                r[y, x] = g[y, x] + 0.5 * (p[y - 1, x] + p[y + 1, x]) - gv_avg
                b[y, x] = g[y, x] + 0.5 * (p[y, x - 1] + p[y, x + 1]) - gh_avg
    # Red at blue sites and blue at red sites, along the direction chosen for green.
    for y in nb.prange(1, height - 1):
        for x in range(1, width - 1):
            site = _site(y, x, ry, rx)
            if site == 1:
                continue
            if horizontal[y, x]:
                dr = 0.5 * (r[y, x - 1] + r[y, x + 1])
                db = 0.5 * (b[y, x - 1] + b[y, x + 1])
            else:
                dr = 0.5 * (r[y - 1, x] + r[y + 1, x])
                db = 0.5 * (b[y - 1, x] + b[y + 1, x])
            if site == 2:
                r[y, x] = p[y, x] + dr - db
            else:
                b[y, x] = p[y, x] + db - dr


@nb.njit(inline="always")
def _mean3(a, c, y, x, horizontal):
    # Mean of (a - c) over three samples along the chosen direction.
    if horizontal:
        return (a[y, x - 1] - c[y, x - 1] + a[y, x] - c[y, x] + a[y, x + 1] - c[y, x + 1]) / 3.0
    return (a[y - 1, x] - c[y - 1, x] + a[y, x] - c[y, x] + a[y + 1, x] - c[y + 1, x]) / 3.0


@nb.njit(parallel=True, fastmath=True, cache=True)
def _refine(ry, rx, horizontal, r, g, b, g2):  # pragma: no cover - compiled
    height, width = g.shape
    # 1. Green at red and blue sites from the low-passed colour difference.
    for y in nb.prange(1, height - 1):
        for x in range(1, width - 1):
            site = _site(y, x, ry, rx)
            if site == 0:
                g2[y, x] = r[y, x] - _mean3(r, g, y, x, horizontal[y, x])
            elif site == 2:
                g2[y, x] = b[y, x] - _mean3(b, g, y, x, horizontal[y, x])
            else:
                g2[y, x] = g[y, x]
    # 2. Red and blue at green sites from the refined differences of their measured neighbours.
    for y in nb.prange(1, height - 1):
        red_row = (y & 1) == ry
        for x in range(1, width - 1):
            if _site(y, x, ry, rx) != 1:
                continue
            gv = g2[y, x]
            h_r = 0.5 * (r[y, x - 1] - g2[y, x - 1] + r[y, x + 1] - g2[y, x + 1])
            v_r = 0.5 * (r[y - 1, x] - g2[y - 1, x] + r[y + 1, x] - g2[y + 1, x])
            h_b = 0.5 * (b[y, x - 1] - g2[y, x - 1] + b[y, x + 1] - g2[y, x + 1])
            v_b = 0.5 * (b[y - 1, x] - g2[y - 1, x] + b[y + 1, x] - g2[y + 1, x])
            if red_row:
                r[y, x] = gv + h_r
                b[y, x] = gv + v_b
            else:
                r[y, x] = gv + v_r
                b[y, x] = gv + h_b
    # 3. Red at blue sites and blue at red sites from the low-passed red-minus-blue difference.
    for y in nb.prange(1, height - 1):
        for x in range(1, width - 1):
            site = _site(y, x, ry, rx)
            if site == 1:
                g[y, x] = g2[y, x]
                continue
            rb = _mean3(r, b, y, x, horizontal[y, x])
            g[y, x] = rb  # scratch: applied below once every difference is read
    for y in nb.prange(1, height - 1):
        for x in range(1, width - 1):
            site = _site(y, x, ry, rx)
            if site == 2:
                r[y, x] = b[y, x] + g[y, x]
            elif site == 0:
                b[y, x] = r[y, x] - g[y, x]
    for y in nb.prange(1, height - 1):
        for x in range(1, width - 1):
            if _site(y, x, ry, rx) != 1:
                g[y, x] = g2[y, x]


def menon2007(cfa: np.ndarray, pattern: str = "RGGB", refining_step: bool = True) -> np.ndarray:
    """Demosaic a Bayer mosaic with Menon, Andriani and Calvagno's DDFAPD (2007).

    Parameters
    ----------
    cfa : (H, W) array of any real dtype
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.
    refining_step : bool
        Apply the paper's refining step (default, as in the paper's results).

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input.

    Examples
    --------
    >>> menon2007(np.full((12, 12), 9.0))[6, 6].round(3).tolist()
    [9.0, 9.0, 9.0]
    """
    ry, rx = red_phase(pattern)
    p = pad_reflect(as_float_cfa(cfa), _MARGIN)
    gh, gv, ch, cv = (np.zeros_like(p) for _ in range(4))  # zero margins: read by _decide's edges
    _directional_green(p, ry, rx, gh, gv, ch, cv)
    g = np.zeros_like(p)
    horizontal = np.zeros(p.shape, np.bool_)
    _decide(gh, gv, ch, cv, g, horizontal)
    del gh, gv, ch, cv
    r, b = np.zeros_like(p), np.zeros_like(p)
    _red_blue(p, ry, rx, g, horizontal, r, b)
    if refining_step:
        _refine(ry, rx, horizontal, r, g, b, np.zeros_like(p))
    inner = (slice(_MARGIN, -_MARGIN), slice(_MARGIN, -_MARGIN))
    return np.stack([r[inner], g[inner], b[inner]], axis=-1)
