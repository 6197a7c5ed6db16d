"""Finding farside outputs and reading their sidecars into gallery items.

An output is a file a browser can show or the gallery can convert (PNG, JPEG, TIFF, WebP; MP4 and WebM
movies) with its sidecar beside it, ``NAME.ext.json``. What an item is comes from the sidecar: its
``kind`` (``frame`` when it has none; ``movie`` for a movie file), and its mission, instrument, camera,
mode, sequence and time from its ``product`` block when it has one (frames), else from the GRAS names of the
products it lists (panoramas' ``source_products``; anaglyphs' and movies' ``left``/``right``,
``products``, ``frames``... whatever the key), the first product's fields, the earliest time.

Everything here but :func:`find_outputs` and :func:`read_sidecar` is a pure function of a sidecar's
contents.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from farside.errors import ProductNameError
from farside.products.names import ProductName, parse_name

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif")
MOVIE_EXTENSIONS = (".mp4", ".webm", ".m4v")
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + MOVIE_EXTENSIONS
KINDS = ("frame", "panorama", "anaglyph", "movie")

# Where a sidecar may list the products an item was made from, in the order they are looked at.
PRODUCT_KEYS = ("product", "source_products", "products", "left", "right", "frames", "sources", "inputs",
                "source_product_id", "provenance")  # fmt: skip
_NAME_KEYS = ("product_id", "source_product_id", "source_label", "source_data", "label", "data", "path",
              "name", "product", "source")  # fmt: skip


@dataclass(frozen=True)
class Output:
    """An output file and its sidecar, found on disk."""

    media: Path
    sidecar: Path


def _is_media(name: str) -> bool:
    return name.lower().endswith(MEDIA_EXTENSIONS)


def find_outputs(
    sources: Iterable[str | os.PathLike[str]], exclude: Path | None = None
) -> tuple[list[Output], list[str]]:
    """Every output under ``sources`` (files or folders, searched recursively; hidden files, partial
    writes and anything under ``exclude``, the site itself, are skipped), and one line for each image
    without its sidecar or sidecar without its image."""
    found: dict[Path, Output] = {}
    problems: list[str] = []
    seen: set[Path] = set()
    skip = exclude.resolve() if exclude else None
    for source in sources:
        for folder, names in _folders(Path(source).resolve(), skip):
            if folder in seen:
                continue
            seen.add(folder)
            for name in sorted(names):
                if _is_media(name):
                    if name + ".json" in names:
                        found[folder / name] = Output(folder / name, folder / (name + ".json"))
                    else:
                        problems.append(f"{folder / name}: no sidecar ({name}.json); left out")
                elif name.endswith(".json") and _is_media(name[:-5]) and name[:-5] not in names:
                    problems.append(f"{folder / name}: its output {name[:-5]} is missing; left out")
    return [found[p] for p in sorted(found)], problems


def _folders(root: Path, exclude: Path | None) -> Iterator[tuple[Path, set[str]]]:
    """Each folder under ``root`` with the names of the files in it (listed once: pairing an output with
    its sidecar is then a look-up, not a file-system call); a file named on its own, with its partner."""
    if root.is_file():
        partner = root.name[:-5] if root.name.endswith(".json") else root.name + ".json"
        yield root.parent, {root.name} | ({partner} if (root.parent / partner).is_file() else set())
        return
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        folders[:] = sorted(
            f for f in folders if not f.startswith(".") and (exclude is None or here / f != exclude)
        )
        yield here, {name for name in files if not name.startswith(".") and not name.endswith(".part")}


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar's contents; raises ``ValueError`` with one line saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the sidecar is not UTF-8 text; left out") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: the sidecar is not valid JSON ({exc}); left out") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the sidecar is not a JSON object; left out")
    return data


# --- what an item is ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """What the index browses an item by."""

    kind: str
    mission: str = ""
    instrument: str = ""
    camera: str = ""
    mode: str = ""
    sequence: str = ""
    time: str | None = None  # ISO 8601, UTC
    products: tuple[str, ...] = field(default_factory=tuple)  # product ids, in the sidecar's order


def item_kind(sidecar: dict[str, Any], media_name: str) -> str:
    """``kind`` from the sidecar, else ``movie`` for a movie file, else ``frame``.

    >>> item_kind({}, "X.2B.png"), item_kind({}, "landing.mp4"), item_kind({"kind": "Panorama"}, "p.png")
    ('frame', 'movie', 'panorama')
    """
    kind = sidecar.get("kind")
    if isinstance(kind, str) and kind.strip():
        return kind.strip().lower()
    return "movie" if media_name.lower().endswith(MOVIE_EXTENSIONS) else "frame"


def product_names(sidecar: dict[str, Any]) -> list[ProductName]:
    """The GRAS products a sidecar names (paths or names, anywhere under the keys that list products),
    parsed, each once, in order.

    >>> [n.camera for n in product_names({"left": "/r/CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_"
    ...     "20190104084559_0001_B.2BL", "right": {"path": "CE4_GRAS_PCAMR-C-006_SCI_N_20190104084545_"
    ...     "20190104084545_0001_B.2B"}})]
    ['L', 'R']
    """
    names: dict[str, ProductName] = {}
    for key in PRODUCT_KEYS:
        for text in _strings(sidecar.get(key), depth=0):
            try:
                parsed = parse_name(text.replace("\\", "/").rsplit("/", 1)[-1])
            except ProductNameError:
                continue
            names.setdefault(parsed.product_id, parsed)
    return list(names.values())


def _strings(value: Any, depth: int) -> Iterator[str]:
    """The strings in ``value`` that may name a product: itself, a list's items, a dict's naming keys."""
    if depth > 3:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, depth + 1)
    elif isinstance(value, dict):
        for key in _NAME_KEYS:
            if key in value:
                yield from _strings(value[key], depth + 1)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def describe(sidecar: dict[str, Any], media_name: str) -> Fields:
    """The browse fields of an output from its sidecar (see the module's description).

    >>> f = describe({"kind": "panorama", "source_products": ["/r/CE4_GRAS_PCAML-C-006_SCI_N_"
    ...     "20190104084559_20190104084559_0067_B.2BL"]}, "x_pano.png")
    >>> f.kind, f.mission, f.instrument, f.camera, f.mode, f.sequence, f.time
    ('panorama', 'CE4', 'PCAM', 'L', 'C', '0067', '2019-01-04T08:45:59+00:00')
    """
    kind = item_kind(sidecar, media_name)
    names = product_names(sidecar)
    ids = tuple(n.product_id for n in names)
    product = sidecar.get("product")
    if isinstance(product, dict) and (product.get("mission") or product.get("product_id")):
        time = _iso(product.get("start_time"))
        return Fields(kind, _text(product.get("mission")), _text(product.get("instrument")),
                      _text(product.get("camera")), _text(product.get("mode")),
                      _text(product.get("sequence_id")), time, ids)  # fmt: skip
    if not names:
        return Fields(kind, time=_iso(sidecar.get("start_time")), products=ids)
    first = names[0]
    cameras = sorted({n.camera for n in names if n.camera})
    start = min(n.start_time for n in names)
    return Fields(kind, first.mission, first.instrument, "+".join(cameras), first.mode or "",
                  first.sequence_id, start.isoformat(), ids)  # fmt: skip


def _iso(value: Any) -> str | None:
    """An ISO 8601 time as UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


# --- the metadata panel ---------------------------------------------------------------------------------

Section = tuple[str, list[tuple[str, str]]]


def shown(value: Any) -> str:
    """A value as the panel shows it: numbers to 6 significant digits, lists and dicts spelled out.

    >>> shown(0.1234567891), shown([1.0, 2.5]), shown({"a": 1}), shown(None), shown(True)
    ('0.123457', '1, 2.5', 'a: 1', '—', 'yes')
    """
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    return str(value)


def _time(value: Any) -> str:
    iso = _iso(value)
    return iso.replace("T", " ").replace("+00:00", " UTC") if iso else "—"


def _rows(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Label/value rows, leaving out what the sidecar does not give."""
    return [(label, shown(value)) for label, value in pairs if value not in (None, "", [], {})]


_CAMERAS = {"L": "left (L)", "R": "right (R)", "A": "A", "B": "B"}
_DATA_FLAGS = {"N": "mixed", "R": "real-time", "P": "playback"}


def _observation(product: dict[str, Any]) -> Section:
    instrument = product.get("instrument")
    if instrument and product.get("instrument_name"):
        instrument = f"{instrument} — {product['instrument_name']}"
    stop = product.get("stop_time")
    return ("Observation", [
        *_rows([("Product", product.get("product_id")), ("Mission", product.get("mission")),
                ("Instrument", instrument), ("Camera", _CAMERAS.get(product.get("camera") or "")),
                ("Mode", product.get("mode")), ("Level", product.get("level")),
                ("Sequence", product.get("sequence_id"))]),
        ("Start", _time(product.get("start_time"))),
        *([("Stop", _time(stop))] if stop and stop != product.get("start_time") else []),
        *_rows([("Data", _DATA_FLAGS.get(product.get("data_flag") or "")),
                ("Location", _location(product))]),
    ])  # fmt: skip


def _location(product: dict[str, Any]) -> str | None:
    lon, lat = product.get("longitude"), product.get("latitude")
    if lon is None or lat is None:
        return None
    who = f"{product['location_of']} at " if product.get("location_of") else ""
    return f"{who}{lat:.5f}°, {lon:.5f}°E"


def _pointing(product: dict[str, Any]) -> Section:
    def degrees(value: Any) -> str | None:
        return None if value is None else f"{value:.4f}°"

    return ("Pointing", _rows([
        ("Mast yaw", degrees(product.get("mast_yaw"))), ("Mast pitch", degrees(product.get("mast_pitch"))),
        ("Mast roll", degrees(product.get("mast_roll"))),
        ("Solar incidence", degrees(product.get("solar_incidence"))),
        ("Solar azimuth", degrees(product.get("solar_azimuth"))),
        ("Camera rotation", product.get("camera_rotation")),
        ("Camera position", product.get("camera_position")),
        ("Rover x, y, z", product.get("rover_xyz")),
    ]))  # fmt: skip


def _exposure(product: dict[str, Any]) -> Section:
    exposure = product.get("exposure_time")
    if exposure is not None and product.get("exposure_time_unit"):
        exposure = f"{shown(exposure)} {product['exposure_time_unit']}"
    focal = product.get("focal_length_mm")
    pixel = product.get("pixel_size_um")
    return ("Exposure and optics", _rows([
        ("Work mode", product.get("work_mode")), ("Exposure mode", product.get("exposure_mode")),
        ("Exposure time", exposure), ("Compression", product.get("compression_ratio")),
        ("Temperatures", product.get("temperatures")),
        ("Focal length", None if focal is None else f"{shown(focal)} mm"),
        ("Pixel size", None if pixel is None else f"{shown(pixel)} µm"),
        ("Bands", product.get("bands_nm")), ("Wavelength", product.get("central_wavelength_nm")),
    ]))  # fmt: skip


_KEY_SETTINGS = ("profile", "demosaic", "white_balance", "stretch", "low", "high", "gamma", "transfer",
                 "output_format", "output_bits", "half_size")  # fmt: skip


def _processing(provenance: dict[str, Any], settings: dict[str, Any]) -> list[Section]:
    applied = provenance.get("applied") if isinstance(provenance.get("applied"), dict) else {}
    summary = _rows([
        ("Software", provenance.get("software")),
        *((key.replace("_", " ").capitalize(), settings.get(key)) for key in _KEY_SETTINGS),
        *((f"Applied: {key.replace('_', ' ')}", value) for key, value in applied.items()),
        ("Warnings", provenance.get("warnings")),
    ])  # fmt: skip
    everything = [(key, shown(value)) for key, value in settings.items()]
    sections = [("Processing", summary)]
    if everything:
        sections.append(("All settings", everything))
    return sections


def _panorama(sidecar: dict[str, Any], size: tuple[int, int]) -> Section:
    projection = sidecar.get("projection") if isinstance(sidecar.get("projection"), dict) else {}
    d = projection.get("degrees_per_pixel")
    rows: list[tuple[str, str]] = [("Projection", shown(projection.get("type")))]
    if isinstance(d, int | float) and d > 0:
        a0, e0 = projection.get("azimuth_left_deg", 0.0), projection.get("elevation_top_deg", 0.0)
        grid = _grid(projection)
        bottom = grid.angles_of(0, size[1] - 1)[1] if grid else None
        rows += [
            ("Azimuth", f"{a0:.2f}° to {a0 + size[0] * d:.2f}° ({size[0] * d:.2f}°)"),
            ("Elevation", f"{e0:.2f}° to {float(bottom) - d / 2:.2f}°" if bottom is not None else shown(e0)),
            ("Resolution", f"{d:.6g}° a pixel ({1 / d:.4g} pixels a degree)"),
        ]
    frames = sidecar.get("frames") if isinstance(sidecar.get("frames"), list) else []
    placed = sum(1 for f in frames if isinstance(f, dict) and f.get("in_panorama"))
    refined = sum(
        1 for f in frames if isinstance(f, dict) and str(f.get("refinement", "")).startswith("refined")
    )
    counted = f"{len(frames)} ({placed} in the panorama, {refined} refined)" if frames else None
    rows += _rows([("Frames", counted), ("Scale", sidecar.get("scale"))])
    return ("Panorama", rows)


def _grid(projection: dict[str, Any]) -> Any:
    from farside.scenes.geometry import grid_from_dict

    try:
        return grid_from_dict(projection)
    except (KeyError, TypeError, ValueError):
        return None


def _from_names(fields: Fields, names: list[ProductName]) -> Section:
    times = sorted(n.start_time for n in names)
    span = _time(times[0].isoformat()) if times else "—"
    if len(times) > 1 and times[-1] != times[0]:
        span += f" to {_time(times[-1].isoformat())}"
    return ("Observation", [
        *_rows([("Mission", fields.mission), ("Instrument", fields.instrument),
                ("Camera", fields.camera), ("Mode", fields.mode), ("Sequence", fields.sequence),
                ("Products", len(names))]),
        ("Time", span),
    ])  # fmt: skip


def panel(
    sidecar: dict[str, Any], fields: Fields, size: tuple[int, int], extra: dict[str, Any]
) -> list[Section]:
    """The metadata panel of an item: titled sections of label/value rows, made from its sidecar."""
    sections: list[Section] = []
    product = sidecar.get("product") if isinstance(sidecar.get("product"), dict) else None
    provenance = sidecar.get("provenance") if isinstance(sidecar.get("provenance"), dict) else {}
    if fields.kind == "panorama":
        sections.append(_panorama(sidecar, size))
    if fields.kind == "movie":
        sections.append(("Movie", _rows([
            ("Frames", sidecar.get("frame_count") or extra.get("frames")),
            ("Frame rate", f"{shown(sidecar.get('fps') or extra.get('fps'))} per second"),
            ("Duration", f"{shown(extra['duration_s'])} s" if extra.get("duration_s") else None),
            ("Size", f"{size[0]} × {size[1]}"),
        ])))  # fmt: skip
    if fields.kind == "anaglyph":
        sections.append(("Anaglyph", _rows([("Glasses", "red–cyan: red over the left eye"),
                                            ("Method", sidecar.get("method"))])))  # fmt: skip
    if product is not None:
        sections += [_observation(product), _pointing(product), _exposure(product)]
    else:
        sections.append(_from_names(fields, product_names(sidecar)))
    settings = provenance.get("settings") or sidecar.get("settings")
    software = {"software": sidecar["software"]} if isinstance(sidecar.get("software"), str) else {}
    sections += _processing({**software, **provenance}, settings if isinstance(settings, dict) else {})
    return [(title, rows) for title, rows in sections if rows]


def source_paths(sidecar: dict[str, Any]) -> list[str]:
    """Paths (or names) of the original products, as the sidecar gives them: a frame's label (else its data
    file), or the products a scene lists."""
    provenance = sidecar.get("provenance") if isinstance(sidecar.get("provenance"), dict) else {}
    for key in ("source_label", "source_data"):
        if isinstance(provenance.get(key), str) and provenance[key]:
            return [provenance[key]]
    paths: dict[str, str] = {}
    for key in PRODUCT_KEYS:
        if key in ("product", "provenance"):
            continue
        for text in _strings(sidecar.get(key), depth=0):
            base = text.replace("\\", "/").rsplit("/", 1)[-1]
            try:
                product_id = parse_name(base).product_id
            except ProductNameError:
                continue
            paths.setdefault(product_id, text)
    return list(paths.values())
