"""Directional LMMSE green, refined and completed by residual interpolation: farside's default demosaic.

Green starts as the directional LMMSE estimate of :mod:`farside.demosaic.lmmse`:

    L. Zhang, X. Wu, "Color demosaicking via directional linear minimum mean square-error estimation",
    IEEE Transactions on Image Processing 14(12), 2005, pp. 2167-2178.

That estimate interpolates colour *differences*, which assumes that red, green and blue rise and fall
together. Where colours are saturated and change sharply they do not, and the error in green spreads into
red and blue.
Residual interpolation replaces the difference by a residual from a locally *linear* model of one channel
in another (a guided filter, K. He, J. Sun, X. Tang, "Guided image filtering", IEEE TPAMI 35(6), 2013):

    D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Residual interpolation for color image demosaicking",
    IEEE ICIP 2013, pp. 2304-2308 (RI);
    D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Minimized-Laplacian residual interpolation for color image
    demosaicking", Proc. SPIE 9023, Digital Photography X, 2014 (MLRI).

Here, in three steps:

1. red and blue are interpolated by MLRI with the LMMSE green as guide: on each colour's own quarter-size
   lattice, the slope of the colour against green is fitted where their Laplacians agree best (5x5 lattice
   window), the fit is smoothed (3x3), and what the fit misses at the samples is interpolated bilinearly;
2. green at red and blue sites is re-estimated by RI, the other way round: green from its four neighbours,
   through a linear fit (3x3 window) against the red or blue just interpolated; it is blended with the LMMSE
   estimate, three parts to one;
3. red and blue are interpolated again, as in step 1, from the refined green.

Only one refinement is made: on Kodak a second and third lowered the score.
"""

from __future__ import annotations

import numpy as np

from farside import _jit as nb
from farside.cfa import as_float_cfa, pad_reflect, red_phase
from farside.demosaic.lmmse import _GAUSS, _HALF, _estimate

# lmmse's green is valid to 10 samples from the padded edge; the two MLRI passes and the refinement between
# them reach 23 samples, so 36 leaves every output sample computed from real data.
_MARGIN = 36
_BAND = 48  # lattice rows per parallel task: its working planes stay in cache
_REFINED_SHARE = np.float32(0.75)  # how much of the residual-interpolated green replaces LMMSE's
_EPS_8BIT = 1.0  # regularisation of both fits, in squared 8-bit units; scaled to the data's range
# The kernels are compiled without fast-math: with it, code numba had just compiled and the same code loaded
# from its cache rounded differently, so one frame converted in two processes could differ.


@nb.njit(inline="always")
def _five(a, j):
    return a[j - 2] + a[j - 1] + a[j] + a[j + 1] + a[j + 2]


@nb.njit(inline="always")
def _five_down(plane, k, j):  # rows k - 2 .. k + 2 of column j
    return plane[k - 2, j] + plane[k - 1, j] + plane[k, j] + plane[k + 1, j] + plane[k + 2, j]


@nb.njit(inline="always")
def _nine(a, x):
    return a[x - 4] + a[x - 3] + a[x - 2] + a[x - 1] + a[x] + a[x + 1] + a[x + 2] + a[x + 3] + a[x + 4]


