"""The settings schema: every knob of the pipeline, declared once.

Each :class:`Option` names its profile key (``section.key``), its default, its type and allowed values, the
command-line flag that sets it and a one-line help text. Everything else is derived from :data:`OPTIONS`:

- the :class:`Settings` dataclass the pipeline runs on (its fields, in this order);
- the defaults every instrument profile starts from (``farside profile show default``);
- the validation of profile files, ``--set`` overrides and flag values (one :class:`SettingsError` or
  :class:`ProfileError` naming the key and what it allows);
- the command line's flags with their types, choices, defaults and help (:mod:`farside.cli.options`);
- the provenance written into every output (``Settings.to_dict()``).

>>> OPTION_BY_KEY["sensor.black_level"].parse("12")
12.0
>>> OPTION_BY_KEY["output.bits"].parse(12)
Traceback (most recent call last):
...
ValueError: 12 is not one of 8, 16
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Any

from farside.cfa import PATTERNS
from farside.errors import SettingsError


def _demosaic_choices() -> tuple[str, ...]:
    from farside.demosaic import METHODS

    return ("default", *METHODS)


@dataclass(frozen=True)
class Option:
    """One setting: where it lives in a profile, its type, its allowed values and its flag."""

    key: str
    default: Any
    help: str
    kind: str  # "str", "int", "float", "bool", "ints", "floats", "matrix"
    attr: str = ""  # the Settings field; the key's last part unless given
    choices: tuple[Any, ...] | Callable[[], tuple[str, ...]] | None = None
    length: int | None = None  # for "ints"/"floats": exact count
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False  # strictly above zero
    flag: str | None = None  # command-line flag that sets it
    metavar: str | None = None
    switch: str | None = None  # a flag without value that sets the opposite of a boolean default
    switch_help: str = ""
    # Modes whose flag takes arguments ("manual 1.2,1,1.5"): mode -> (keys that receive them, count each).
    mode_arguments: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    example: str = ""

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]

    @property
    def name(self) -> str:
        return self.key.partition(".")[2]

    @property
    def field_name(self) -> str:
        return self.attr or self.name

    def allowed(self) -> tuple[Any, ...] | None:
        return self.choices() if callable(self.choices) else self.choices

    def parse(self, value: Any) -> Any:
        """The value in this option's type, or ``ValueError`` saying what is allowed.

        Strings are read as TOML values where the option is not a string (so ``"12"``, ``"[1, 2]"`` and
        ``"true"`` work from a command line).
        """
        if isinstance(value, str) and self.kind != "str":
            value = _toml_value(value, self.kind)
        if self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not text")
            parsed: Any = value
            if self.key == "sensor.cfa":
                parsed = "none" if value.lower() == "none" else value.upper()
            elif self.key == "output.format":
                parsed = {"tif": "tiff", "jpg": "jpeg"}.get(value.lower(), value.lower())
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{value!r} is not true or false")
            parsed = value
        elif self.kind in ("int", "float"):
            parsed = self._number(value)
        elif self.kind in ("ints", "floats"):
            if not isinstance(value, list | tuple) or (self.length and len(value) != self.length):
                raise ValueError(f"{value!r} is not a list of {self.length} numbers")
            parsed = tuple(self._number(v, self.kind[:-1]) for v in value)
        elif self.kind == "matrix":
            rows = value if isinstance(value, list | tuple) else ()
            if len(rows) != 3 or any(not isinstance(r, list | tuple) or len(r) != 3 for r in rows):
                raise ValueError(f"{value!r} is not a 3 x 3 matrix")
            parsed = tuple(tuple(self._number(v, "float") for v in row) for row in rows)
        else:  # pragma: no cover - a schema mistake
            raise TypeError(self.kind)
        allowed = self.allowed()
        if allowed is not None and parsed not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, allowed))}")
        return parsed

    def _number(self, value: Any, kind: str | None = None) -> float | int:
        kind = kind or self.kind
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        if kind == "int":
            if value != int(value):
                raise ValueError(f"{value!r} is not a whole number")
            value = int(value)
        else:
            value = float(value)
        if self.positive and value <= 0:
            raise ValueError(f"{value!r} is not above 0")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{value!r} is below {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{value!r} is above {self.maximum:g}")
        return value


def toml_text(value: Any) -> str:
    """A value as TOML.

    >>> toml_text([[1.0, 0.0], "a", True])
    '[[1.0, 0.0], "a", true]'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    return repr(value)


