"""Writers: PNG, TIFF, JPEG with provenance inside the file, JSON sidecars, atomic replacement.

Nothing is ever left half-written under a final name: each file is written to a temporary name in the same
folder and renamed into place when complete.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from farside.pipeline import Rendered, Settings
from farside.products.reader import Product

EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg"}
PROVENANCE_KEY = "farside:provenance"


def farside_version() -> str:
    from farside import __version__

    return __version__


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


def safe_file_name(name: str, limit: int = 200) -> str:
    """``name`` reduced to a plain file name: letters, digits, ``._+-``; no leading dot or underscore; at
    most ``limit`` characters.

    >>> safe_file_name("../../etc/passwd")
    'passwd'
    >>> safe_file_name("CE4 GRAS:x?.2B")
    'CE4_GRAS_x_.2B'
    >>> safe_file_name("CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2B")
    'CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2B'
    """
    base = name.replace("\\", "/").rstrip("/").rpartition("/")[2]
    cleaned = "".join(c if c in _SAFE else "_" for c in base).lstrip("._") or "product"
    return cleaned[:limit]


def output_path(data_path: str | os.PathLike[str], directory: str | os.PathLike[str], suffix: str) -> Path:
    """``DIR/<data file name><suffix>``, always directly inside ``DIR``.

    >>> output_path("/release/CE4_X.2B", "out", ".png").as_posix()
    'out/CE4_X.2B.png'
    """
    return Path(directory) / (safe_file_name(Path(data_path).name) + suffix)


def sidecar_path(image_path: Path) -> Path:
    return image_path.with_name(image_path.name + ".json")


def provenance(
    product: Product, settings: Settings, applied: dict[str, Any], warnings: list[str]
) -> dict[str, Any]:
    """What made an output: the source files (full paths), software and every setting, plus what the data
    made of them."""
    return {
        "source_product_id": product.name,
        "source_label": str(product.label_path.resolve()),
        "source_data": str(product.data_path.resolve()),
        "software": f"farside {farside_version()}",
        "settings": settings.to_dict(),
        "applied": applied,
        "warnings": warnings,
    }


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream to write ``path`` through: the file appears under its name only when the block
    ends without an error; otherwise nothing is left behind."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)  # reopened by name: writers such as tifffile want a stream with a file name
    try:
        with open(tmp, "wb") as stream:
            yield stream
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], payload: bytes) -> Path:
    """Write ``payload`` to ``path`` so that the name only ever holds a complete file."""
    with atomic_file(path) as stream:
        stream.write(payload)
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))  # without joining them first: pixel data run to megabytes
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _itxt(keyword: str, text: str) -> bytes:
    # keyword, null, compression flag 0, method 0, empty language tag and translated keyword, text (UTF-8)
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def encode_png(
    image: np.ndarray, texts: dict[str, str], compression: int = 1, transfer: str = "srgb"
) -> bytes:
    """PNG bytes (8 or 16 bit, grey, RGB or RGBA) with ``texts`` as iTXt chunks after the header, and the
    colour encoding stated: an sRGB chunk (perceptual intent) for sRGB output, gAMA 1.0 for linear output."""
    if image.ndim not in (2, 3) or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG holds 8- or 16-bit grey or colour images, not {image.dtype} {image.shape}")
    rows = _png_rows(image)
    filtered = np.empty((len(rows), rows.shape[1] + 1), np.uint8)
    _filter_up(rows, None, filtered)
    channels = 1 if image.ndim == 2 else image.shape[2]
    return b"".join(
        [
            _png_header(image.shape[1], image.shape[0], channels, image.dtype, texts, transfer),
            _png_chunk(b"IDAT", _deflate(filtered, compression)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _deflate(data: np.ndarray, level: int) -> bytes:
    """A zlib stream of ``data`` at ``level`` (0 stores it uncompressed).

    Camera frames are noisy, so little repeats in them and compressing them is mostly Huffman coding.
    ISA-L (the ``isal`` package) does that at three times zlib's speed and twice libdeflate's, its files
    within 6 % of zlib's Huffman coding alone (PCAM colour frames 5 % smaller, landing-camera frames 6 %
    larger); it has levels 1-3, higher levels ask for its 3. Without it, zlib's Huffman coding alone,
    which leaves files within ~5 % of zlib's best at twice the speed of its default."""
    if level > 0:
        try:
            from isal import isal_zlib
        except ImportError:
            pass
        else:
            return isal_zlib.compress(data, min(level, isal_zlib.ISAL_BEST_COMPRESSION))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    return compressor.compress(data) + compressor.flush()