@nb.njit(inline="always")
def _nine_down(plane, k, x):  # rows k .. k + 8 of column x
    top = plane[k, x] + plane[k + 1, x] + plane[k + 2, x] + plane[k + 3, x] + plane[k + 4, x]
    return top + plane[k + 5, x] + plane[k + 6, x] + plane[k + 7, x] + plane[k + 8, x]


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _directional_green(p, green_parity, gauss, g):  # pragma: no cover - compiled
    # lmmse's green (Zhang-Wu: Hamilton-Adams differences along rows and columns, Gaussian-smoothed, each
    # denoised by LMMSE over nine samples and the two fused by their error variances), computed in bands of
    # rows whose intermediate planes stay in cache, in float32, with the taps written out so that the loops
    # vectorise. It equals lmmse's green to rounding (lmmse forms the differences in float64).
    height, width = p.shape
    lo, hi = 10, height - 10
    bands = (hi - lo + _BAND - 1) // _BAND
    half, quarter, two = np.float32(0.5), np.float32(0.25), np.float32(2.0)
    inv = np.float32(1.0 / (2 * _HALF + 1))
    g0, g1, g2, g3, g4, g5, g6, g7, g8 = (
        gauss[0],
        gauss[1],
        gauss[2],
        gauss[3],
        gauss[4],
        gauss[5],
        gauss[6],
        gauss[7],
        gauss[8],
    )
    for band in nb.prange(bands):
        y0 = lo + band * _BAND
        y1 = min(y0 + _BAND, hi)
        n = y1 - y0
        # Column differences for rows y0 - 8 + k; their smoothing, its square and the noise around it for
        # rows y0 - 4 + k.
        dv = np.empty((n + 16, width), np.float32)
        sv = np.empty((n + 8, width), np.float32)
        sv2 = np.empty((n + 8, width), np.float32)
        nv2 = np.empty((n + 8, width), np.float32)
        for k in range(n + 16):
            y = y0 - 8 + k
            above2, above, row, below, below2 = p[y - 2], p[y - 1], p[y], p[y + 1], p[y + 2]
            out = dv[k]
            for x in range(width):
                sign = np.float32(1 - 2 * ((y + x + green_parity) & 1))  # green minus colour
                estimate = half * (above[x] + below[x]) + quarter * (two * row[x] - above2[x] - below2[x])
                out[x] = sign * (row[x] - estimate)
        for k in range(n + 8):
            d0, d1, d2, d3, d4, d5, d6, d7, d8 = (
                dv[k],
                dv[k + 1],
                dv[k + 2],
                dv[k + 3],
                dv[k + 4],
                dv[k + 5],
                dv[k + 6],
                dv[k + 7],
                dv[k + 8],
            )
            s, s2, n2 = sv[k], sv2[k], nv2[k]
            for x in range(width):
                v = (
                    g0 * d0[x]
                    + g1 * d1[x]
                    + g2 * d2[x]
                    + g3 * d3[x]
                    + g4 * d4[x]
                    + g5 * d5[x]
                    + g6 * d6[x]
                    + g7 * d7[x]
                    + g8 * d8[x]
                )
                s[x] = v
                s2[x] = v * v
                n2[x] = (d4[x] - v) * (d4[x] - v)
        dh = np.zeros(width, np.float32)
        sh = np.zeros(width, np.float32)
        sh2 = np.zeros(width, np.float32)
        nh2 = np.zeros(width, np.float32)
        fused = np.empty(width, np.float32)
        for y in range(y0, y1):
            row = p[y]
            for x in range(2, width - 2):
                sign = np.float32(1 - 2 * ((y + x + green_parity) & 1))
                estimate = half * (row[x - 1] + row[x + 1]) + quarter * (
                    two * row[x] - row[x - 2] - row[x + 2]
                )
                dh[x] = sign * (row[x] - estimate)
            for x in range(6, width - 6):
                v = (
                    g0 * dh[x - 4]
                    + g1 * dh[x - 3]
                    + g2 * dh[x - 2]
                    + g3 * dh[x - 1]
                    + g4 * dh[x]
                    + g5 * dh[x + 1]
                    + g6 * dh[x + 2]
                    + g7 * dh[x + 3]
                    + g8 * dh[x + 4]
                )
                sh[x] = v
                sh2[x] = v * v
                nh2[x] = (dh[x] - v) * (dh[x] - v)
            k = y - y0  # rows y - 4 .. y + 4 of the column statistics are k .. k + 8
            for x in range(10, width - 10):
                hm = _nine(sh, x)
                hm2 = _nine(sh2, x)
                hn2 = _nine(nh2, x)
                vm = _nine_down(sv, k, x)
                vm2 = _nine_down(sv2, k, x)
                vn2 = _nine_down(nv2, k, x)
                est_h, err_h = _estimate(hm * inv, hm2 * inv, hn2 * inv, dh[x])
                est_v, err_v = _estimate(vm * inv, vm2 * inv, vn2 * inv, dv[k + 8, x])
                fused[x] = row[x] + (err_v * est_h + err_h * est_v) / (err_h + err_v)
            first_green = 10 + ((y + 10 + green_parity) & 1)
            for x in range(first_green, width - 10, 2):
                g[y, x] = row[x]
            for x in range(21 - first_green, width - 10, 2):
                g[y, x] = fused[x]


