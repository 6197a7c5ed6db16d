"""The convert pipeline: product -> raw frame -> linear RGB -> display RGB.

Each step is a pure function on arrays (``calibrate``, ``demosaic``, ``colour``, ``tone``); this module
only wires them in order from one :class:`Settings`, so the provenance of an output is the settings
themselves.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from farside import calibrate, colour, tone
from farside.demosaic import DEFAULT_METHOD, METHODS, PATTERNS, demosaic
from farside.errors import SettingsError
from farside.products.reader import Product
from farside.profiles import Profile, load_profile

_WHITE_BALANCE = ("none", "profile", "grey-world")
_STRETCH = ("none", "percentile")
_FORMATS = ("png", "tiff", "jpeg")
_FORMAT_ALIASES = {"tif": "tiff", "jpg": "jpeg"}


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline, resolved from a profile (+ user file + overrides)."""

    profile: str
    profile_sources: tuple[str, ...]
    cfa: str
    bit_depth: int
    black_level: float
    saturation: float
    input: str
    edge_repair: tuple[int, int, int, int]
    demosaic: str
    white_balance: str
    white_balance_gains: tuple[float, float, float]
    matrix: tuple[tuple[float, ...], ...]
    stretch: str
    low: float
    high: float
    linked: bool
    transfer: str
    output_format: str
    output_bits: int
    quality: int
    png_compression: int

    @classmethod
    def from_profile(cls, profile: Profile) -> Settings:
        v = profile.values
        sensor, col, tone_, process, output = (
            v[k] for k in ("sensor", "colour", "tone", "process", "output")
        )
        method = process["demosaic"]
        settings = cls(
            profile=profile.name,
            profile_sources=profile.sources,
            cfa=str(sensor["cfa"]).upper() if str(sensor["cfa"]).lower() != "none" else "none",
            bit_depth=int(sensor["bit_depth"]),
            black_level=float(sensor["black_level"]),
            saturation=float(sensor["saturation"]),
            input=str(sensor["input"]),
            edge_repair=tuple(int(n) for n in sensor["edge_repair"]),  # type: ignore[arg-type]
            demosaic=DEFAULT_METHOD if method == "default" else str(method),
            white_balance=str(col["white_balance"]),
            white_balance_gains=tuple(float(g) for g in col["white_balance_gains"]),  # type: ignore[arg-type]
            matrix=tuple(tuple(float(x) for x in row) for row in col["matrix"]),
            stretch=str(tone_["stretch"]),
            low=float(tone_["low"]),
            high=float(tone_["high"]),
            linked=bool(tone_["linked"]),
            transfer=str(tone_["transfer"]),
            output_format=_FORMAT_ALIASES.get(str(output["format"]).lower(), str(output["format"]).lower()),
            output_bits=int(output["bits"]),
            quality=int(output["quality"]),
            png_compression=int(output["png_compression"]),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible value."""
        problems = [
            (
                self.cfa != "none" and self.cfa not in PATTERNS,
                f"cfa {self.cfa!r} (none or {', '.join(PATTERNS)})",
            ),
            (not 1 <= self.bit_depth <= 32, f"bit_depth {self.bit_depth} (1..32)"),
            (self.input not in ("linear", "srgb"), f"input {self.input!r} (linear or srgb)"),
            (len(self.edge_repair) != 4 or min(self.edge_repair) < 0, f"edge_repair {self.edge_repair}"),
            (self.demosaic not in METHODS, f"demosaic {self.demosaic!r} ({', '.join(METHODS)})"),
            (self.white_balance not in _WHITE_BALANCE, f"white_balance {self.white_balance!r}"),
            (len(self.white_balance_gains) != 3 or min(self.white_balance_gains) <= 0, "white_balance_gains"),
            (self.stretch not in _STRETCH, f"stretch {self.stretch!r} ({', '.join(_STRETCH)})"),
            (not 0 <= self.low < self.high <= 100, f"stretch percentiles {self.low}, {self.high}"),
            (self.transfer not in ("srgb", "linear"), f"transfer {self.transfer!r} (srgb or linear)"),
            (self.output_format not in _FORMATS, f"output format {self.output_format!r}"),
            (self.output_bits not in (8, 16), f"output bits {self.output_bits} (8 or 16)"),
            (self.output_format == "jpeg" and self.output_bits != 8, "jpeg output is 8-bit only"),
            (not 1 <= self.quality <= 100, f"jpeg quality {self.quality}"),
            (not 0 <= self.png_compression <= 9, f"png compression {self.png_compression}"),
        ]
        for bad, what in problems:
            if bad:
                raise SettingsError(f"impossible setting: {what}")
        colour.colour_matrix(self.matrix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def render(product: Product, settings: Settings) -> Rendered:
    """Run the whole pipeline on a product; returns the display image (uint8/uint16) and what was applied.

    Steps, in order: bit-depth check; black level and scaling to [0, 1] (or sRGB decoding for
    display-encoded products); edge repair; white balance (on the mosaic, before demosaicing, where there
    is one); demosaic; colour matrix; stretch; transfer curve.
    """
    warnings: list[str] = []
    applied: dict[str, Any] = {}
    stored = _storage_to_image(product)

    if settings.input == "srgb":
        linear = tone.decode_display(np.asarray(stored))
        applied["decoded"] = "srgb"
    else:
        stats_max = product.meta.object_statistics.get("maximum")
        bits, warning = calibrate.effective_bit_depth(stored, settings.bit_depth, stats_max)
        if warning:
            warnings.append(warning)
        white = settings.saturation or float((1 << bits) - 1)
        linear = calibrate.normalise(stored, settings.black_level, white)
        applied.update(bit_depth=bits, black_level=settings.black_level, white_level=white)

    mosaic = linear.ndim == 2 and settings.cfa != "none"
    if any(settings.edge_repair):
        calibrate.repair_edges(linear, *settings.edge_repair, step=2 if mosaic else 1)
        applied["edge_repair"] = list(settings.edge_repair)

    gains = np.ones(3)
    if linear.ndim == 3 or mosaic:
        if settings.white_balance == "profile":
            gains = np.asarray(settings.white_balance_gains, dtype=np.float64)
        elif settings.white_balance == "grey-world":
            samples = colour.cfa_samples(linear, settings.cfa) if mosaic else colour.rgb_samples(linear)
            gains = colour.grey_world_gains(samples)
        applied["white_balance_gains"] = [round(float(g), 6) for g in gains]

    if mosaic:
        colour.apply_cfa_gains(linear, settings.cfa, gains)
        gains = np.ones(3)
        linear = demosaic(linear, settings.cfa, settings.demosaic)
        applied["demosaic"] = settings.demosaic

    matrix = None
    if linear.ndim == 3:
        matrix = colour.colour_matrix(settings.matrix) @ np.diag(gains)

    if settings.stretch == "percentile":
        samples = colour.rgb_samples(linear) if linear.ndim == 3 else linear[::4, ::4].reshape(-1, 1)
        if matrix is not None:
            samples = samples @ matrix.T
        lo, hi = tone.percentile_limits(samples, settings.low, settings.high, settings.linked)
        applied["stretch"] = {"low": lo.round(6).tolist(), "high": hi.round(6).tolist()}
    else:
        channels = 3 if linear.ndim == 3 else 1
        lo, hi = np.zeros(channels), np.ones(channels)
    if float(np.max(hi - lo)) < 1e-4 or not np.isfinite(linear[::16, ::16]).all():
        warnings.append("frame is blank or nearly so: output stretched over its tiny range")

    image = tone.to_display(linear, matrix, lo, hi, settings.transfer, settings.output_bits)
    return Rendered(image=image, settings=settings, applied=applied, warnings=warnings)
