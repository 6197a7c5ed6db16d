"""Tone steps: stretch and transfer curve, fused with the colour matrix in one pass to display values."""

from __future__ import annotations

from functools import cache

import numpy as np

from farside import _jit as nb
from farside.cfa import new_array

_LUT_BITS = {8: 16, 16: 20}


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1) on linear values in [0, 1].

    >>> srgb_encode(np.array([0.0, 0.0031308, 1.0])).round(4).tolist()
    [0.0, 0.0404, 1.0]
    """
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode`."""
    v = np.clip(np.asarray(encoded, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


@cache
def display_lut(transfer: str, bits: int, gamma: float = 1.0) -> np.ndarray:
    """Table from quantised linear [0, 1] to display code values (uint8 or uint16), with an optional
    power ``gamma`` applied before the transfer curve."""
    size = 1 << _LUT_BITS[bits]
    x = np.linspace(0.0, 1.0, size)
    if gamma != 1.0:
        x = x**gamma
    encoded = srgb_encode(x) if transfer == "srgb" else x
    peak = (1 << bits) - 1
    return np.round(encoded * peak).astype(np.uint8 if bits == 8 else np.uint16)


def decode_display(image: np.ndarray) -> np.ndarray:
    """Display-encoded (sRGB) integers to linear float32 in [0, 1], through a table."""
    peak = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    if image.dtype.kind in "ui" and image.dtype.itemsize <= 2:
        table = _decode_table(image.dtype.str)
        if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] <= 4):
            import cv2

            return cv2.LUT(np.ascontiguousarray(image), table)  # the same table, read 2.5 times as fast
        return table[image]
    return srgb_decode(image / peak).astype(np.float32)


@cache
def _decode_table(dtype: str) -> np.ndarray:
    peak = np.iinfo(dtype).max
    table = srgb_decode(np.arange(peak + 1) / peak).astype(np.float32)
    table.flags.writeable = False  # shared by every call
    return table


