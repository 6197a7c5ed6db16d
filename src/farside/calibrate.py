"""Radiometric first steps on the raw frame: bit depth, black level, normalisation, edge repair."""

from __future__ import annotations

import numpy as np


def effective_bit_depth(
    image: np.ndarray, profile_bits: int, statistics_max: float | None = None
) -> tuple[int, str | None]:
    """The bit depth to scale by: the profile's, raised if the data exceed it.

    Returns the depth and, when it differs from the profile's, a one-line warning.

    >>> effective_bit_depth(np.array([[0, 2047]], np.uint16), 10)
    (11, "values reach 2047, beyond the profile's 10-bit range: scaling as 11-bit")
    """
    if image.dtype.kind == "f":
        return profile_bits, None
    peak = int(image.max()) if image.size else 0
    if statistics_max is not None and statistics_max > peak:
        peak = int(statistics_max)
    if peak < (1 << profile_bits):
        return profile_bits, None
    bits = max(int(peak).bit_length(), profile_bits)
    return bits, f"values reach {peak}, beyond the profile's {profile_bits}-bit range: scaling as {bits}-bit"


def normalise(raw: np.ndarray, black_level: float, white_level: float) -> np.ndarray:
    """``(raw - black) / (white - black)`` as float32, so 0 is black and 1 is the sensor's clip.

    >>> normalise(np.array([64, 1023], np.uint16), 64, 1023).tolist()
    [0.0, 1.0]
    """
    span = float(white_level) - float(black_level)
    if span <= 0:
        raise ValueError(f"white level {white_level} must exceed black level {black_level}")
    out = np.asarray(raw, dtype=np.float32)
    if out is raw or not out.flags.writeable or not out.flags.c_contiguous:
        out = np.array(out, dtype=np.float32, order="C")
    out -= np.float32(black_level)
    out *= np.float32(1.0 / span)
    return out


def repair_edges(
    image: np.ndarray, top: int, bottom: int, left: int, right: int, step: int = 1
) -> np.ndarray:
    """Rebuild defective border rows/columns by copying the nearest good one ``step`` away.

    ``step`` is 2 for a Bayer mosaic so the copy keeps the CFA phase. Works in place and returns ``image``.

    >>> a = np.array([[1, 2, 9], [3, 4, 9]]); repair_edges(a, 0, 0, 0, 1).tolist()
    [[1, 2, 2], [3, 4, 4]]
    """
    height, width = image.shape[:2]
    for i in range(top):
        image[i] = image[min(top + (i - top) % step, height - 1)] if step > 1 else image[top]
    for i in range(bottom):
        row = height - 1 - i
        image[row] = image[max(row - step * ((bottom - i + step - 1) // step), 0)]
    for i in range(left):
        image[:, i] = image[:, min(left + (i - left) % step, width - 1)] if step > 1 else image[:, left]
    for i in range(right):
        column = width - 1 - i
        image[:, column] = image[:, max(column - step * ((right - i + step - 1) // step), 0)]
    return image
