"""Reading outputs for display: 8-bit strips, top to bottom, holding one strip at a time where the format
allows it.

A full-resolution panorama is up to 42,000 pixels wide and 16 bits deep: whole, it takes gigabytes. The
formats farside writes panoramas in are read as a stream: PNG row by row (its own decoder below: zlib and
the five row filters, the rare ones in a compiled loop), tiled TIFF a row of tiles at a time (tifffile).
Everything else (frames: PNG, TIFF, JPEG, WebP of a few megapixels) is read whole and cut into strips.

Strips are uint8 arrays (rows, width, channels) with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)
channels. 16-bit samples are rounded to 8 bits; float samples (radiance TIFFs) are scaled so that their
99.5th percentile is white and given the sRGB curve: a preview, not a measurement.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
from PIL import Image

_unguarded = threading.Lock()
_unguarded_opens = 0
_guard: int | None = None  # the program's setting, kept while it is lifted


@contextmanager
def _own_outputs():
    """Pillow without its guard against decompression bombs, while farside opens outputs: they are the
    user's own files, and a JPEG panorama is legitimately larger than the guard's 89 megapixels. The guard
    is set back (to whatever it was) once no such open is under way, so the rest of the program keeps it."""
    global _unguarded_opens, _guard
    with _unguarded:
        if _unguarded_opens == 0:
            _guard = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _unguarded_opens += 1
    try:
        yield
    finally:
        with _unguarded:
            _unguarded_opens -= 1
            if _unguarded_opens == 0:
                Image.MAX_IMAGE_PIXELS = _guard


STRIP_ROWS = 64  # rows read at a time: a strip of a 42,000-pixel-wide panorama is then 10 MB
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel (palette images excluded)


@dataclass(frozen=True)
class Raster:
    """An image's size and a way to read it in strips (:meth:`strips`)."""

    path: Path
    width: int
    height: int

    def strips(self, rows: int = STRIP_ROWS) -> Iterator[np.ndarray]:
        """The image as 8-bit strips of ``rows`` rows (the last may be shorter), top to bottom."""
        kind = _kind(self.path)
        if kind == "png" and _png_streamable(self.path):
            yield from _png_strips(self.path, rows)
        elif kind == "tiff" and _tiff_tiled(self.path):
            yield from _tiff_strips(self.path, rows)
        else:
            image = read_whole(self.path)
            for top in range(0, image.shape[0], rows):
                yield image[top : top + rows]


def open_raster(path: str | os.PathLike[str]) -> Raster:
    """The size of the image at ``path``, read from its header; raises ``ValueError`` (or ``OSError``) when
    it is not an image this module reads."""
    path = Path(path)
    kind = _kind(path)
    if kind == "png":
        header = _png_header(path)
        return Raster(path, header.width, header.height)
    if kind == "tiff":
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return Raster(path, int(page.imagewidth), int(page.imagelength))
    from PIL import UnidentifiedImageError

    try:
        with _own_outputs(), Image.open(path) as image:
            return Raster(path, *image.size)
    except UnidentifiedImageError:
        raise ValueError("not an image Pillow can read") from None


def _kind(path: Path) -> str:
    with open(path, "rb") as stream:
        head = stream.read(8)
    if head == _PNG_SIGNATURE:
        return "png"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    return "other"


def to_8bit(image: np.ndarray, scale: float | None = None) -> np.ndarray:
    """An image of any sample type as uint8: 16-bit rounded, floats over ``scale`` (white) with the sRGB
    curve."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if image.dtype.kind == "f":
        linear = np.clip(np.nan_to_num(image.astype(np.float32) / (scale or 1.0)), 0.0, 1.0)
        encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
        return np.round(encoded * 255).astype(np.uint8)
    if image.dtype.kind in "ui":
        top = float(np.iinfo(image.dtype).max)
        return np.round(np.clip(image, 0, None) * (255.0 / top)).astype(np.uint8)
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    raise ValueError(f"unsupported sample type {image.dtype}")


def _float_white(image: np.ndarray) -> float:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 1.0
    white = float(np.percentile(finite, 99.5))
    return white if white > 0 else 1.0


def read_whole(path: str | os.PathLike[str], at_least: tuple[int, int] | None = None) -> np.ndarray:
    """The whole image as uint8 (H, W, channels) or (H, W). A JPEG may come smaller, though no smaller
    than ``at_least`` (width, height) where given: decoded at a fraction of its size, which is quicker."""
    path = Path(path)
    kind = _kind(path)
    if kind == "tiff":
        import tifffile

        image = tifffile.imread(path, key=0)
    elif kind == "png" and _png_streamable(path):  # farside's PNGs: quicker than Pillow, 16 bits rounded
        return next(_png_strips(path, _png_header(path).height))
    else:
        image = _read_with_pillow(path, at_least)
    if image.ndim == 3 and image.shape[2] > 4:
        image = image[:, :, :4]
    scale = _float_white(image) if image.dtype.kind == "f" else None
    return to_8bit(image, scale)


def _read_with_pillow(path: Path, at_least: tuple[int, int] | None = None) -> np.ndarray:
    """JPEG, WebP, GIF and the PNGs the stream decoder leaves (palette, interlaced, under 8 bits). Pillow,
    not OpenCV: it raises for a truncated file where libjpeg would print to the terminal."""
    from PIL import UnidentifiedImageError

    try:
        with _own_outputs(), Image.open(path) as image:
            if at_least is not None and image.format == "JPEG":
                image.draft(image.mode, at_least)
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L", "LA", "RGB", "RGBA"):
                return np.asarray(image)
            mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
            return np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"the image cannot be decoded ({exc})") from None


# --- PNG, streamed --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int


def _png_header(path: Path) -> _PngHeader:
    with open(path, "rb") as stream:
        head = stream.read(8 + 8 + 13)
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file (no header)")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if width == 0 or height == 0:
        raise ValueError("the PNG header gives an empty image")
    return _PngHeader(width, height, depth, colour, interlace)


def _png_streamable(path: Path) -> bool:
    """Whether the stream decoder reads this PNG: 8 or 16 bits, not interlaced, not palette. Others (rare
    among outputs) are read whole."""
    header = _png_header(path)
    return header.interlace == 0 and header.colour_type in _PNG_CHANNELS and header.bit_depth in (8, 16)


def _png_data(path: Path) -> Iterator[bytes]:
    """The contents of a PNG's IDAT chunks, in order, read a chunk at a time."""
    with open(path, "rb") as stream:
        stream.seek(8)
        while True:
            head = stream.read(8)
            if len(head) < 8:
                raise ValueError("the PNG ends before its image data does (truncated)")
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT":
                remaining = length
                while remaining:
                    block = stream.read(min(remaining, 1 << 20))
                    if not block:
                        raise ValueError("the PNG ends inside its image data (truncated)")
                    remaining -= len(block)
                    yield block
                stream.seek(4, os.SEEK_CUR)  # CRC
            elif kind == b"IEND":
                return
            else:
                stream.seek(length + 4, os.SEEK_CUR)