def _toml_value(text: str, kind: str) -> Any:
    raw = text.strip()
    if kind == "bool":
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    if kind in ("ints", "floats", "matrix") and not raw.startswith("["):
        raw = "[" + raw + "]"  # "1.2,1,1.5" as a list
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        raise ValueError(f"{text!r} is not a {kind.rstrip('s')} value") from None


_WB_MODES = ("none", "profile", "grey-world", "label", "grey-patch", "manual")
_STRETCH_MODES = ("none", "percentile", "gamma", "clahe", "decorrelation")

OPTIONS: tuple[Option, ...] = (
    # sensor: what the stored values mean
    Option("sensor.cfa", "none", "Bayer pattern as stored, or none", "str",
           choices=("none", *PATTERNS), flag="--cfa"),
    Option("sensor.bit_depth", 8, "significant bits of the stored values", "int",
           minimum=1, maximum=32, flag="--bit-depth", metavar="BITS"),
    Option("sensor.black_level", 0.0, "DN subtracted before anything else", "float",
           minimum=0, flag="--black-level", metavar="DN"),
    Option("sensor.saturation", 0.0, "DN at which the sensor clips; 0 means 2**bit_depth - 1", "float",
           minimum=0, flag="--saturation", metavar="DN"),
    Option("sensor.input", "linear",
           "linear sensor values, or srgb for products that are already display-encoded", "str",
           choices=("linear", "srgb")),
    Option("sensor.edge_repair", (0, 0, 0, 0),
           "rows/columns rebuilt from their neighbours: top, bottom, left, right", "ints",
           length=4, minimum=0),
    Option("sensor.flat", "", "flat field (TIFF, 16-bit PNG or .npy; never lossy) to divide out; empty: none",
           "str", flag="--flat", metavar="FILE"),
    Option("sensor.hot_pixels", True, "find and repair hot, dead and stuck pixels before demosaicing", "bool",
           switch="--no-hot-pixels",
           switch_help="leave hot, dead and stuck pixels alone (for frames with real single-pixel detail)"),
    Option("sensor.hot_pixel_threshold", 0.3,
           "a defect departs from every directional prediction by this fraction of full scale", "float",
           positive=True),
    Option("sensor.hot_pixel_sigma", 8.0,
           "... and by this many times the noise expected at its level (shot + read noise fitted per frame)",
           "float", positive=True, flag="--hot-pixel-sigma", metavar="SIGMA"),
    Option("sensor.hot_pixel_psf", 0.6,
           "narrowest lens blur (Gaussian sigma, samples) the defect test expects real detail to have",
           "float", positive=True),
    Option("sensor.exposure_time_unit", "",
           "unit of the label's exposure time when the label gives none (empty: unknown)", "str",
           choices=("", "s", "ms", "us"), flag="--exposure-unit", metavar="UNIT"),
    Option("sensor.normalise_exposure", True,
           "divide by the exposure time (DN/s) where it and its unit are known", "bool"),
    # colour
    Option("colour.white_balance", "none", "white-balance mode", "str", choices=_WB_MODES,
           flag="--white-balance", metavar="MODE",
           mode_arguments={"manual": (("colour.white_balance_gains",), 3),
                           "profile": (("colour.white_balance_gains",), 3),
                           "grey-patch": (("colour.grey_patch",), 4)},
           example="'grey-patch X,Y,W,H' or 'manual R,G,B'"),
    Option("colour.white_balance_gains", (1.0, 1.0, 1.0), "R, G, B gains of the profile and manual modes",
           "floats", length=3, positive=True),
    Option("colour.grey_patch", (0, 0, 0, 0),
           "x, y, width, height (samples, lines) of a neutral area, for grey-patch", "ints", length=4,
           minimum=0),
    Option("colour.matrix", ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
           "camera RGB -> linear sRGB", "matrix"),
    # tone
    Option("tone.stretch", "percentile", "stretch mode", "str", choices=_STRETCH_MODES, flag="--stretch",
           metavar="MODE",
           mode_arguments={"percentile": (("tone.low", "tone.high"), 1), "gamma": (("tone.gamma",), 1),
                           "clahe": (("tone.clahe_clip",), 1)},
           example="'percentile 1,99', 'gamma 0.5' or 'clahe 2'"),
    Option("tone.low", 0.5, "percentile mapped to black", "float", minimum=0, maximum=100, flag="--low",
           metavar="PERCENT"),
    Option("tone.high", 99.8, "percentile mapped to white", "float", minimum=0, maximum=100, flag="--high",
           metavar="PERCENT"),
    Option("tone.linked", True, "one stretch for all channels, so colour is kept", "bool",
           switch="--per-channel",
           switch_help="stretch each channel on its own (colour is not kept)"),
    Option("tone.gamma", 0.6, "power after the percentile stretch (below 1 brightens shadows)", "float",
           positive=True),
    Option("tone.clahe_clip", 2.0, "OpenCV CLAHE contrast limit, on lightness only", "float", positive=True),
    Option("tone.clahe_tiles", 8, "CLAHE tiles across the shorter side", "int", minimum=1),
    Option("tone.transfer", "srgb", "transfer curve of the output", "str", choices=("srgb", "linear"),
           flag="--transfer"),
    # process
    Option("process.demosaic", "default",
           "demosaic method (farside demosaic-methods; default: the best classical one)", "str",
           choices=_demosaic_choices, flag="--demosaic", metavar="METHOD"),
    Option("process.demosaic_domain", "sqrt",
           "demosaic the square root of the signal (fewer visible fringes), or linear", "str",
           choices=("sqrt", "linear")),
    Option("process.half_size", False,
           "one RGB pixel per 2x2 Bayer cell instead of demosaicing: half the size, for previews", "bool",
           switch="--half-size",
           switch_help="one RGB pixel per 2x2 Bayer cell instead of demosaicing: an image of half the "
                       "size, several times faster (previews, quick looks)"),
    # optics: the camera model of scenes (panoramas, anaglyphs); the label's values win where it has them
    Option("optics.focal_length_mm", 0.0, "focal length in mm (0: unknown)", "float", minimum=0),
    Option("optics.pixel_size_um", 0.0, "detector pixel pitch in micrometres (0: unknown)", "float",
           minimum=0),
    Option("optics.principal_point", (-1.0, -1.0),
           "x0, y0 of the optical axis in pixels from the top-left corner; negative: the frame's centre",
           "floats", length=2),
    Option("optics.yaw_sign", 1, "1 if a positive mast yaw turns the camera to the right, -1 if to the left",
           "int", choices=(1, -1)),
    Option("optics.pitch_sign", 1, "1 if a positive mast pitch turns the camera up, -1 if down", "int",
           choices=(1, -1)),
    # a stereo pair's eyes: the camera letters product names give them (PCAML, PCAMR) and their distance
    Option("optics.left_camera", "", "camera letter of a stereo pair's left eye in product names (empty: "
           "not a stereo camera)", "str"),
    Option("optics.right_camera", "", "camera letter of a stereo pair's right eye in product names", "str"),
    Option("optics.baseline_m", 0.0, "distance between a stereo pair's optical centres, metres (0: unknown)",
           "float", minimum=0),
    # output
    Option("output.format", "png", "output file format", "str", attr="output_format",
           choices=("png", "tiff", "jpeg"), flag="--format"),
    Option("output.bits", 8, "bits per channel (png, tiff; jpeg is 8)", "int", attr="output_bits",
           choices=(8, 16), flag="--bits"),
    Option("output.quality", 92, "JPEG quality", "int", minimum=1, maximum=100, flag="--quality"),
    Option("output.png_compression", 1, "zlib level 0-9 of PNG output", "int", minimum=0, maximum=9),
)  # fmt: skip

