"""Deflicker: each frame of a sequence brought to a temporally smoothed exposure.

An automatic exposure that hunts, and compression noise, change a sequence's brightness from one frame to
the next; played as a movie the picture pulses. Every frame is rendered with the sequence's one shared look
(white balance and stretch, :func:`farside.pipeline.shared_look`); on top of it each frame ``t`` gets an
exposure correction:

1. its robust brightness ``m[t]`` is measured in linear light (:func:`brightness`: the mean of the values
   between the 5th and 90th percentiles of an area-averaged copy, so clipped highlights, black corners and
   hot pixels do not pull it);
2. the series is smoothed by a centred geometric mean over ``2 * radius + 1`` frames
   (:class:`Smoother`), which keeps the real, slow changes of a descent and drops the frame-to-frame ones;
3. the frame is scaled by ``s[t] / m[t]``. The scaling is applied through the look
   (:func:`corrected_look`): its black and white points are multiplied by ``m[t] / s[t]``, which is the
   same as dividing the frame's linear values by it before the stretch, so the tone curve and the contrast
   of the shared look are kept exactly.

This is the method of FFmpeg's ``deflicker`` filter (a per-frame brightness, averaged over a window of
frames, "gm" geometric mean mode; https://ffmpeg.org/ffmpeg-filters.html#deflicker), done in linear light
before the tone curve rather than on display values. The window trails the stream by ``radius`` frames, so a
movie of any length holds only the last ``2 * radius + 1`` measurements.

For frame-to-frame noise of standard deviation ``sigma`` (in log brightness) the smoothed series changes by
about ``sigma * sqrt(2) / (2 * radius + 1)`` a frame, against ``sigma * sqrt(2)`` before.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

# The brightness of a frame is measured on a copy of about this many pixels: area averaging keeps the mean
# of the whole frame, and a robust mean of 65,536 values is steady to about 0.1 %.
MEASURE_PIXELS = 1 << 16
# The values whose mean is a frame's brightness: between these percentiles. A bound above the median but
# well below the top leaves out clipped highlights (which do not scale with the exposure) as long as a
# tenth of the frame is not clipped.
TRIM_PERCENTILES = (5.0, 90.0)
# A correction beyond this factor either way is not flicker but an event (a frame nearly black or white);
# it is held at the factor rather than amplified.
MAX_CORRECTION = 2.0
DEFAULT_RADIUS = 7  # a window of 15 frames: 1.5 s of a descent at 10 frames a second


def robust_mean(values: np.ndarray, percentiles: tuple[float, float] = TRIM_PERCENTILES) -> float:
    """Mean of the finite values between two percentiles: scales exactly with the values.

    >>> robust_mean(np.arange(101.0))
    47.5
    >>> robust_mean(2 * np.arange(101.0))
    95.0
    """
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    low, high = np.percentile(values, percentiles)
    kept = values[(values >= low) & (values <= high)]
    return float(kept.mean()) if kept.size else float(np.median(values))


def _area_copy(frame: np.ndarray, pixels: int) -> np.ndarray:
    """An area-averaged copy of about ``pixels`` pixels (the frame itself if it is no larger)."""
    height, width = frame.shape[:2]
    factor = math.sqrt(pixels / (height * width))
    if factor >= 1.0:
        return frame
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(np.ascontiguousarray(frame, np.float32), size, interpolation=cv2.INTER_AREA)


def brightness(linear: Any, look: Any, pixels: int = MEASURE_PIXELS) -> float:
    """A frame's robust brightness in linear light: the :func:`robust_mean` of an area-averaged copy of
    ``linear`` (a :class:`~farside.pipeline.Linear`), exposure-normalised, after the look's white-balance
    gains and colour matrix (the mean of the three channels for colour). NaN for a frame with nothing to
    measure. Positively homogeneous: a frame ``g`` times brighter measures ``g`` times more.

    A Bayer mosaic is measured on its 2 x 2 cells (:func:`farside.pipeline.frame_samples`).
    """
    from farside.pipeline import frame_samples

    if linear.mosaic:
        samples = frame_samples(linear).astype(np.float64)
    else:
        copy = _area_copy(linear.frame, pixels)
        channels = 1 if copy.ndim == 2 else copy.shape[2]
        samples = copy.reshape(-1, channels).astype(np.float64) * linear.exposure_factor
    if samples.shape[1] == 3:
        samples = samples * np.asarray(look.gains, np.float64)
        if look.matrix is not None:
            samples = samples @ np.asarray(look.matrix, np.float64).T
    value = robust_mean(samples.mean(axis=1))
    return value if value > 0 else float("nan")


def measure(product: Any, settings: Any, look: Any, pixels: int = MEASURE_PIXELS) -> float:
    """:func:`brightness` of a product, from a copy read every ``k``-th line and sample (``k`` even, so a
    Bayer phase is kept) with about ``4 * pixels`` samples: a few milliseconds for a megapixel frame.

    Only the steps that change the level are run (bit depth, black level, scaling or sRGB decoding,
    exposure time); a flat field, edge repair and hot pixels change every frame alike, or too few samples to
    matter, and are left out here."""
    from farside.pipeline import linearize

    height, width = product.image.shape[:2]
    step = int(math.sqrt(height * width / (4 * pixels)))
    step = step - step % 2 if step >= 2 else 1
    if step > 1:
        product = replace(product, image=product.image[::step, ::step])
    quick = replace(settings, flat="", hot_pixels=False, edge_repair=(0, 0, 0, 0))
    return brightness(linearize(product, quick), look, pixels)


def corrected_look(look: Any, factor: float) -> Any:
    """The look for a frame ``factor`` times brighter than it should be: black and white points times
    ``factor``, the same as dividing the frame's linear values by ``factor`` before the stretch."""
    factor = float(np.clip(factor, 1.0 / MAX_CORRECTION, MAX_CORRECTION))
    return replace(look, lo=np.asarray(look.lo) * factor, hi=np.asarray(look.hi) * factor)


