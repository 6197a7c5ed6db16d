"""The convert pipeline: product -> raw frame -> linear RGB -> display RGB.

Each step is a pure function on arrays (:mod:`calibrate`, :mod:`defects`, :mod:`demosaic`, :mod:`colour`,
:mod:`tone`); this module only wires them in order from one :class:`Settings`, so the provenance of an output
is the settings themselves plus what the data made of them (``Rendered.applied``).

Order: bit-depth check -> black level and scaling to [0, 1] (or sRGB decoding of display-encoded products)
-> edge repair -> flat field -> hot/dead pixels -> exposure (DN/s) -> white balance (on the mosaic, before
demosaicing) -> highlight clipping -> demosaic -> colour matrix -> stretch -> transfer curve.

Demosaicing works by default on the square root of the signal (``process.demosaic_domain = "sqrt"``):
interpolation errors then fall where the eye is least sensitive to them, as when raw converters demosaic
gamma-encoded data; on simulated sensors this lowers the mean CIEDE2000 error by about a quarter
(``tests/test_calibration.py``). The display step squares the result back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from farside import calibrate, colour, defects, tone
from farside.cfa import superpixel
from farside.demosaic import demosaic
from farside.errors import SettingsError
from farside.products.reader import Product
from farside.profiles import load_profile
from farside.settings import Settings


def settings_for(
    product: Product,
    profile: str | None = None,
    profile_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Settings for a product: its instrument's profile (or ``profile``), a user file, then overrides."""
    resolved = load_profile(profile or product.meta, profile_file, overrides)
    return Settings.from_profile(resolved)


@dataclass
class Linear:
    """A frame after the radiometric steps, before colour: float32, 1.0 = the sensor's clipping level
    (or, with ``dn=True``, data numbers above black)."""

    frame: np.ndarray
    mosaic: str | None
    exposure_s: float | None
    clip: float
    applied: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def exposure_factor(self) -> float:
        return 1.0 / self.exposure_s if self.exposure_s else 1.0


@dataclass(frozen=True)
class Look:
    """The colour and tone decisions for a frame, or shared by a set of frames: white-balance gains,
    camera-to-output matrix (applied after the gains) and black/white points."""

    gains: np.ndarray
    matrix: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray


@dataclass
class Rendered:
    """A display image and what made it."""

    image: np.ndarray
    settings: Settings
    applied: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _storage_to_image(product: Product) -> np.ndarray:
    """The product's array as (lines, samples[, bands]) whatever its storage order."""
    names = [n.lower() for n in product.array.axis_names]
    image = product.image
    if image.ndim == 3 and "band" in names and names.index("band") != 2:
        image = np.moveaxis(image, names.index("band"), 2)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise SettingsError(f"cannot render an array of shape {product.image.shape}: expected grey or RGB")
    return image


def linearize(product: Product, settings: Settings, dn: bool = False) -> Linear:
    """The radiometric steps: bit depth, black level, scaling (or sRGB decoding), edge repair, flat field,
    hot/dead pixels, exposure time. With ``dn=True`` values stay in data numbers above black."""
    stored = _storage_to_image(product)
    applied: dict[str, Any] = {}
    warnings: list[str] = []
    mosaic = settings.cfa if stored.ndim == 2 and settings.cfa != "none" else None

    if settings.input == "srgb" and not dn:
        frame = tone.decode_display(np.asarray(stored))
        clip, scale = 1.0, 1.0
        applied["decoded"] = "srgb"
    else:
        stats_max = product.meta.object_statistics.get("maximum")
        bits, warning = calibrate.effective_bit_depth(stored, settings.bit_depth, stats_max)
        if warning:
            warnings.append(warning)
        white = settings.saturation or float((1 << bits) - 1)
        if settings.black_level >= white:
            raise SettingsError(
                f"black level {settings.black_level:g} is not below this frame's white level {white:g}"
            )
        scale = (white - settings.black_level) if dn else 1.0
        frame = calibrate.normalise(stored, settings.black_level, white)
        if dn:
            frame *= np.float32(scale)
        clip = scale
        applied.update(bit_depth=bits, black_level=settings.black_level, white_level=white)
    if stored.dtype.kind == "f" and not np.all(np.isfinite(frame)):  # scaled or decoded integers are finite
        bad = int(np.count_nonzero(~np.isfinite(frame)))
        np.nan_to_num(frame, copy=False, nan=0.0, posinf=clip, neginf=0.0)
        warnings.append(f"{bad} samples were not finite: set to 0")

    clipped = float(np.count_nonzero(defects.saturated(frame, clip))) / frame.size
    applied["saturated_fraction"] = round(clipped, 6)

    if any(settings.edge_repair):
        calibrate.repair_edges(frame, *settings.edge_repair, step=2 if mosaic else 1)
        applied["edge_repair"] = list(settings.edge_repair)

    if settings.flat:
        flat = calibrate.normalise_flat(calibrate.load_flat(settings.flat), mosaic)
        calibrate.apply_flat(frame, flat, settings.flat)
        applied["flat"] = settings.flat

    if settings.hot_pixels:
        planes = [frame] if frame.ndim == 2 else [frame[:, :, c] for c in range(frame.shape[2])]
        hot = dead = 0
        repaired = []
        for plane in planes:
            fixed, flags = defects.repair_defects(
                plane,
                mosaic,
                settings.hot_pixel_threshold * scale,
                settings.hot_pixel_sigma,
                psf_sigma=settings.hot_pixel_psf,
            )
            hot += int(np.count_nonzero(flags == defects.HOT))
            dead += int(np.count_nonzero(flags == defects.DEAD))
            repaired.append(fixed)
        frame = repaired[0] if frame.ndim == 2 else np.stack(repaired, axis=-1)
        applied.update(hot_pixels=hot, dead_pixels=dead)

    exposure = None
    if settings.normalise_exposure:
        exposure = calibrate.exposure_seconds(
            product.meta.exposure_time, product.meta.exposure_time_unit, settings.exposure_time_unit
        )
        applied["exposure_s"] = exposure

    _check_levels(frame, clip, clipped, warnings)
    return Linear(frame, mosaic, exposure, clip, applied, warnings)


