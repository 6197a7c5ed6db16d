"""Shared plumbing for the demosaic methods: CFA phase, padding and dtype handling."""

from __future__ import annotations

import cv2
import numpy as np

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


def red_phase(pattern: str) -> tuple[int, int]:
    """(row, column) parity of the red sample in the 2x2 cell of a Bayer pattern.

    >>> red_phase("GRBG")
    (0, 1)
    """
    pattern = pattern.upper()
    if pattern not in PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; expected one of {', '.join(PATTERNS)}")
    index = pattern.index("R")
    return index // 2, index % 2


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