def _png_rows(image: np.ndarray) -> np.ndarray:
    """(rows, bytes per row) uint8 view of an image's samples as PNG stores them: big-endian."""
    rows = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(">"))
    return rows.reshape(len(rows), -1).view(np.uint8)


def _filter_up(rows: np.ndarray, above: np.ndarray | None, out: np.ndarray) -> None:
    """PNG's "Up" filter into ``out`` (a filter-type byte, then each byte less the one above it, modulo
    256); ``above`` is the row before the first (None at the top of the image)."""
    out[:, 0] = 2
    if above is None:
        out[0, 1:] = rows[0]
    else:
        np.subtract(rows[0], above, out=out[0, 1:])
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])


def _png_header(
    width: int, height: int, channels: int, dtype: np.dtype, texts: dict[str, str], transfer: str
) -> bytes:
    """The signature, IHDR and the chunks that precede the pixels."""
    bits = 8 * np.dtype(dtype).itemsize
    header = struct.pack(">IIBBBBB", width, height, bits, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_extras(texts, transfer)


def _png_extras(texts: dict[str, str], transfer: str) -> bytes:
    """The chunks between IHDR and the pixels: the colour encoding (sRGB, or gAMA 1.0 for linear output)
    and the texts."""
    colour = (
        _png_chunk(b"sRGB", b"\0") if transfer == "srgb" else _png_chunk(b"gAMA", struct.pack(">I", 100000))
    )
    return colour + b"".join(_itxt(key, value) for key, value in texts.items())


_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


def write_png_strips(
    stream: BinaryIO,
    width: int,
    height: int,
    strips: Iterable[np.ndarray],
    texts: dict[str, str],
    compression: int = 1,
    transfer: str = "srgb",
) -> None:
    """Write a PNG to ``stream`` from horizontal strips (each (rows, width[, channels]), uint8 or uint16,
    top to bottom, ``height`` rows in all), holding one strip at a time.

    No PNG library at hand encodes from a stream of rows at C speed (OpenCV and Pillow need the whole
    image), so the rows are filtered ("Up", as :func:`encode_png` does) with numpy and compressed with
    zlib as they come, into the standard chunks."""
    compressor = zlib.compressobj(compression, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    previous: np.ndarray | None = None
    written = 0
    for strip in strips:
        if previous is None:
            channels = 1 if strip.ndim == 2 else strip.shape[2]
            stream.write(_png_header(width, height, channels, strip.dtype, texts, transfer))
        if strip.shape[1] != width:
            raise ValueError(f"a strip is {strip.shape[1]} pixels wide, not {width}")
        rows = _png_rows(strip)
        filtered = np.empty((len(rows), rows.shape[1] + 1), np.uint8)
        _filter_up(rows, previous, filtered)
        previous = rows[-1].copy()
        written += len(rows)
        packed = compressor.compress(filtered)
        if packed:
            stream.write(_png_chunk(b"IDAT", packed))
    if written != height:
        raise ValueError(f"the strips hold {written} rows, not {height}")
    stream.write(_png_chunk(b"IDAT", compressor.flush()) + _png_chunk(b"IEND", b""))


def write_tiff_strips(
    stream: BinaryIO,
    width: int,
    height: int,
    strips: Iterable[np.ndarray],
    description: str,
    software: str,
    tile: int = 256,
) -> None:
    """Write a tiled TIFF (BigTIFF when large) to ``stream`` from horizontal strips as
    :func:`write_png_strips` takes them, holding one row of tiles at a time (tifffile writes the tiles as
    they come)."""
    import tifffile

    source = iter(strips)
    first = next(source)
    channels = 1 if first.ndim == 2 else first.shape[2]

    def tiles() -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        rows = 0
        for strip in itertools.chain([first], source):
            pending.append(strip)
            rows += len(strip)
            while rows >= tile:
                band = np.concatenate(pending)
                yield from _tiles_of(band[:tile], tile)
                pending, rows = [band[tile:]], rows - tile
        if rows:
            yield from _tiles_of(np.concatenate(pending), tile)

    shape = (height, width, channels) if channels > 1 else (height, width)
    tifffile.imwrite(
        stream,
        tiles(),
        shape=shape,
        dtype=first.dtype,
        tile=(tile, tile),
        photometric="rgb" if channels >= 3 else "minisblack",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        bigtiff=height * width * channels * first.dtype.itemsize > 2**31,
        **_tiff_options(first.dtype, description, software),
    )


def _tiles_of(band: np.ndarray, tile: int) -> Iterator[np.ndarray]:
    """A band of up to ``tile`` rows cut into tiles from left to right, the last ones padded with zeros."""
    for left in range(0, band.shape[1], tile):
        piece = band[:, left : left + tile]
        if piece.shape[0] != tile or piece.shape[1] != tile:
            padded = np.zeros((tile, tile, *piece.shape[2:]), piece.dtype)
            padded[: piece.shape[0], : piece.shape[1]] = piece
            piece = padded
        yield piece


def _tiff_options(dtype: np.dtype, description: str, software: str) -> dict[str, Any]:
    """What every TIFF farside writes shares: provenance, fast zlib and the predictor that suits ``dtype``."""
    return {
        "description": description,
        "software": software,
        "metadata": None,
        "compression": "zlib",
        "compressionargs": {"level": 1},
        "predictor": _predictor(dtype),
    }


def _predictor(dtype: np.dtype) -> int | None:
    """Horizontal differencing for integers; for floats the floating-point predictor, which tifffile only
    has with imagecodecs (the optional extra ``farside[radiance]``), else none."""
    if np.dtype(dtype).kind in "ui":
        return 2
    import importlib.util

    return 3 if importlib.util.find_spec("imagecodecs") is not None else None


def encode_tiff(image: np.ndarray, description: str, software: str) -> bytes:
    import tifffile

    stream = io.BytesIO()
    photometric = "rgb" if image.ndim == 3 else "minisblack"
    tifffile.imwrite(
        stream, image, photometric=photometric, **_tiff_options(image.dtype, description, software)
    )
    return stream.getvalue()


def encode_jpeg(image: np.ndarray, comment: str, quality: int) -> bytes:
    from PIL import Image

    stream = io.BytesIO()
    Image.fromarray(image).save(stream, "JPEG", quality=quality, comment=comment.encode("utf-8"))
    return stream.getvalue()


def encode(
    image: np.ndarray,
    fmt: str,
    prov: dict[str, Any],
    quality: int = 92,
    png_compression: int = 1,
    transfer: str = "srgb",
) -> bytes:
    """Image bytes in ``fmt`` with the provenance (JSON) embedded."""
    text = json.dumps(prov, sort_keys=True)
    if fmt == "png":
        texts = {PROVENANCE_KEY: text, "Software": prov["software"]}
        return encode_png(image, texts, png_compression, transfer)
    if fmt == "tiff":
        return encode_tiff(image, text, prov["software"])
    if fmt == "jpeg":
        if image.dtype != np.uint8:
            raise ValueError("JPEG output is 8-bit only")
        return encode_jpeg(image, text, quality)
    raise ValueError(f"unknown output format {fmt!r}")


def sidecar(product: Product, prov: dict[str, Any]) -> dict[str, Any]:
    """The JSON sidecar: the product's metadata, its array description and the provenance."""
    spec = product.array
    return {
        "product": product.meta.to_dict(),
        "array": {
            "kind": spec.kind,
            "data_type": spec.data_type,
            "shape": list(spec.shape),
            "axes": list(spec.axis_names),
            "offset": spec.offset,
        },
        "format": product.format,
        "provenance": prov,
    }


def write_outputs(target: Path, payload: bytes, side: dict[str, Any]) -> Path:
    """Write an image and its sidecar atomically; the image first, so that a sidecar (which marks the output
    done) never outlives its image."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, payload)
    write_atomic(sidecar_path(target), (json.dumps(side, indent=2) + "\n").encode("utf-8"))
    return target


def write_radiance(
    product: Product,
    image: np.ndarray,
    description: dict[str, Any],
    settings: Settings,
    target: str | os.PathLike[str],
    job_stamp: dict[str, Any] | None = None,
) -> Path:
    """Write a float32 radiance TIFF and its sidecar atomically to ``target``."""
    prov = provenance(product, settings, description, [])
    side = sidecar(product, prov)
    if job_stamp is not None:
        side["job"] = job_stamp
    payload = encode_tiff(image, json.dumps(prov, sort_keys=True), prov["software"])
    return write_outputs(Path(target), payload, side)


def write_rendered(
    product: Product,
    rendered: Rendered,
    target: str | os.PathLike[str],
    job_stamp: dict[str, Any] | None = None,
) -> Path:
    """Write the image and its sidecar atomically to ``target``; returns ``target``.

    ``job_stamp`` (inputs and settings digest) goes into the sidecar only, so that a later run can tell the
    output is up to date.
    """
    settings = rendered.settings
    prov = provenance(product, settings, rendered.applied, rendered.warnings)
    payload = encode(
        rendered.image, settings.output_format, prov, settings.quality, settings.png_compression,
        settings.transfer,
    )  # fmt: skip
    side = sidecar(product, prov)
    if job_stamp is not None:
        side["job"] = job_stamp
    return write_outputs(Path(target), payload, side)
