"""Red-cyan anaglyphs (and side-by-side pairs) of an aligned stereo pair.

An anaglyph puts the left eye's view where the red filter of the glasses lets it through and the right eye's
where the cyan one does. Each colour method is a pair of 3 x 3 matrices (output RGB from the left eye's RGB,
and from the right eye's), applied where its source says (:data:`METHODS`):

- ``dubois`` (the default): Dubois' least-squares projection, whose matrices minimise the difference,
  in CIE XYZ, between what each eye sees through its filter and the colour it should see. They apply to
  linear RGB: the display's gamma is taken off first and put back after, and each eye's term is clipped
  to [0, 1] before the two are added, as Dubois' instructions say. E. Dubois, "Conversion of a stereo
  pair to anaglyph with the least-squares projection method", University of Ottawa, March 2009
  (https://www.site.uottawa.ca/~edubois/anaglyph/LeastSquaresHowToPhotoshop.pdf); the method: E. Dubois,
  "A projection method to generate anaglyph stereo images", Proc. IEEE ICASSP 2001, vol. 3, pp. 1661-1664,
  doi:10.1109/ICASSP.2001.941256.
- ``half-colour``: the left eye's luma in red, the right eye's green and blue; ``grey``: each eye's luma
  (red from the left, green and blue from the right); ``colour``: the left eye's red, the right eye's
  green and blue. As P. Wimmer's "Anaglyph methods comparison" (3dtv.at,
  https://3dtv.at/Knowhow/AnaglyphComparison_en.aspx) gives them: on the display-encoded values, luma
  with the ITU-R BT.601 weights (0.299, 0.587, 0.114).

Both eyes are rendered with one white balance and stretch (:func:`farside.conversion.shared_look`), so
the only difference between them is the viewpoint. The layouts ``side-by-side`` (left eye on the left, for
parallel viewing and stereoscopes) and ``cross-eye`` (right eye on the left) keep each eye in full colour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from farside.output import EXTENSIONS, encode, farside_version, safe_file_name, write_outputs
from farside.tone import srgb_decode, srgb_encode

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

# Dubois (2009), red-cyan glasses: output R, G, B (rows) from the left and right eyes' R, G, B (columns).
DUBOIS_LEFT: Matrix = ((0.437, 0.449, 0.164), (-0.062, -0.062, -0.024), (-0.048, -0.050, -0.017))
DUBOIS_RIGHT: Matrix = ((-0.011, -0.032, -0.007), (0.377, 0.761, 0.009), (-0.026, -0.093, 1.234))
LUMA_601 = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights, as Wimmer's matrices use them
_NONE = (0.0, 0.0, 0.0)
_GREEN, _BLUE = (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)

_DUBOIS = (
    'E. Dubois, "Conversion of a stereo pair to anaglyph with the least-squares projection method", '
    "University of Ottawa, March 2009; E. Dubois, ICASSP 2001, doi:10.1109/ICASSP.2001.941256"
)
_WIMMER = (
    'P. Wimmer, "Anaglyph methods comparison", 3dtv.at (https://3dtv.at/Knowhow/AnaglyphComparison_en.aspx)'
)


@dataclass(frozen=True)
class Method:
    """A colour method: the matrices that take each eye's RGB to the anaglyph's, whether they apply to
    linear light (else to display-encoded sRGB values, as their source gives them), whether each eye's
    term is clipped to [0, 1] before the two are added, and the source."""

    name: str
    left: Matrix
    right: Matrix
    linear: bool
    clip_terms: bool
    source: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "left": [list(row) for row in self.left],
            "right": [list(row) for row in self.right],
            "linear_light": self.linear,
            "terms_clipped": self.clip_terms,
            "source": self.source,
        }


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("dubois", DUBOIS_LEFT, DUBOIS_RIGHT, True, True, _DUBOIS,
               "least-squares projection: the most colour for the least ghosting"),
        Method("half-colour", (LUMA_601, _NONE, _NONE), (_NONE, _GREEN, _BLUE), False, False, _WIMMER,
               "left eye's luma in red, right eye's green and blue: less rivalry than colour"),
        Method("grey", (LUMA_601, _NONE, _NONE), (_NONE, LUMA_601, LUMA_601), False, False, _WIMMER,
               "each eye's luma: no colour, no rivalry"),
        Method("colour", ((1.0, 0.0, 0.0), _NONE, _NONE), (_NONE, _GREEN, _BLUE), False, False, _WIMMER,
               "left eye's red, right eye's green and blue: most colour, most rivalry"),
    )
}  # fmt: skip
LAYOUTS = ("anaglyph", "side-by-side", "cross-eye")
_BAND = 256  # rows mixed at a time, to bound the temporaries of a full-size frame


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


def anaglyph(left: np.ndarray, right: np.ndarray, method: str = "dubois") -> np.ndarray:
    """The anaglyph of two aligned eyes: linear-light images in [0, 1] (H, W, 3; or grey, H, W) in, linear
    light in [0, 1] (H, W, 3, float32) out; the inputs are left as they are. See :data:`METHODS`.

    >>> left, right = np.zeros((1, 1, 3)), np.ones((1, 1, 3))
    >>> anaglyph(left, right, "colour").ravel().tolist()
    [0.0, 1.0, 1.0]
    """
    if method not in METHODS:
        raise ValueError(f"unknown anaglyph method {method!r}; known: {', '.join(METHODS)}")
    spec = METHODS[method]
    left, right = _rgb(left), _rgb(right)
    if left.shape != right.shape:
        raise ValueError(f"the eyes differ in size: {left.shape[:2]} and {right.shape[:2]}")
    to_left, to_right = (np.asarray(m, np.float32).T for m in (spec.left, spec.right))
    out = np.empty(left.shape, np.float32)
    for top in range(0, left.shape[0], _BAND):
        rows = slice(top, top + _BAND)
        a, b = left[rows], right[rows]
        if not spec.linear:
            a, b = srgb_encode(a).astype(np.float32), srgb_encode(b).astype(np.float32)
        first, second = a @ to_left, b @ to_right
        if spec.clip_terms:
            np.clip(first, 0.0, 1.0, out=first)
            np.clip(second, 0.0, 1.0, out=second)
        mixed = np.clip(first + second, 0.0, 1.0)
        out[rows] = mixed if spec.linear else srgb_decode(mixed)
    return out


def compose(
    left: np.ndarray, right: np.ndarray, method: str = "dubois", layout: str = "anaglyph"
) -> np.ndarray:
    """The image of a layout (:data:`LAYOUTS`) of two aligned eyes (linear light in [0, 1]): the anaglyph
    of ``method``, or both eyes side by side (``side-by-side``: the left eye on the left; ``cross-eye``:
    the right eye on the left)."""
    if layout == "anaglyph":
        return anaglyph(left, right, method)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if np.ndim(left) != np.ndim(right):
        left, right = _rgb(left), _rgb(right)
    first, second = (left, right) if layout == "side-by-side" else (right, left)
    return np.concatenate([np.asarray(first, np.float32), np.asarray(second, np.float32)], axis=1)


def to_display(image: np.ndarray, transfer: str = "srgb", bits: int = 8) -> np.ndarray:
    """Linear light in [0, 1] as display integers (uint8 or uint16) through the ``transfer`` curve."""
    encoded = srgb_encode(image) if transfer == "srgb" else np.clip(image, 0.0, 1.0)
    peak = (1 << bits) - 1
    return np.round(encoded * peak).astype(np.uint8 if bits == 8 else np.uint16)


# Making anaglyphs of products


@dataclass
class PairOutcome:
    """What became of one stereo pair: the output written (or None), the alignment found, one line per
    problem (nothing written) and per warning (written, but not as well as it might be)."""

    name: str
    left: str
    right: str
    output: str | None = None
    alignment: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Anaglyphs:
    """What a run made: one :class:`PairOutcome` per pair found, one line per product that could not be
    read, and one per product that found no partner."""

    outcomes: list[PairOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether anything failed: a product unread, a pair not made, or no pair found at all."""
        return bool(self.problems) or not self.outcomes or any(o.problems for o in self.outcomes)