def percentile_limits(
    samples: np.ndarray, low: float, high: float, linked: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Black and white points from the ``low`` and ``high`` percentiles of (N, C) samples.

    Linked: one pair for all channels (computed over all values), so colour balance is kept.

    >>> lo, hi = percentile_limits(np.arange(101.0).reshape(-1, 1), 10, 90); lo.tolist(), hi.tolist()
    ([10.0], [90.0])
    """
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples.reshape(-1, samples.shape[-1])
    channels = samples.shape[1]
    rows_finite = np.isfinite(samples[:, 0])
    for channel in range(1, channels):  # channel by channel: faster than np.all along a short axis
        rows_finite &= np.isfinite(samples[:, channel])
    finite = samples if rows_finite.all() else samples[rows_finite]
    if finite.size == 0:
        return np.zeros(channels), np.ones(channels)
    if linked:
        lo, hi = np.percentile(finite, [low, high])
        lo_v, hi_v = np.full(channels, lo), np.full(channels, hi)
    else:
        lo_v, hi_v = np.percentile(finite, [low, high], axis=0)
    hi_v = np.where(hi_v - lo_v > 1e-12, hi_v, lo_v + 1.0)
    return lo_v, hi_v


@nb.njit(inline="always")
def _display_value(k0, k1, k2, low, scale, r, g, b, lut, top):  # pragma: no cover - compiled
    v = (k0 * r + k1 * g + k2 * b - low) * scale
    v = min(max(v, 0.0), 1.0)
    return lut[int(v * top + 0.5)]


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _render_rgb(rgb, squared, matrix, lo, scale, lut, out):  # pragma: no cover - compiled
    top = lut.shape[0] - 1
    height, width = rgb.shape[0], rgb.shape[1]
    # The constants in locals: read from their arrays, they are read again after every store to ``out``
    # (which might overlap them, as far as the compiler knows), and the loop does not vectorise.
    k00, k01, k02, k10, k11, k12, k20, k21, k22 = (
        matrix[0, 0], matrix[0, 1], matrix[0, 2],
        matrix[1, 0], matrix[1, 1], matrix[1, 2],
        matrix[2, 0], matrix[2, 1], matrix[2, 2],
    )  # fmt: skip
    lo0, lo1, lo2, s0, s1, s2 = lo[0], lo[1], lo[2], scale[0], scale[1], scale[2]
    for y in nb.prange(height):
        for x in range(width):
            r, g, b = rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]
            if squared:
                r, g, b = max(r, 0.0), max(g, 0.0), max(b, 0.0)
                r, g, b = r * r, g * g, b * b
            out[y, x, 0] = _display_value(k00, k01, k02, lo0, s0, r, g, b, lut, top)
            out[y, x, 1] = _display_value(k10, k11, k12, lo1, s1, r, g, b, lut, top)
            out[y, x, 2] = _display_value(k20, k21, k22, lo2, s2, r, g, b, lut, top)


@nb.njit(parallel=True, error_model="numpy", cache=True)
def _render_grey(grey, lo, scale, lut, out):  # pragma: no cover - compiled
    top = lut.shape[0] - 1
    for y in nb.prange(grey.shape[0]):
        for x in range(grey.shape[1]):
            v = min(max((grey[y, x] - lo) * scale, 0.0), 1.0)
            out[y, x] = lut[int(v * top + 0.5)]


def to_display(
    image: np.ndarray,
    matrix: np.ndarray | None,
    lo: np.ndarray,
    hi: np.ndarray,
    transfer: str = "srgb",
    bits: int = 8,
    gamma: float = 1.0,
    squared: bool = False,
) -> np.ndarray:
    """Linear float image -> display integers: ``transfer(clip((matrix @ rgb - lo) / (hi - lo)) ** gamma)``.

    ``squared=True`` takes an RGB image holding the square root of the linear signal (as demosaicing in
    the square-root domain leaves it) and squares it on the way, saving a pass over the frame.

    ``image`` is (H, W, 3) or (H, W); ``matrix`` applies to RGB only. Output is uint8 or uint16.
    """
    if transfer not in ("srgb", "linear"):
        raise ValueError(f"unknown transfer {transfer!r} (srgb or linear)")
    if bits not in _LUT_BITS:
        raise ValueError(f"display bit depth must be 8 or 16, not {bits}")
    lut = display_lut(transfer, bits, float(gamma))
    image = np.ascontiguousarray(image, dtype=np.float32)
    lo = np.asarray(lo, np.float32).ravel()
    scale = (1.0 / (np.asarray(hi, np.float64).ravel() - lo)).astype(np.float32)
    out = new_array(image.shape, lut.dtype)
    if image.ndim == 2:
        grey_lo, grey_scale = np.float32(lo[0]), np.float32(scale[0])
        nb.in_row_blocks(
            image.shape[0], lambda a, b: _render_grey(image[a:b], grey_lo, grey_scale, lut, out[a:b])
        )
    else:
        m = np.asarray(np.eye(3) if matrix is None else matrix, np.float32)
        nb.in_row_blocks(
            image.shape[0], lambda a, b: _render_rgb(image[a:b], squared, m, lo, scale, lut, out[a:b])
        )
    return out


def clahe(image: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV) of a display image's lightness.

    RGB images are equalised on CIE L* only, so hues are kept; grey images directly. 8- or 16-bit in and out.
    """
    import cv2

    height, width = image.shape[:2]
    grid = (
        max(1, round(tiles * width / min(height, width))),
        max(1, round(tiles * height / min(height, width))),
    )
    equaliser = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=grid)
    if image.ndim == 2:
        return equaliser.apply(image)
    peak = float(np.iinfo(image.dtype).max)
    lab = cv2.cvtColor(image.astype(np.float32) / np.float32(peak), cv2.COLOR_RGB2Lab)
    lightness = np.round(lab[:, :, 0] * (65535.0 / 100.0)).astype(np.uint16)
    lab[:, :, 0] = equaliser.apply(lightness).astype(np.float32) * np.float32(100.0 / 65535.0)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(np.round(rgb * np.float32(peak)), 0, peak).astype(image.dtype)