@nb.njit(cache=True, nogil=True)
def _unfilter(filtered: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:  # pragma: no cover - compiled
    """Undo PNG row filters (None, Sub, Up, Average, Paeth) of ``filtered`` (rows, 1 + stride), given the
    row above the first (``prior``, zeros at the top of the image)."""
    rows, width = filtered.shape
    stride = width - 1
    out = np.empty((rows, stride), np.uint8)
    for r in range(rows):
        kind = filtered[r, 0]
        for i in range(stride):
            x = np.int32(filtered[r, i + 1])
            a = np.int32(out[r, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(prior[i]) if r == 0 else np.int32(out[r - 1, i])
            if kind == 0:
                value = x
            elif kind == 1:
                value = x + a
            elif kind == 2:
                value = x + b
            elif kind == 3:
                value = x + ((a + b) >> 1)
            elif kind == 4:
                if i >= bpp:
                    c = np.int32(prior[i - bpp]) if r == 0 else np.int32(out[r - 1, i - bpp])
                else:
                    c = np.int32(0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                value = x + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))
            else:
                raise ValueError("unknown PNG row filter")
            out[r, i] = value & 255
    return out


def _png_strips(path: Path, rows: int) -> Iterator[np.ndarray]:
    header = _png_header(path)
    channels = _PNG_CHANNELS[header.colour_type]
    sample_bytes = header.bit_depth // 8
    bpp = channels * sample_bytes
    stride = header.width * bpp
    line = stride + 1
    decompressor = zlib.decompressobj()
    pending = bytearray()
    prior = np.zeros(stride, np.uint8)
    done = 0
    data = _png_data(path)
    while done < header.height:
        want = min(rows, header.height - done) * line
        while len(pending) < want:
            block = next(data, None)
            if block is None:
                tail = decompressor.flush()
                if not tail:
                    raise ValueError(f"the PNG's image data end after {done} of {header.height} rows")
                pending += tail
                continue
            pending += decompressor.decompress(block)
        count = want // line
        filtered = np.frombuffer(pending, np.uint8, count=want).reshape(count, line)
        raw = _unfilter(filtered, prior, bpp)
        del filtered  # the view must go before the buffer can shrink
        del pending[:want]
        prior = raw[-1].copy()
        done += count
        if sample_bytes == 2:
            samples = raw.view(">u2").reshape(count, header.width, channels)
        else:
            samples = raw.reshape(count, header.width, channels)
        strip = to_8bit(np.ascontiguousarray(samples, dtype=samples.dtype.newbyteorder("=")))
        yield strip[:, :, 0] if channels == 1 else strip


# --- tiled TIFF -----------------------------------------------------------------------------------------


def _tiff_tiled(path: Path) -> bool:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        return bool(page.is_tiled) and page.dtype is not None and page.dtype.kind in "ui"


def _tiff_strips(path: Path, rows: int) -> Iterator[np.ndarray]:
    """A tiled TIFF a row of tiles at a time (integer samples; float images are read whole, they need a
    global scale), regrouped into strips of ``rows`` rows."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        width, height = int(page.imagewidth), int(page.imagelength)
        tile_h, tile_w = int(page.tilelength), int(page.tilewidth)
        across = -(-width // tile_w)
        samples = int(page.samplesperpixel)
        band = np.zeros((tile_h, across * tile_w, samples), page.dtype)
        pending: list[np.ndarray] = []
        held = 0
        for count, (segment, index, _shape) in enumerate(page.segments(), 1):
            left = index[3]  # tifffile gives a tile's position in pixels
            if segment is not None:
                band[:, left : left + tile_w] = segment.reshape(tile_h, tile_w, samples)
            if count % across == 0:
                top = (count // across - 1) * tile_h
                keep = min(tile_h, height - top)
                pending.append(to_8bit(band[:keep, :width].copy()))
                held += keep
                band[:] = 0
                while held >= rows:
                    merged = np.concatenate(pending)
                    strip, rest = merged[:rows], merged[rows:]
                    pending, held = ([rest] if len(rest) else []), len(rest)
                    yield strip[:, :, 0] if samples == 1 else strip
        if held:
            merged = np.concatenate(pending)
            yield merged[:, :, 0] if samples == 1 else merged