OPTION_BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.section for option in OPTIONS))


def defaults() -> dict[str, dict[str, Any]]:
    """The default profile as nested ``{section: {key: value}}`` (TOML-shaped: lists, not tuples)."""
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for option in OPTIONS:
        values[option.section][option.name] = plain(option.default)
    return values


def plain(value: Any) -> Any:
    """Tuples as lists, recursively (how TOML and JSON hold them)."""
    return [plain(v) for v in value] if isinstance(value, tuple | list) else value


def _check(settings: Any) -> None:
    """Checks that involve more than one setting."""
    problems = [
        (not settings.low < settings.high, f"tone.low {settings.low} is not below tone.high {settings.high}"),
        (settings.output_format == "jpeg" and settings.output_bits != 8,
         "JPEG output is 8-bit only (use --format png or tiff for 16 bits)"),
    ]  # fmt: skip
    for bad, what in problems:
        if bad:
            raise SettingsError(f"impossible setting: {what}")
    from farside.colour import colour_matrix

    try:
        colour_matrix(settings.matrix)
    except ValueError as exc:
        raise SettingsError(f"impossible setting: colour.matrix: {exc}") from None


def _from_profile(cls: type, profile: Any) -> Any:
    """Settings from a resolved :class:`~farside.profiles.Profile` (values already validated)."""
    from farside.demosaic import DEFAULT_METHOD

    values = {}
    for option in OPTIONS:
        try:
            value = option.parse(profile.get(option.key))
        except ValueError as exc:
            raise SettingsError(f"impossible setting: {option.key}: {exc}") from None
        values[option.field_name] = value
    if values["demosaic"] == "default":
        values["demosaic"] = DEFAULT_METHOD
    settings = cls(profile=profile.name, profile_sources=tuple(profile.sources), **values)
    settings.check()
    return settings