@dataclass(frozen=True)
class Smoothed:
    """Frame ``index``'s measured brightness, the smoothed one, and the factor the frame is brighter by."""

    index: int
    measured: float
    smoothed: float

    @property
    def factor(self) -> float:
        """``measured / smoothed``, 1 where either is unknown, within :data:`MAX_CORRECTION`."""
        if not (math.isfinite(self.measured) and math.isfinite(self.smoothed)):
            return 1.0
        return float(np.clip(self.measured / self.smoothed, 1.0 / MAX_CORRECTION, MAX_CORRECTION))


class Smoother:
    """A centred geometric mean over ``2 * radius + 1`` frames, computed as the measurements stream in.

    :meth:`push` takes frame after frame's brightness (NaN for a frame that could not be measured, which
    is left out of every window) and returns the frames whose window is complete: frame ``t`` once frame
    ``t + radius`` has come; :meth:`finish` returns the rest, their windows cut short at the end as at the
    start. Only the last ``2 * radius + 1`` values are held.

    >>> smoother = Smoother(radius=1)
    >>> [round(s.smoothed, 3) for v in (1.0, 4.0, 1.0, 4.0) for s in smoother.push(v)]
    [2.0, 1.587, 2.52]
    >>> [round(s.smoothed, 3) for s in smoother.finish()]
    [2.0]
    """

    def __init__(self, radius: int = DEFAULT_RADIUS) -> None:
        if radius < 0:
            raise ValueError(f"a smoothing radius is 0 or more frames, not {radius}")
        self.radius = radius
        self._logs: deque[float] = deque(maxlen=2 * radius + 1)
        self._values: deque[float] = deque(maxlen=2 * radius + 1)
        self._pushed = 0
        self._given = 0

    def push(self, value: float) -> list[Smoothed]:
        value = float(value)
        self._values.append(value)
        self._logs.append(math.log(value) if value > 0 and math.isfinite(value) else float("nan"))
        self._pushed += 1
        out = []
        while self._given + self.radius < self._pushed:
            out.append(self._next())
        return out

    def finish(self) -> list[Smoothed]:
        out = []
        while self._given < self._pushed:
            out.append(self._next())
        return out

    def _next(self) -> Smoothed:
        index = self._given
        first = self._pushed - len(self._logs)  # the index of the oldest value held
        lo, hi = max(first, index - self.radius), min(self._pushed, index + self.radius + 1)
        window = [self._logs[i - first] for i in range(lo, hi)]
        finite = [v for v in window if math.isfinite(v)]
        smoothed = math.exp(sum(finite) / len(finite)) if finite else float("nan")
        self._given += 1
        return Smoothed(index, self._values[index - first], smoothed)


__all__ = [
    "DEFAULT_RADIUS",
    "MAX_CORRECTION",
    "Smoothed",
    "Smoother",
    "brightness",
    "corrected_look",
    "measure",
    "robust_mean",
]
