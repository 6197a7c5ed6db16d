"""Thumbnails and the viewer's image of each item: made from the output file, never cropped.

A thumbnail fits a box (frames 320 x 240; panoramas, which are many times wider than tall, 960 x 240), keeps
the image's aspect and its alpha, and is WebP. An image larger than the tiling threshold, or in a format a
browser cannot show (TIFF), is cut into deep-zoom tiles (:mod:`.deepzoom`) read strip by strip, and its
thumbnail is made from a small level of that pyramid; a movie's is its first frame.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from farside.gallery.deepzoom import dzi_xml, write_pyramid
from farside.gallery.pixels import open_raster, read_whole
from farside.gallery.scan import MOVIE_EXTENSIONS
from farside.output import write_atomic

THUMB_BOX = (320, 240)
PANORAMA_BOX = (960, 240)
THUMB_QUALITY = 80
TILE_QUALITY = 85
TILE_ABOVE = 4096  # pixels on the longer side: above this an image is tiled, below it opens directly
BROWSER_IMAGES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the aspect of ``width`` x ``height`` that fits ``box`` (never enlarged, never
    below one pixel).

    >>> fit(2352, 1728, (320, 240)), fit(42454, 3142, (960, 240)), fit(100, 50, (320, 240))
    ((320, 235), (960, 71), (100, 50))
    """
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink(image: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """``image`` made to fit ``box`` by area averaging (the right filter for shrinking)."""
    size = fit(image.shape[1], image.shape[0], box)
    if size == (image.shape[1], image.shape[0]):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_webp(image: np.ndarray, quality: int = THUMB_QUALITY, method: int = 2) -> bytes:
    """WebP bytes of a uint8 grey, grey + alpha, RGB or RGBA image. ``method`` trades time for size: 2
    takes half the time of the encoder's default (4) for files about 5 % larger."""
    from PIL import Image

    if image.ndim == 3 and image.shape[2] == 2:  # WebP has no grey + alpha: spread the grey
        image = np.dstack([image[:, :, 0]] * 3 + [image[:, :, 1]])
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    stream = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(stream, "WEBP", quality=quality, method=method)
    return stream.getvalue()


@dataclass(frozen=True)
class Task:
    """What to make for one item: its output file, where its thumbnail and (if tiled) its tiles go."""

    media: Path
    kind: str
    thumb: Path
    tiles: Path  # the tile folder's final name (``..._files``); made only when the image needs tiles
    tile_above: int = TILE_ABOVE
    threads: int = 1


@dataclass(frozen=True)
class Made:
    """What was made for one item: the thumbnail's size, the item's own size and the viewer's source."""

    thumb_size: tuple[int, int]
    size: tuple[int, int]
    view: dict[str, Any]
    extra: dict[str, Any]


def needs_tiles(path: Path, width: int, height: int, tile_above: int = TILE_ABOVE) -> bool:
    return max(width, height) > tile_above or path.suffix.lower() not in BROWSER_IMAGES


def make(task: Task, tiles_url: str) -> Made:
    """Make an item's thumbnail (and tiles when it needs them); raises ``ValueError``/``OSError`` for a
    file that cannot be read, leaving nothing under a final name."""
    box = PANORAMA_BOX if task.kind == "panorama" else THUMB_BOX
    if task.kind == "movie" or task.media.suffix.lower() in MOVIE_EXTENSIONS:
        frame, info = movie_poster(task.media)
        thumb = shrink(frame, box)
        write_atomic(task.thumb, encode_webp(thumb))
        size = (frame.shape[1], frame.shape[0])
        return Made((thumb.shape[1], thumb.shape[0]), size, {"type": "video"}, info)
    raster = open_raster(task.media)
    if needs_tiles(task.media, raster.width, raster.height, task.tile_above):
        building = task.tiles.with_name(f".{task.tiles.name}.part")
        _remove_tree(building)
        try:
            pyramid = write_pyramid(
                raster.strips(), raster.width, raster.height, building,
                lambda tile: encode_webp(tile, TILE_QUALITY, method=1), threads=task.threads,
                preview_box=(box[0] * 2, box[1] * 2),
            )  # fmt: skip
            (building / "image.dzi").write_text(dzi_xml(pyramid))
            _remove_tree(task.tiles)
            os.replace(building, task.tiles)
        except BaseException:
            _remove_tree(building)
            raise
        thumb = shrink(pyramid.preview, box)
        view = pyramid.layout(tiles_url)
    else:
        image = read_whole(task.media, at_least=(box[0] * 2, box[1] * 2))
        thumb = shrink(image, box)
        view = {"type": "image"}
    write_atomic(task.thumb, encode_webp(thumb))
    return Made((thumb.shape[1], thumb.shape[0]), (raster.width, raster.height), view, {})


def movie_poster(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """A movie's first frame (RGB) and what its container says: frames, frame rate, duration."""
    # FFmpeg (inside OpenCV) prints its own complaints about a broken file; the caller's one line says it.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    capture = cv2.VideoCapture(os.fspath(path))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            raise ValueError("the movie cannot be decoded (truncated, or not a movie)")
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    info: dict[str, Any] = {"frames": frames, "fps": round(fps, 3)}
    if frames and fps:
        info["duration_s"] = round(frames / fps, 2)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), info


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