def _check_levels(frame: np.ndarray, clip: float, clipped: float, warnings: list[str]) -> None:
    sample = frame[::8, ::8]
    low, high = (float(v) for v in np.percentile(sample, [1, 99.9]))
    if high - low < 1e-4 * clip:
        warnings.append("frame is blank (no contrast): output is flat")
    elif high < 0.02 * clip:
        warnings.append(f"frame is nearly black (99.9th percentile at {high / clip:.2%} of full scale)")
    if clipped > 0.25:
        warnings.append(f"{clipped:.0%} of the samples are saturated")


def frame_samples(linear: Linear) -> np.ndarray:
    """(N, C) samples for frame statistics, exposure-normalised: R, G, B of 2x2 cells for a mosaic,
    pixels for RGB, values for grey."""
    if linear.mosaic:
        samples = colour.cfa_samples(linear.frame, linear.mosaic)
    elif linear.frame.ndim == 3:
        samples = colour.rgb_samples(linear.frame)
    else:
        samples = linear.frame[::4, ::4].reshape(-1, 1)
    return samples * np.float32(linear.exposure_factor)


def white_balance(
    settings: Settings, samples: np.ndarray, linear: Linear | None = None, product: Product | None = None
) -> np.ndarray:
    """R, G, B gains for the white-balance mode in ``settings``."""
    mode = settings.white_balance
    level = linear.clip * linear.exposure_factor if linear else 1.0
    if samples.shape[-1] != 3 or mode == "none":
        return np.ones(3)
    if mode in ("profile", "manual"):
        return np.asarray(settings.white_balance_gains, dtype=np.float64)
    if mode == "grey-world":
        return colour.grey_world_gains(samples, saturation=0.98 * level)
    if mode == "label":
        coefficients = product.meta.radiometric_coefficients if product else None
        try:
            return colour.coefficient_gains(coefficients)
        except ValueError as exc:
            raise SettingsError(f"white balance 'label': {exc}") from None
    if linear is None:
        raise SettingsError("white balance 'grey-patch' needs the frame")
    try:
        return colour.patch_gains(linear.frame, linear.mosaic, settings.grey_patch)
    except ValueError as exc:
        raise SettingsError(f"white balance 'grey-patch': {exc}") from None


def choose_look(
    settings: Settings,
    samples: np.ndarray,
    linear: Linear | None = None,
    product: Product | None = None,
) -> Look:
    """White balance, matrix and black/white points from frame samples (one frame's, or a set's)."""
    gains = white_balance(settings, samples, linear, product)
    matrix = None
    if settings.stretch == "none":  # the samples' colours and levels are not needed
        if samples.shape[-1] == 3:
            matrix = colour.colour_matrix(settings.matrix)
        channels = samples.shape[-1]
        factor = linear.exposure_factor if linear else 1.0
        return Look(gains=gains, matrix=matrix, lo=np.zeros(channels), hi=np.full(channels, factor))
    values = samples.astype(np.float64)
    if samples.shape[-1] == 3:
        level = linear.clip * linear.exposure_factor if linear else 1.0
        values = np.minimum(values * gains, gains.min() * level)
        matrix = colour.colour_matrix(settings.matrix)
        if settings.stretch == "decorrelation":
            matrix = colour.decorrelation_matrix(values @ matrix.T) @ matrix
        values = values @ matrix.T
    linked = settings.linked and settings.stretch != "decorrelation"
    lo, hi = tone.percentile_limits(values, settings.low, settings.high, linked)
    return Look(gains=gains, matrix=matrix, lo=lo, hi=hi)


