"""Deep-zoom tiles (the DZI layout OpenSeadragon reads) made from strips, holding a few rows per level.

Level ``L`` of an image ``W`` x ``H`` is ``ceil(W / 2**(M - L))`` x ``ceil(H / 2**(M - L))`` with
``M = ceil(log2(max(W, H)))``: level ``M`` is the image, level 0 one pixel. Each level is cut into tiles of
``tile_size`` pixels plus ``overlap`` pixels shared with each neighbour, written as
``FOLDER/<level>/<column>_<row>.<format>``. The site hands the viewer the layout as an object (never an XML
file to fetch: a page opened from ``file://`` may not fetch).

Strips arrive top to bottom. Each level keeps only the rows its next row of tiles needs, writes those tiles
and passes its rows on, halved (2 x 2 means; with alpha, weighted by alpha so that uncovered pixels do not
darken the edges), to the level below. So a 42,000-pixel-wide panorama is tiled in the memory of a few
hundred of its rows.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np

TILE_SIZE = 254
OVERLAP = 1


def level_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """(width, height) of every level, from 0 (one pixel) to the image's own.

    >>> level_sizes(5, 3)
    [(1, 1), (2, 1), (3, 2), (5, 3)]
    """
    top = max(0, math.ceil(math.log2(max(width, height))))
    return [(-(-width // 2 ** (top - level)), -(-height // 2 ** (top - level))) for level in range(top + 1)]


def tile_box(column: int, row: int, size: tuple[int, int], tile: int = TILE_SIZE, overlap: int = OVERLAP):
    """The pixels (x0, y0, x1, y1) of tile (column, row) of a level of ``size``, overlap included.

    >>> tile_box(0, 0, (600, 300)), tile_box(1, 1, (600, 300))
    ((0, 0, 255, 255), (253, 253, 509, 300))
    """
    x0 = max(0, column * tile - overlap)
    y0 = max(0, row * tile - overlap)
    return x0, y0, min(size[0], (column + 1) * tile + overlap), min(size[1], (row + 1) * tile + overlap)


def halve(rows: np.ndarray) -> np.ndarray:
    """An even number of rows halved both ways by 2 x 2 means, rounded (an odd last column is paired with
    itself); with an alpha channel (2 or 4 channels) colour is averaged weighted by alpha."""
    pixels = rows if rows.ndim == 3 else rows[:, :, None]
    out = np.empty((len(pixels) // 2, -(-pixels.shape[1] // 2), pixels.shape[2]), np.uint8)
    _halve(np.ascontiguousarray(pixels), out, pixels.shape[2] in (2, 4))
    return out if rows.ndim == 3 else out[:, :, 0]


@nb.njit(cache=True, nogil=True)
def _halve(rows: np.ndarray, out: np.ndarray, alpha: bool) -> None:  # pragma: no cover - compiled
    height, width, channels = out.shape
    last = rows.shape[1] - 1
    colours = channels - 1 if alpha else channels
    for y in range(height):
        for x in range(width):
            xs = (2 * x, min(2 * x + 1, last))
            if alpha:
                weight = 0
                for dy in range(2):
                    for dx in xs:
                        weight += np.int64(rows[2 * y + dy, dx, channels - 1])
                out[y, x, channels - 1] = (weight + 2) // 4
            for c in range(colours):
                total = 0
                for dy in range(2):
                    for dx in xs:
                        value = np.int64(rows[2 * y + dy, dx, c])
                        total += value * np.int64(rows[2 * y + dy, dx, channels - 1]) if alpha else value
                if not alpha:
                    out[y, x, c] = (total + 2) // 4
                else:
                    out[y, x, c] = (total + weight // 2) // weight if weight else 0


@dataclass(frozen=True)
class Pyramid:
    """What :func:`write_pyramid` made: the layout for the viewer and a small version of the image."""

    width: int
    height: int
    tile_size: int
    overlap: int
    format: str
    tiles: int
    preview: np.ndarray  # the largest level that fits the preview box, whole

    def layout(self, url: str) -> dict[str, Any]:
        """The tile source as the site states it (OpenSeadragon's inline DZI object is made from it)."""
        return {"type": "dzi", "url": url, "format": self.format, "tileSize": self.tile_size,
                "overlap": self.overlap, "width": self.width, "height": self.height}  # fmt: skip


class _Level:
    """One level being cut: its rows not yet all tiled, and the level below it."""

    def __init__(self, index: int, size: tuple[int, int], writer: _Writer, below: _Level | None) -> None:
        self.index, self.size, self.writer, self.below = index, size, writer, below
        self.blocks: list[np.ndarray] = []  # rows kept, starting at row self.top, in blocks as they came
        self.held = 0
        self.top = 0
        self.received = 0
        self.next_row = 0  # the next row of tiles to write
        self.odd: np.ndarray | None = None  # a row waiting for its pair, to be halved for the level below
        self.kept: list[np.ndarray] | None = None  # every row, for the level kept as preview

    def push(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        self.received += len(rows)
        if self.kept is not None:
            self.kept.append(rows)
        self.blocks.append(rows)
        self.held += len(rows)
        self._write_ready()
        if self.below is not None:
            paired = rows if self.odd is None else np.concatenate([self.odd, rows])
            even = len(paired) // 2 * 2
            self.odd = paired[even:] if even < len(paired) else None
            if even:
                self.below.push(halve(paired[:even]))

    def finish(self) -> None:
        if self.received != self.size[1]:
            raise ValueError(f"level {self.index} got {self.received} rows, not {self.size[1]}")
        self._write_ready()
        if self.below is not None:
            if self.odd is not None:  # an odd last row is paired with itself
                self.below.push(halve(np.concatenate([self.odd, self.odd])))
            self.below.finish()

    def _write_ready(self) -> None:
        tile, overlap = self.writer.tile, self.writer.overlap
        width, height = self.size
        while self.next_row * tile < height:
            bottom = min(height, (self.next_row + 1) * tile + overlap)
            if self.top + self.held < bottom:
                return
            rows = self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)
            for column in range(-(-width // tile)):
                x0, y0, x1, y1 = tile_box(column, self.next_row, self.size, tile, overlap)
                piece = rows[y0 - self.top : y1 - self.top, x0:x1]
                self.writer.write(self.index, column, self.next_row, piece)
            self.next_row += 1
            keep_from = max(self.top, self.next_row * tile - overlap)
            rest = rows[keep_from - self.top :].copy()  # a copy, so the rows before it can go
            self.blocks, self.held, self.top = [rest], len(rest), keep_from


class _Writer:
    """Encodes and writes tiles on a few threads (the encoders let go of the interpreter), with a bounded
    number waiting."""

    def __init__(self, folder: Path, encode: Callable[[np.ndarray], bytes], extension: str, tile: int,
                 overlap: int, threads: int) -> None:  # fmt: skip
        self.folder, self.encode, self.extension = folder, encode, extension
        self.tile, self.overlap = tile, overlap
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.pending: deque[Future] = deque()
        self.count = 0
        self.made: set[int] = set()

    def write(self, level: int, column: int, row: int, piece: np.ndarray) -> None:
        if level not in self.made:
            (self.folder / str(level)).mkdir(parents=True, exist_ok=True)
            self.made.add(level)
        path = self.folder / str(level) / f"{column}_{row}.{self.extension}"
        self.count += 1
        if self.pool is None:
            path.write_bytes(self.encode(piece))
            return
        piece = piece.copy()  # its own, so the level's rows can go while it waits
        self.pending.append(self.pool.submit(lambda: path.write_bytes(self.encode(piece))))
        while len(self.pending) > 4 * self.threads:
            self.pending.popleft().result()

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


def write_pyramid(
    strips: Iterable[np.ndarray],
    width: int,
    height: int,
    folder: str | os.PathLike[str],
    encode: Callable[[np.ndarray], bytes],
    *,
    extension: str = "webp",
    tile_size: int = TILE_SIZE,
    overlap: int = OVERLAP,
    preview_box: tuple[int, int] = (1024, 512),
    threads: int = 1,
) -> Pyramid:
    """Cut an image given as ``strips`` (uint8, top to bottom, ``height`` rows in all) into deep-zoom tiles
    under ``folder`` (which should not exist yet: the caller renames it into place when this returns), each
    tile encoded by ``encode``. Returns the layout and the largest level that fits ``preview_box`` (for a
    thumbnail)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=False)
    sizes = level_sizes(width, height)
    fits = [i for i, (w, h) in enumerate(sizes) if w <= preview_box[0] and h <= preview_box[1]]
    writer = _Writer(folder, encode, extension, tile_size, overlap, threads)
    levels: list[_Level] = []
    below: _Level | None = None
    for index, size in enumerate(sizes):
        below = _Level(index, size, writer, below)
        levels.append(below)
    preview_level = levels[fits[-1] if fits else 0]
    preview_level.kept = []
    top = levels[-1]
    try:
        for strip in strips:
            if strip.shape[1] != width:
                raise ValueError(f"a strip is {strip.shape[1]} pixels wide, not {width}")
            top.push(strip)
        top.finish()
    finally:
        writer.close()
    preview = np.concatenate(preview_level.kept)
    return Pyramid(width, height, tile_size, overlap, extension, writer.count, preview)


def dzi_xml(pyramid: Pyramid) -> str:
    """The ``.dzi`` descriptor of a pyramid, for other deep-zoom viewers (the site itself never reads it)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="{pyramid.format}" '
        f'Overlap="{pyramid.overlap}" TileSize="{pyramid.tile_size}">\n'
        f'  <Size Width="{pyramid.width}" Height="{pyramid.height}"/>\n</Image>\n'
    )
