"""Radiometric first steps on the raw frame: bit depth, black level, normalisation, edge repair."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from farside.errors import FlatFieldError


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
    out = np.subtract(raw, np.float32(black_level), dtype=np.float32)  # always a new float32 array
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


_LOSSY = (".jpg", ".jpeg", ".jp2", ".webp", ".gif")
_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0}
_SECONDS |= {"ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3}
_SECONDS |= {"us": 1e-6, "µs": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6}


def load_flat(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a flat-field frame as float32: TIFF (any depth, float included), 16-bit PNG or ``.npy``.

    Lossy formats are refused: a flat's errors would be divided into every frame.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _LOSSY:
        raise FlatFieldError(path, f"flat field must be lossless (TIFF, PNG or .npy), not {suffix}")
    if not path.is_file():
        raise FlatFieldError(path, "flat field file not found")
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            data = tifffile.imread(path)
        elif suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            import cv2

            data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if data is None:
                raise ValueError("not an image OpenCV can read")
            if data.ndim == 3:
                data = data[:, :, ::-1]
    except (OSError, ValueError) as exc:
        raise FlatFieldError(path, f"cannot read flat field: {exc}") from None
    return np.asarray(data, dtype=np.float32)


def normalise_flat(flat: np.ndarray, pattern: str | None) -> np.ndarray:
    """Scale a flat to mean 1 per colour (per CFA colour for a mosaic, per channel for RGB), so dividing
    by it corrects vignetting without shifting the colour balance."""
    flat = np.array(flat, dtype=np.float32)
    if not np.all(np.isfinite(flat)) or np.any(flat <= 0):
        raise ValueError("a flat field must be finite and positive everywhere")
    if flat.ndim == 3:
        flat /= flat.reshape(-1, flat.shape[2]).mean(axis=0)
    elif pattern:
        for dy in (0, 1):
            for dx in (0, 1):
                flat[dy::2, dx::2] /= flat[dy::2, dx::2].mean()
    else:
        flat /= flat.mean()
    return flat


def apply_flat(frame: np.ndarray, flat: np.ndarray, path: str | os.PathLike[str] = "flat") -> np.ndarray:
    """Divide ``frame`` by a normalised flat of the same shape, in place; returns ``frame``."""
    if flat.shape != frame.shape:
        raise FlatFieldError(path, f"flat field is {flat.shape}, the frame is {frame.shape}")
    frame /= flat
    return frame


def exposure_seconds(exposure_time: float | None, label_unit: str | None, profile_unit: str) -> float | None:
    """The exposure in seconds, from the label's number and the label's (or else the profile's) unit.

    None where either is unknown: GRAS labels state no unit, and farside does not guess one.

    >>> exposure_seconds(12.5, "ms", ""), exposure_seconds(6, None, ""), exposure_seconds(6, None, "ms")
    (0.0125, None, 0.006)
    """
    unit = (label_unit or profile_unit or "").strip().lower()
    if exposure_time is None or exposure_time <= 0 or unit not in _SECONDS:
        return None
    return float(exposure_time) * _SECONDS[unit]