# Kernels compute what the output needs and no further: the margin keeps every read inside the padded planes,
# and the few lattice or pixel rows at the padded edge that are left unwritten are never read for the output.


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _lattice_fit(p, g, oy, ox, hq, wq, eps, fit):  # pragma: no cover - compiled
    # MLRI on one colour's lattice (samples at oy + 2i, ox + 2j, hq x wq of them): the slope and offset of
    # colour against green, smoothed, and the residual the fit leaves at each sample (fit[0], [1], [2]).
    # Laplacians are taken on the lattice itself. The lattice goes in bands of rows whose intermediate
    # planes stay in cache, and taps are written out so that the loops vectorise.
    lo, hi = 4, hq - 4
    bands = (hi - lo + _BAND - 1) // _BAND
    per_sample = np.float32(1.0 / 25.0)
    ninth = np.float32(1.0 / 9.0)
    for band in nb.prange(bands):
        i0 = lo + band * _BAND
        i1 = min(i0 + _BAND, hi)
        n = i1 - i0 + 8  # band rows k hold lattice rows i0 - 4 + k
        colour = np.empty((n, wq), np.float32)
        green = np.empty((n, wq), np.float32)
        sums = np.zeros((4, n, wq), np.float32)
        slope = np.zeros((n, wq), np.float32)
        offset = np.zeros((n, wq), np.float32)
        lgx = np.empty(wq, np.float32)
        lgg = np.empty(wq, np.float32)
        for k in range(n):
            y = oy + 2 * (i0 - 4 + k)
            for j in range(wq):
                colour[k, j] = p[y, ox + 2 * j]
                green[k, j] = g[y, ox + 2 * j]
        # Laplacian products and their 5-sample sums along rows, with the samples' own.
        for k in range(1, n - 1):
            c0, cn, cs = colour[k], colour[k - 1], colour[k + 1]
            g0, gn, gs = green[k], green[k - 1], green[k + 1]
            lgx[0] = lgx[wq - 1] = lgg[0] = lgg[wq - 1] = 0
            for j in range(1, wq - 1):
                lc = 4 * c0[j] - cn[j] - cs[j] - c0[j - 1] - c0[j + 1]
                lg = 4 * g0[j] - gn[j] - gs[j] - g0[j - 1] - g0[j + 1]
                lgx[j] = lg * lc
                lgg[j] = lg * lg
            sxy, sxx, sc, sg = sums[0, k], sums[1, k], sums[2, k], sums[3, k]
            for j in range(3, wq - 3):
                sxy[j] = _five(lgx, j)
                sxx[j] = _five(lgg, j)
                sc[j] = _five(c0, j)
                sg[j] = _five(g0, j)
        # ... then along columns: the fit over 5x5 lattice samples.
        for k in range(3, n - 3):
            for j in range(3, wq - 3):
                a = _five_down(sums[0], k, j)
                b = _five_down(sums[1], k, j)
                c = _five_down(sums[2], k, j)
                d = _five_down(sums[3], k, j)
                fitted = a / (b + eps)
                slope[k, j] = fitted
                offset[k, j] = (c - fitted * d) * per_sample
        # Smooth the fit over 3x3 lattice samples, then take the residual it leaves at each sample.
        for k in range(4, n - 4):
            an, a0, a_s = slope[k - 1], slope[k], slope[k + 1]
            bn, b0, bs = offset[k - 1], offset[k], offset[k + 1]
            i = i0 - 4 + k
            for j in range(4, wq - 4):
                sa = (
                    an[j - 1]
                    + an[j]
                    + an[j + 1]
                    + a0[j - 1]
                    + a0[j]
                    + a0[j + 1]
                    + a_s[j - 1]
                    + a_s[j]
                    + a_s[j + 1]
                ) * ninth
                sb = (
                    bn[j - 1]
                    + bn[j]
                    + bn[j + 1]
                    + b0[j - 1]
                    + b0[j]
                    + b0[j + 1]
                    + bs[j - 1]
                    + bs[j]
                    + bs[j + 1]
                ) * ninth
                fit[0, i, j] = sa
                fit[1, i, j] = sb
                fit[2, i, j] = colour[k, j] - (sa * green[k, j] + sb)


