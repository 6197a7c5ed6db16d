"""Bayer colour filter arrays: patterns, phases, per-colour planes and mosaicking.

A pattern names the colours of the 2x2 cell at the frame's top-left corner, row by row, as stored
(``"RGGB"``: red at (0, 0), blue at (1, 1)). Everything that needs to know which sample is which colour
(demosaicing, white balance, defect repair, radiance, the simulated sensor) asks this module.
"""

from __future__ import annotations

import numpy as np

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_CHANNEL = {"R": 0, "G": 1, "B": 2}


def check_pattern(pattern: str) -> str:
    """The pattern in upper case, or ``ValueError`` naming the known ones.

    >>> check_pattern("grbg")
    'GRBG'
    """
    upper = str(pattern).upper()
    if upper not in PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; expected one of {', '.join(PATTERNS)}")
    return upper


def red_phase(pattern: str) -> tuple[int, int]:
    """(row, column) parity of the red sample in the 2x2 cell of a Bayer pattern.

    >>> red_phase("GRBG")
    (0, 1)
    """
    index = check_pattern(pattern).index("R")
    return index // 2, index % 2


def channel_cell(pattern: str) -> np.ndarray:
    """2x2 array of the channel index (0 red, 1 green, 2 blue) at each position of the cell.

    >>> channel_cell("GBRG").tolist()
    [[1, 2], [0, 1]]
    """
    return np.array([_CHANNEL[c] for c in check_pattern(pattern)], dtype=np.intp).reshape(2, 2)


def cell_values(pattern: str, values: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """2x2 float32 cell holding ``values[channel]`` at each position (per-colour gains on a mosaic).

    >>> cell_values("RGGB", (2.0, 1.0, 3.0)).tolist()
    [[2.0, 1.0], [1.0, 3.0]]
    """
    return np.asarray(values, dtype=np.float32)[channel_cell(pattern)]


def planes(cfa: np.ndarray, pattern: str, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the red, green (the green on red's row) and blue samples of a mosaic, every ``step``
    cells, cut to a common shape so that index (i, j) of each comes from one 2x2 cell.

    >>> r, g, b = planes(np.arange(16).reshape(4, 4), "RGGB")
    >>> r.tolist(), g.tolist(), b.tolist()
    ([[0, 2], [8, 10]], [[1, 3], [9, 11]], [[5, 7], [13, 15]])
    """
    ry, rx = red_phase(pattern)
    s = 2 * step
    red = cfa[ry::s, rx::s]
    green = cfa[ry::s, 1 - rx :: s]
    blue = cfa[1 - ry :: s, 1 - rx :: s]
    rows, cols = (min(a.shape[i] for a in (red, green, blue)) for i in (0, 1))
    return red[:rows, :cols], green[:rows, :cols], blue[:rows, :cols]


def mosaic(rgb: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Sample an (H, W, 3) image through a Bayer CFA: one value per pixel, the channel the pattern names.

    >>> mosaic(np.arange(12).reshape(2, 2, 3)).tolist()
    [[0, 4], [7, 11]]
    """
    cell = channel_cell(pattern)
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for dy in (0, 1):
        for dx in (0, 1):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, cell[dy, dx]]
    return out


def as_float_cfa(cfa: np.ndarray) -> np.ndarray:
    """A 2-D CFA as C-contiguous float32 (values unchanged)."""
    cfa = np.asarray(cfa)
    if cfa.ndim != 2:
        raise ValueError(f"a CFA mosaic is 2-D; got shape {cfa.shape}")
    if cfa.dtype.kind not in "uif":
        raise ValueError(f"a CFA mosaic holds numbers; got dtype {cfa.dtype}")
    if not cfa.dtype.isnative:
        cfa = cfa.astype(cfa.dtype.newbyteorder("="))
    return np.ascontiguousarray(cfa, dtype=np.float32)


def superpixel(cfa: np.ndarray, pattern: str) -> np.ndarray:
    """Each 2x2 cell of a mosaic as one RGB pixel (its red, the mean of its greens, its blue): an image of
    half the size (odd last rows and columns dropped), float32, with no interpolation at all. dcraw's
    half-size mode (``-h``) and rawpy's ``half_size``; each colour is sampled a quarter of an output pixel
    from the pixel's centre, which a preview can afford.

    >>> superpixel(np.arange(16, dtype=np.float32).reshape(4, 4), "RGGB")[0, 0].tolist()
    [0.0, 2.5, 5.0]
    """
    red, green, blue = planes(cfa, pattern)
    ry, rx = red_phase(pattern)
    other_green = cfa[1 - ry :: 2, rx::2][: green.shape[0], : green.shape[1]]
    out = np.empty((*red.shape, 3), np.float32)
    out[..., 0] = red
    np.add(green, other_green, out=out[..., 1], dtype=np.float32)
    out[..., 1] *= np.float32(0.5)
    out[..., 2] = blue
    return out


def native_cfa(cfa: np.ndarray) -> np.ndarray:
    """A 2-D CFA in a type the fast kernels read directly (uint8, uint16, float32), else as float32."""
    cfa = np.asarray(cfa)
    if cfa.ndim != 2:
        raise ValueError(f"a CFA mosaic is 2-D; got shape {cfa.shape}")
    if cfa.dtype in (np.uint8, np.uint16, np.float32):
        return np.ascontiguousarray(cfa)
    return as_float_cfa(cfa)


def pad_reflect(cfa: np.ndarray, margin: int) -> np.ndarray:
    """Mirror-pad without repeating the edge sample, so the Bayer phase carries across the border."""
    import cv2  # here alone: the settings, and so every command, import this module for its patterns

    height, width = cfa.shape
    if min(height, width) <= margin:
        # Too small to mirror once: numpy's reflect repeats the mirror as often as needed.
        return np.pad(cfa, margin, mode="reflect")
    return cv2.copyMakeBorder(cfa, margin, margin, margin, margin, cv2.BORDER_REFLECT_101)


def new_array(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """An array for a parallel kernel to fill, its memory touched once from this thread first.

    Fresh memory is mapped lazily; when the kernel's threads all fault their pages in at once they queue on
    the kernel's memory lock, which made a 4-megapixel demosaic up to ten times slower than with the pages
    already present. Touching them here costs one quick pass.
    """
    out = np.empty(shape, dtype)
    out.fill(0)
    return out


__all__ = [
    "PATTERNS",
    "as_float_cfa",
    "cell_values",
    "channel_cell",
    "check_pattern",
    "mosaic",
    "native_cfa",
    "new_array",
    "pad_reflect",
    "planes",
    "red_phase",
    "superpixel",
]