Settings = make_dataclass(
    "Settings",
    [("profile", str), ("profile_sources", tuple)] + [(option.field_name, Any) for option in OPTIONS],
    frozen=True,
    namespace={
        "__doc__": "Every knob of the pipeline, resolved from a profile (+ user file + overrides). Its "
        "fields are the profile name and sources, then one per :data:`OPTIONS` entry "
        "(``sensor.black_level`` -> ``black_level``, ``output.format`` -> ``output_format``...).",
        "__module__": __name__,
        "from_profile": classmethod(_from_profile),
        "check": _check,
        "to_dict": lambda self: asdict(self),
    },
)


def mode_overrides(option: Option, text: str) -> dict[str, Any]:
    """``MODE`` or ``MODE ARGS`` (also ``MODE:ARGS``, ``MODE=ARGS``) of a mode flag as profile overrides.

    >>> mode_overrides(OPTION_BY_KEY["tone.stretch"], "percentile 1,99")
    {'tone.stretch': 'percentile', 'tone.low': 1.0, 'tone.high': 99.0}
    """
    mode, _, arguments = text.replace(":", " ").replace("=", " ").strip().partition(" ")
    overrides: dict[str, Any] = {option.key: option.parse(mode)}
    arguments = arguments.strip()
    if not arguments:
        return overrides
    if mode not in option.mode_arguments:
        raise ValueError(f"mode {mode!r} takes no arguments")
    keys, count = option.mode_arguments[mode]
    numbers = [v for v in arguments.replace(" ", ",").split(",") if v]
    want = count * len(keys)
    if len(numbers) != want:
        raise ValueError(f"{mode} wants {want} comma-separated numbers, got {arguments!r}")
    for index, key in enumerate(keys):
        part = numbers[index * count : (index + 1) * count]
        target = OPTION_BY_KEY[key]
        overrides[key] = target.parse(",".join(part) if count > 1 else part[0])
    return overrides


def parse_overrides(items: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Validate ``(section.key, value)`` pairs against the schema; raises :class:`SettingsError`."""
    parsed: dict[str, Any] = {}
    for key, value in items:
        option = OPTION_BY_KEY.get(key)
        if option is None:
            raise SettingsError(f"unknown setting {key!r}")
        try:
            parsed[key] = option.parse(value)
        except ValueError as exc:
            raise SettingsError(f"{key}: {exc}") from None
    return parsed


__all__ = [
    "OPTIONS",
    "OPTION_BY_KEY",
    "Option",
    "Settings",
    "defaults",
    "mode_overrides",
    "parse_overrides",
    "plain",
]