# The samples a shared look is chosen from, at most: percentiles and means of a few million samples are as
# good as of all of them, and a site of 56 full-size frames would otherwise hold 2.7 GB of them.
SHARED_LOOK_SAMPLES = 4_000_000


def shared_look(
    linears: Iterable[Linear], settings: Settings, product: Product | None = None, frames: int | None = None
) -> Look:
    """One look for a set of frames (tiles of a panorama, frames of a movie), so they match: grey-world
    white balance and stretch from all their samples together; other modes from the first frame (and
    ``product``, the first frame's, for the label's white balance).

    ``linears`` are taken one at a time (a generator need hold only one); for a set of ``frames`` frames,
    each keeps an even share of at most ``SHARED_LOOK_SAMPLES`` samples (every k-th)."""
    first, parts = None, []
    for linear in linears:
        if first is None:
            first = linear
        samples = frame_samples(linear)
        if frames:
            samples = samples[:: max(1, -(-len(samples) * frames // SHARED_LOOK_SAMPLES))]
        parts.append(samples)
    if first is None:
        raise ValueError("no frames to choose a look from")
    return choose_look(settings, np.concatenate(parts), first, product)


def _halved(frame: np.ndarray) -> np.ndarray:
    """A frame that is not a mosaic at half its size, each output pixel the mean of a 2x2 block (odd last
    rows and columns dropped), as a mosaic's half-size image is made of its cells."""
    height, width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    blocks = frame[:height, :width].reshape(height // 2, 2, width // 2, 2, *frame.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def render(
    product: Product, settings: Settings, look: Look | None = None, linear: Linear | None = None
) -> Rendered:
    """Run the whole pipeline on a product; returns the display image (uint8/uint16) and what was applied.

    ``look`` (from :func:`shared_look`) replaces the frame's own white balance and stretch. ``linear``, the
    product's :func:`linearize` with these settings where it is already at hand, saves doing it again; it is
    used up (its frame is changed in place).
    """
    if linear is None:
        linear = linearize(product, settings)
    applied, warnings = dict(linear.applied), list(linear.warnings)
    if look is None:
        look = choose_look(settings, frame_samples(linear), linear, product)
    else:
        applied["shared_look"] = True
    frame = linear.frame
    factor = np.float32(linear.exposure_factor)
    squared = False
    if frame.ndim == 3 or linear.mosaic:
        applied["white_balance_gains"] = [round(float(g), 6) for g in look.gains]

    matrix = look.matrix
    if linear.mosaic:
        # Clipped highlights: every channel stops where the least-amplified one clipped, so they stay white.
        colour.apply_cfa_gains(frame, linear.mosaic, look.gains, ceiling=look.gains.min() * linear.clip)
        squared = settings.demosaic_domain == "sqrt"
        if squared:
            np.sqrt(np.maximum(frame, 0.0, out=frame), out=frame)
        if settings.half_size:
            frame = superpixel(frame, linear.mosaic)
            applied["demosaic"] = "half-size"
        else:
            frame = demosaic(frame, linear.mosaic, settings.demosaic)
            applied["demosaic"] = settings.demosaic
        matrix = matrix * factor
    elif frame.ndim == 3:
        matrix = matrix @ np.diag(look.gains) * factor
    else:
        frame *= factor
    if settings.half_size and not linear.mosaic:
        frame = _halved(frame)
        applied["half_size"] = True

    if settings.stretch != "none":
        applied["stretch"] = {
            "mode": settings.stretch,
            "low": np.round(look.lo, 6).tolist(),
            "high": np.round(look.hi, 6).tolist(),
        }
    gamma = settings.gamma if settings.stretch == "gamma" else 1.0
    image = tone.to_display(
        frame, matrix, look.lo, look.hi, settings.transfer, settings.output_bits, gamma, squared=squared
    )
    if settings.stretch == "clahe":
        image = tone.clahe(image, settings.clahe_clip, settings.clahe_tiles)
    return Rendered(image=image, settings=settings, applied=applied, warnings=warnings)