@nb.njit(inline="always")
def _interpolate_row(fit, y, oy, row):
    # The fit's three planes interpolated along columns to full-size row y: row[k, j] for lattice column j.
    dy = y - oy
    i0 = dy >> 1
    i1 = i0 + (dy & 1)
    for k in range(3):
        upper, lower = fit[k, i0], fit[k, i1]
        for j in range(row.shape[1]):
            row[k, j] = np.float32(0.5) * (upper[j] + lower[j])


@nb.njit(inline="always")
def _colour_row(fit, g, y, oy, ox, row, out, x_lo, x_hi):
    # Colour at full-size row y, columns x_lo..x_hi-1 (x_lo - ox even and >= 2): slope * green + offset +
    # residual, each interpolated bilinearly from the lattice; out[x - x_lo] receives column x.
    _interpolate_row(fit, y, oy, row)
    slope, offset, residual = row[0], row[1], row[2]
    half = np.float32(0.5)
    for x in range(x_lo, x_hi, 2):
        j = (x - ox) >> 1
        out[x - x_lo] = slope[j] * g[y, x] + offset[j] + residual[j]
        out[x - x_lo + 1] = (
            half * (slope[j] + slope[j + 1]) * g[y, x + 1]
            + half * (offset[j] + offset[j + 1])
            + half * (residual[j] + residual[j + 1])
        )


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _colour_plane(g, oy, ox, fit, out):  # pragma: no cover - compiled
    # The colour everywhere but the outer 10 samples (it is read only at green sites).
    height, width = g.shape
    x_lo = 10 + ox
    for y in nb.prange(10, height - 10):
        row = np.empty((3, fit.shape[2]), np.float32)
        _colour_row(fit, g, y, oy, ox, row, out[y, x_lo:], x_lo, width - 12)


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _refine_green(p, g, guide, oy, ox, green_parity, eps, share):  # pragma: no cover - compiled
    # Green at the colour sites (oy + 2i, ox + 2j) by residual interpolation against the colour plane
    # ``guide`` (the samples themselves at colour sites, interpolated ones at green sites), blended into g.
    # The RI line of green against the guide is fitted over the green samples of the 3x3 window around
    # every pixel (five at a green site, four elsewhere: window sums of products with a 0/1 green mask),
    # averaged over 3x3 pixels, and used at the colour site and its four green neighbours. Rows go in bands
    # whose sums stay in cache; every column is computed so that the loops vectorise.
    height, width = g.shape
    lo, hi = 14, height - 14
    bands = (hi - lo + _BAND - 1) // _BAND
    one = np.float32(1.0)
    ninth = np.float32(1.0 / 9.0)
    quarter = np.float32(0.25)
    for band in nb.prange(bands):
        y0 = lo + band * _BAND
        y1 = min(y0 + _BAND, hi)
        n = y1 - y0 + 6  # band rows k hold image rows y0 - 3 + k
        sums = np.zeros((4, n, width), np.float32)  # 3-pixel row sums of u, v, uv, uu at green sites
        masked = np.empty((4, width), np.float32)
        for k in range(n):
            y = y0 - 3 + k
            u, v = guide[y], g[y]
            for x in range(width):
                m = np.float32((y + x + green_parity + 1) & 1)  # 1 at green sites
                mu = m * u[x]
                masked[0, x] = mu
                masked[1, x] = m * v[x]
                masked[2, x] = mu * v[x]
                masked[3, x] = mu * u[x]
            for q in range(4):
                row, out = masked[q], sums[q, k]
                for x in range(1, width - 1):
                    out[x] = row[x - 1] + row[x] + row[x + 1]
        # The line at every pixel, summed over 3 pixels along rows (the column sum comes at its use).
        slope_rows = np.zeros((n, width), np.float32)
        offset_rows = np.zeros((n, width), np.float32)
        a_row = np.zeros(width, np.float32)
        b_row = np.zeros(width, np.float32)
        for k in range(1, n - 1):
            y = y0 - 3 + k
            for x in range(1, width - 1):
                su = sums[0, k - 1, x] + sums[0, k, x] + sums[0, k + 1, x]
                sv = sums[1, k - 1, x] + sums[1, k, x] + sums[1, k + 1, x]
                suv = sums[2, k - 1, x] + sums[2, k, x] + sums[2, k + 1, x]
                suu = sums[3, k - 1, x] + sums[3, k, x] + sums[3, k + 1, x]
                inv = one / (np.float32(4.0) + np.float32((y + x + green_parity + 1) & 1))
                mu, mv = su * inv, sv * inv
                a = (suv * inv - mu * mv) / (suu * inv - mu * mu + eps)
                a_row[x] = a
                b_row[x] = mv - a * mu
            for x in range(2, width - 2):
                slope_rows[k, x] = a_row[x - 1] + a_row[x] + a_row[x + 1]
                offset_rows[k, x] = b_row[x - 1] + b_row[x] + b_row[x + 1]
        refined = np.empty(width, np.float32)
        for y in range(y0 + ((y0 - oy) & 1), y1, 2):
            k = y - y0 + 3
            an, a0, a_s = slope_rows[k - 1], slope_rows[k], slope_rows[k + 1]
            bn, b0, bs = offset_rows[k - 1], offset_rows[k], offset_rows[k + 1]
            ann, ass, bnn, bss = slope_rows[k - 2], slope_rows[k + 2], offset_rows[k - 2], offset_rows[k + 2]
            gn, g0, gs, un, u0, us = g[y - 1], g[y], g[y + 1], guide[y - 1], guide[y], guide[y + 1]
            for x in range(4, width - 4):
                a = (an[x] + a0[x] + a_s[x]) * ninth
                b = (bn[x] + b0[x] + bs[x]) * ninth
                # The line at each axial neighbour, and what it misses of the green sampled there.
                missed = gn[x] - ((ann[x] + an[x] + a0[x]) * ninth * un[x] + (bnn[x] + bn[x] + b0[x]) * ninth)
                missed += gs[x] - (
                    (a0[x] + a_s[x] + ass[x]) * ninth * us[x] + (b0[x] + bs[x] + bss[x]) * ninth
                )
                aw = (an[x - 1] + a0[x - 1] + a_s[x - 1]) * ninth
                bw = (bn[x - 1] + b0[x - 1] + bs[x - 1]) * ninth
                ae = (an[x + 1] + a0[x + 1] + a_s[x + 1]) * ninth
                be = (bn[x + 1] + b0[x + 1] + bs[x + 1]) * ninth
                missed += g0[x - 1] - (aw * u0[x - 1] + bw) + g0[x + 1] - (ae * u0[x + 1] + be)
                refined[x] = a * p[y, x] + b + quarter * missed
            for x in range(ox + 4, width - 4, 2):
                g[y, x] += share * (refined[x] - g[y, x])


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _assemble(g, ry, rx, red_fit, blue_fit, out):  # pragma: no cover - compiled
    h_out, w_out = out.shape[0], out.shape[1]
    for y in nb.prange(h_out):
        py = y + _MARGIN
        row = np.empty((3, red_fit.shape[2]), np.float32)
        red = np.empty(w_out + 4, np.float32)
        blue = np.empty(w_out + 4, np.float32)
        # Rows start at the even column just left of the margin, so that both colours start on a sample.
        _colour_row(red_fit, g, py, ry, rx, row, red, _MARGIN - 2 + rx, _MARGIN + w_out + rx)
        _colour_row(blue_fit, g, py, 1 - ry, 1 - rx, row, blue, _MARGIN - 1 - rx, _MARGIN + w_out + 1 - rx)
        for x in range(w_out):
            out[y, x, 0] = red[x + 2 - rx]
            out[y, x, 1] = g[py, x + _MARGIN]
            out[y, x, 2] = blue[x + 1 + rx]