def output_name(left_data_path: Any, layout: str = "anaglyph") -> str:
    """A pair's output name (without extension): the left eye's data file name plus the layout."""
    return safe_file_name(f"{getattr(left_data_path, 'name', left_data_path)}_{layout}")


def _render(item: Any, look: Any, linear: Any = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """An eye rendered with the pair's look at 16 bits (from its ``linear``ized frame where at hand): what
    was rendered, the display image and the same in linear light (float32, [0, 1])."""
    from farside.pipeline import render
    from farside.tone import decode_display

    settings = replace(item.settings, output_bits=16)
    rendered = render(item.product, settings, look, linear)
    display = rendered.image
    if settings.transfer == "srgb":
        linear = decode_display(display)
    else:
        linear = display.astype(np.float32) / np.float32(65535)
    return rendered, display, linear


def _source(item: Any) -> dict[str, str]:
    product = item.product
    return {"product_id": product.name, "label": str(product.label_path.resolve()),
            "data": str(product.data_path.resolve())}  # fmt: skip


def build_pair(
    left: Any,
    right: Any,
    out_dir: Any,
    method: str = "dubois",
    layout: str = "anaglyph",
    parallax_px: float | None = None,
) -> PairOutcome:
    """Make and write one pair's image from its two eyes (:class:`~farside.conversion.Planned`): both
    rendered with one shared look, aligned (:func:`farside.scenes.stereo.align`), composed in ``layout``
    with ``method`` and written in the left eye's settings' format and bit depth, with provenance and a
    sidecar naming both products, the method and the alignment found. Never raises for bad products: the
    outcome says what went wrong, one line each."""
    from farside.conversion import failure_line, shared_look
    from farside.scenes.geometry import camera_model, mast_pointing
    from farside.scenes.stereo import align, warp_pair

    name = output_name(left.product.data_path, layout)
    outcome = PairOutcome(name, left.path, right.path)
    kept: dict[str, Any] = {}
    look, failed = shared_look([left, right], kept)
    outcome.problems.extend(o.error for o in failed if o.error)
    if failed:
        outcome.problems.append(f"{name}: an eye of this pair could not be read; nothing written")
        return outcome
    eyes = []
    for item in (left, right):
        try:
            eyes.append(_render(item, look, kept.pop(item.path, None)))
        except Exception as exc:
            outcome.problems.append(failure_line(item.path, exc))
    if len(eyes) < 2:
        outcome.problems.append(f"{name}: an eye of this pair could not be rendered; nothing written")
        return outcome
    try:
        cameras, pointings = [], []
        for item, (_, display, _) in zip((left, right), eyes, strict=True):
            cameras.append(camera_model(item.settings, item.product.meta, display.shape))
            pointings.append(mast_pointing(item.product.meta, item.settings))
        features = [np.round(display / np.float32(257)).astype(np.uint8) for _, display, _ in eyes]
        alignment = align(features[0], features[1], (cameras[0], cameras[1]), (pointings[0], pointings[1]),
                          parallax_px=parallax_px)  # fmt: skip
        if alignment.note:
            outcome.warnings.append(f"{name}: {alignment.note}")
        warped = [np.clip(image, 0.0, 1.0) for image in warp_pair(eyes[0][2], eyes[1][2], alignment)]
        image = compose(warped[0], warped[1], method, layout)
        settings = left.settings
        description = {
            "kind": "anaglyph" if layout == "anaglyph" else "stereo pair",
            "layout": layout,
            "method": METHODS[method].to_dict() if layout == "anaglyph" else None,
            "left": _source(left),
            "right": _source(right),
            "alignment": alignment.to_dict(settings.baseline_m),
            "applied": {"left": eyes[0][0].applied, "right": eyes[1][0].applied},
            "warnings": outcome.warnings + [w for rendered, _, _ in eyes for w in rendered.warnings],
            "software": f"farside {farside_version()}",
            "settings": settings.to_dict(),
        }
        outcome.alignment = description["alignment"]
        target = Path(out_dir) / (name + EXTENSIONS[settings.output_format])
        outcome.output = str(write_image(target, image, settings, description, left, right))
    except Exception as exc:  # a pair that cannot be made is one line; the other pairs go on
        outcome.problems.append(failure_line(name, exc))
    return outcome


def write_image(
    target: Path, image: np.ndarray, settings: Any, description: dict[str, Any], left: Any, right: Any
) -> Path:
    """Write a pair's image (linear light in [0, 1]) in the settings' format, transfer and bit depth, with
    ``description`` as its provenance, and its sidecar (the description and both products' metadata).
    Atomic: nothing is left under the final names unless all was written."""
    pixels = to_display(image, settings.transfer, settings.output_bits)
    payload = encode(pixels, settings.output_format, description, settings.quality, settings.png_compression,
                     settings.transfer)  # fmt: skip
    side = {**description, "products": {"left": left.product.meta.to_dict(),
                                        "right": right.product.meta.to_dict()}}  # fmt: skip
    json.dumps(side)  # a sidecar that cannot be written stops the image too, before either is written
    return write_outputs(target, payload, side)


def make_anaglyphs(
    paths: Sequence[Any],
    out_dir: Any,
    request: Any,
    method: str = "dubois",
    layout: str = "anaglyph",
    parallax_px: float | None = None,
    explicit: bool = False,
) -> Anaglyphs:
    """Pair the products at ``paths`` (:func:`farside.scenes.stereo.find_pairs`; with ``explicit`` they
    are one pair) and make each pair's image into ``out_dir``."""
    from farside.scenes.stereo import find_pairs

    if method not in METHODS:
        raise ValueError(f"unknown anaglyph method {method!r}; known: {', '.join(METHODS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    found = find_pairs(paths, out_dir, request, explicit)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    outcomes = [build_pair(left, right, out_dir, method, layout, parallax_px) for left, right in found.pairs]
    return Anaglyphs(outcomes, found.problems, found.unpaired)


__all__ = [
    "DUBOIS_LEFT",
    "DUBOIS_RIGHT",
    "LAYOUTS",
    "METHODS",
    "Anaglyphs",
    "Method",
    "PairOutcome",
    "anaglyph",
    "build_pair",
    "compose",
    "make_anaglyphs",
    "output_name",
    "to_display",
]