def _fit(p, g, oy, ox, eps, fit):
    hq, wq = (p.shape[0] - oy + 1) // 2, (p.shape[1] - ox + 1) // 2
    _lattice_fit(p, g, oy, ox, hq, wq, eps, fit)
    return fit


def lmmse_ri(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic with LMMSE green refined and completed by residual interpolation (farside's default).

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
    >>> lmmse_ri(np.full((16, 16), 40.0))[8, 8].round(3).tolist()
    [40.0, 40.0, 40.0]
    """
    ry, rx = red_phase(pattern)
    flat = as_float_cfa(cfa)
    # The fits' regularisation is a variance: it scales with the square of the data's range. (It matters
    # only where the image is flat, so a hot pixel that sets the maximum changes little: 1e-4 of a level.)
    top = float(flat.max()) if flat.size else 0.0
    eps = np.float32(_EPS_8BIT * (max(top, 1e-6) / 255.0) ** 2)
    p = pad_reflect(flat, _MARGIN)
    out = np.empty((*flat.shape, 3), np.float32)  # all written
    # Each output row is computed from the padded rows within the margin of it alone, so blocks of rows
    # (each with its margin) give the same image; they run on threads where the kernels have none.
    nb.in_row_blocks(
        flat.shape[0], lambda a, b: _demosaic_padded(p[a : b + 2 * _MARGIN], ry, rx, eps, out[a:b])
    )
    return out


def _demosaic_padded(p, ry, rx, eps, out):
    """The three steps on a padded mosaic (or a block of its rows with their margins), into ``out``."""
    green_parity = 1 - ((ry + rx) & 1)  # (y + x) & 1 at green sites
    # Fresh zeroed pages come from the system as the kernels first touch them, in parallel: cheaper than
    # zero-filling them on this thread first (new_array), 14 ms of a 2352 x 1728 frame.
    g, red_guide, blue_guide = (np.zeros(p.shape, np.float32) for _ in range(3))
    _directional_green(p, green_parity, _GAUSS, g)
    red, blue = (ry, rx), (1 - ry, 1 - rx)
    lattice = ((p.shape[0] + 1) // 2, (p.shape[1] + 1) // 2)
    red_fit, blue_fit = np.zeros((3, *lattice), np.float32), np.zeros((3, *lattice), np.float32)
    # Step 1: red and blue at the green sites, the guides of step 2.
    _colour_plane(g, *red, _fit(p, g, *red, eps, red_fit), red_guide)
    _colour_plane(g, *blue, _fit(p, g, *blue, eps, blue_fit), blue_guide)
    # Step 2: each guide holds its colour's own samples at its sites.
    red_guide[ry::2, rx::2] = p[ry::2, rx::2]
    blue_guide[1 - ry :: 2, 1 - rx :: 2] = p[1 - ry :: 2, 1 - rx :: 2]
    _refine_green(p, g, red_guide, *red, green_parity, eps, _REFINED_SHARE)
    _refine_green(p, g, blue_guide, *blue, green_parity, eps, _REFINED_SHARE)
    # Step 3.
    _fit(p, g, *red, eps, red_fit)
    _fit(p, g, *blue, eps, blue_fit)
    _assemble(g, ry, rx, red_fit, blue_fit, out)
