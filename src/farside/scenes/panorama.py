"""Panoramas from mast pointing: every frame placed where its label says it looked, before any feature is
matched.

A sweep's frames share one white balance and stretch (:func:`farside.conversion.shared_look`); each frame is
drawn into an azimuth/elevation grid (:class:`~farside.scenes.geometry.Equirectangular`) through its pinhole
camera (:func:`~farside.scenes.geometry.camera_model`) at its mast pointing
(:func:`~farside.scenes.geometry.mast_pointing`), and the frames are joined with OpenCV's multi-band blender
(Burt & Adelson 1983, "A multiresolution spline with application to image mosaics"), which hides seams
without blurring detail.

Each frame's rotation is first refined from features matched in the overlaps (:mod:`.refine`); each
frame's exposure is compensated from the overlaps, and seams are cut where the frames agree before the
blend. Still to come: tiled output for full-resolution sites.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from farside.errors import FarsideError
from farside.output import (
    EXTENSIONS,
    PROVENANCE_KEY,
    atomic_file,
    encode_jpeg,
    farside_version,
    safe_file_name,
    sidecar_path,
    write_atomic,
    write_png_strips,
    write_tiff_strips,
)
from farside.scenes.geometry import (
    PROJECTIONS,
    Camera,
    Equirectangular,
    camera_model,
    mast_pointing,
    orientation,
)
from farside.scenes.geometry import pixel_directions as _pixel_directions


@dataclass(frozen=True)
class PlacedFrame:
    """A frame's display image with the camera and pointing that place it."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 display RGB
    camera: Camera
    pointing: tuple[float, float, float]  # azimuth, elevation, roll in degrees, as the label gives them
    refined: tuple[float, float, float] | None = None  # after refinement, where it held
    refinement: str = "not attempted"

    @property
    def rotation(self) -> np.ndarray:
        return orientation(*(self.refined or self.pointing))


def set_key(meta: Any) -> tuple[Any, ...]:
    """What every frame of one panorama shares: mission, instrument, eye, mode and sequence."""
    return (meta.mission, meta.instrument, meta.camera, meta.mode, meta.sequence_id)


MOON_RADIUS_M = 1_737_400.0
SITE_TOLERANCE_M = 1.0  # a rover that moved further than this has started another site
REPEAT_TOLERANCE_DEG = 1.0  # a mast pointing again this close to a frame of the set starts another sweep


def _metres_apart(a: Any, b: Any) -> float:
    """Distance between two frames' rover locations on the lunar surface (0 where either is unknown)."""
    if None in (a.longitude, a.latitude, b.longitude, b.latitude):
        return 0.0
    latitude = np.radians((a.latitude + b.latitude) / 2)
    east = np.radians((a.longitude - b.longitude + 180.0) % 360.0 - 180.0) * np.cos(latitude)
    north = np.radians(a.latitude - b.latitude)
    return float(MOON_RADIUS_M * np.hypot(east, north))


def _repeats(meta: Any, members: Sequence[Any]) -> bool:
    """Whether ``meta``'s mast pointing repeats that of a frame already in the set: a new sweep."""
    if meta.mast_yaw is None or meta.mast_pitch is None:
        return False
    for other in members:
        if other.mast_yaw is None or other.mast_pitch is None:
            continue
        yaw = abs((meta.mast_yaw - other.mast_yaw + 180.0) % 360.0 - 180.0)
        if yaw < REPEAT_TOLERANCE_DEG and abs(meta.mast_pitch - other.mast_pitch) < REPEAT_TOLERANCE_DEG:
            return True
    return False


def group_sets(metas: Sequence[Any]) -> list[list[int]]:
    """Indices of ``metas`` (in time order) grouped into panorama sets: one sweep of the mast at one site.

    Frames share a set when they share :func:`set_key`, the rover has not moved more than
    ``SITE_TOLERANCE_M`` since the set's first frame, and the mast has not come back to a pointing the set
    already has (which starts a new sweep). Sets come in the order of their first frames.
    """
    sets: list[list[int]] = []
    open_set: dict[tuple[Any, ...], list[int]] = {}
    for index, meta in enumerate(metas):
        key = set_key(meta)
        current = open_set.get(key)
        if current is not None:
            members = [metas[i] for i in current]
            if _metres_apart(members[0], meta) <= SITE_TOLERANCE_M and not _repeats(meta, members):
                current.append(index)
                continue
        open_set[key] = [index]
        sets.append(open_set[key])
    return sets


def place(name: str, image: np.ndarray, meta: Any, settings: Any, binning: int = 1,
          native_shape: tuple[int, ...] | None = None) -> PlacedFrame:  # fmt: skip
    """A frame placed by its label: raises :class:`FarsideError` when the label gives no mast pointing.
    ``image`` may be a frame of ``native_shape`` reduced ``binning`` times (a half-size image: 2)."""
    pointing = mast_pointing(meta, settings)
    if pointing is None:
        raise FarsideError(f"{name}: the label gives no mast pointing; left out of the panorama")
    camera = camera_model(settings, meta, native_shape or image.shape)
    return PlacedFrame(name, image, camera.binned(binning) if binning > 1 else camera, pointing)


def _outline(frame: PlacedFrame, samples: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Azimuths and elevations along the frame's border."""
    w, h = frame.camera.width, frame.camera.height
    t = np.linspace(0.0, 1.0, samples)
    u = np.concatenate([t * w, np.full_like(t, w), (1 - t) * w, np.zeros_like(t)])
    v = np.concatenate([np.zeros_like(t), t * h, np.full_like(t, h), (1 - t) * h])
    return _pixel_directions(frame.camera, frame.rotation, u, v)


def grid_for(
    frames: Sequence[PlacedFrame], scale: float = 1.0, projection: str = "equirectangular"
) -> Equirectangular:
    """The smallest grid of ``projection`` (:data:`~farside.scenes.geometry.PROJECTIONS`) that holds every
    frame, at the frames' own angular resolution times ``scale``. Azimuths are taken around the frames'
    mean pointing, so a sweep across 180° works; a sweep all the way round makes a full circle."""
    if not frames:
        raise FarsideError("no frames to make a panorama of")
    if projection not in PROJECTIONS:
        raise FarsideError(f"unknown projection {projection!r}; known: {', '.join(PROJECTIONS)}")
    pointing = [f.refined or f.pointing for f in frames]
    centre = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians([p[0] for p in pointing]))))))
    azimuths, elevations = [], []
    for frame in frames:
        az, el = _outline(frame)
        azimuths.append((az - centre + 180.0) % 360.0 - 180.0 + centre)
        elevations.append(el)
    az_all, el_all = np.concatenate(azimuths), np.concatenate(elevations)
    degrees = float(np.degrees(1.0 / max(f.camera.focal_px for f in frames))) / scale
    left, right = float(az_all.min()), float(az_all.max())
    if _wraps_round(pointing, frames):
        left, right = centre - 180.0, centre + 180.0
    return PROJECTIONS[projection].covering(degrees, left, right, float(el_all.max()), float(el_all.min()))


def _wraps_round(pointing: Sequence[tuple[float, float, float]], frames: Sequence[PlacedFrame]) -> bool:
    """Whether the frames' fields join up all the way round: no gap between neighbouring azimuths wider
    than a frame's horizontal field."""
    azimuths = np.sort(np.array([p[0] for p in pointing]) % 360.0)
    gaps = np.diff(np.append(azimuths, azimuths[0] + 360.0))
    return len(azimuths) > 2 and float(gaps.max()) < min(f.camera.field_of_view()[0] for f in frames)


Box = tuple[int, int, int, int]  # x0, y0, x1, y1: columns x0..x1-1 and rows y0..y1-1 of a grid


def footprints(frame: PlacedFrame, grid: Equirectangular) -> list[Box]:
    """The boxes of ``grid`` that a frame covers: one, or two where it straddles the edge of a full
    circle; none where it falls outside the grid."""
    az, el = _outline(frame, 64)
    own = (frame.refined or frame.pointing)[0]
    near = (own - grid.azimuth_left_deg) % 360.0 + grid.azimuth_left_deg  # the frame's centre on the grid
    az = (az - near + 180.0) % 360.0 - 180.0 + near
    x, y = grid.pixel_of(az, el)
    y0, y1 = max(0, int(np.floor(y.min()))), min(grid.height, int(np.ceil(y.max())) + 1)
    turns = (-1, 0, 1) if grid.full_circle else (0,)
    boxes = []
    for turn in turns:
        shift = turn * grid.width
        x0, x1 = max(0, int(np.floor(x.min())) + shift), min(grid.width, int(np.ceil(x.max())) + 1 + shift)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def _intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _maps(frame: PlacedFrame, grid: Equirectangular, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of ``box`` of ``grid`` falls in the frame, as OpenCV's remap takes it (float32 x and
    y maps), and which pixels fall inside the frame."""
    x0, y0, x1, y1 = box
    azimuth, _ = grid.angles_of(np.arange(x0, x1), 0)
    _, elevation = grid.angles_of(0, np.arange(y0, y1))
    # A grid's azimuth depends on the column alone and its elevation on the row alone, so a direction in the
    # camera's frame is cos(elevation) * across[column] + sin(elevation) * up: no trigonometry per pixel.
    # Single precision is plenty per pixel (a ten-thousandth of a pixel at a PCAM's focal length).
    a = np.radians(azimuth)
    across = (np.stack([np.sin(a), np.cos(a), np.zeros_like(a)], axis=-1) @ frame.rotation).astype(np.float32)
    up = frame.rotation[2]  # the world's vertical in the camera's frame
    e = np.radians(elevation)
    cos_e, sin_e = np.cos(e).astype(np.float32)[:, None], np.sin(e).astype(np.float32)[:, None]

    def component(k: int) -> np.ndarray:
        return cos_e * across[None, :, k] + np.float32(up[k]) * sin_e

    z = component(2)
    ahead = z > 1e-9
    z[~ahead] = 1.0
    np.reciprocal(z, out=z)
    z *= np.float32(frame.camera.focal_px)
    cx, cy = frame.camera.centre
    # cv2.remap samples pixel i at coordinate i; the geometry puts pixel i's centre at i + 0.5.
    u = component(0)
    u *= z
    u += np.float32(cx - 0.5)
    v = component(1)
    v *= z
    v += np.float32(cy - 0.5)
    width, height = frame.camera.width, frame.camera.height
    inside = ahead & (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)
    return u, v, inside


def warp(frame: PlacedFrame, grid: Equirectangular, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The frame drawn into ``box`` of ``grid``: (image, mask of the pixels it covers)."""
    map_x, map_y, inside = _maps(frame, grid, box)
    image = cv2.remap(frame.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return image, (inside * 255).astype(np.uint8)


_CONVERT_ROWS = 256
_BLEND_MEMORY = 1.2e9


@dataclass
class Panorama:
    """A panorama: RGBA image (alpha marks the covered area), its grid, and the frames in it."""

    image: np.ndarray
    grid: Equirectangular
    frames: list[dict[str, Any]] = field(default_factory=list)


def _as_8bit(image: np.ndarray) -> np.ndarray:
    """A 16-bit frame as the 8-bit render of it would be (65535 -> 255, rounded)."""
    if image.dtype == np.uint8:
        return image
    return cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)


# OpenCV's gain compensator weighs a prior that pulls each gain towards 1 as heavily as the overlaps'
# disagreement at mid-grey (Brown & Lowe's sigmas for 8-bit values), so one pass undoes only about half of a
# difference in exposure; each further pass estimates again on the frames as compensated so far.
_GAIN_FEEDS = 8


def _compensate_exposure(images: list[np.ndarray], masks: list[np.ndarray], corners: list) -> list[float]:
    """A gain per image that makes the overlaps agree in brightness: OpenCV's gain compensator (Brown &
    Lowe 2007, section 6)."""
    compensator = cv2.detail_GainCompensator(_GAIN_FEEDS)
    compensator.feed(
        corners=corners, images=[cv2.UMat(i) for i in images], masks=[cv2.UMat(m) for m in masks]
    )
    return [float(np.asarray(gain).ravel()[0]) for gain in compensator.getMatGains()]


def _find_seams(images: list[np.ndarray], masks: list[np.ndarray], corners: list) -> list[np.ndarray]:
    """Masks cut along seams where the images agree: a graph cut on colour differences (Kwatra et al.
    2003), as OpenCV's stitcher places them."""
    found = cv2.detail_GraphCutSeamFinder("COST_COLOR").find(
        [i.astype(np.float32) for i in images], corners, [cv2.UMat(m) for m in masks]
    )
    return [seam.get() if isinstance(seam, cv2.UMat) else np.asarray(seam) for seam in found]


# Exposure and seams are found on a copy of the panorama small enough that each frame covers about this
# many pixels: brightness in the overlaps and where frames agree hardly depend on resolution, and the graph
# cut's cost grows fast with size (OpenCV's stitcher cuts at 0.1 megapixel; half that measured as well).
_PHOTOMETRY_PIXELS = 5e4


@dataclass
class Photometry:
    """A gain per frame and where each frame's seams fall: every frame's pieces on a small copy of the
    grid (``work``) with the part of each that the frame keeps after the seams are cut."""

    work: Equirectangular
    gains: list[float]
    seams: list[list[tuple[Box, np.ndarray]]]

    @classmethod
    def neutral(cls, frames: Sequence[PlacedFrame], grid: Equirectangular) -> Photometry:
        """No compensation and no seams: every frame keeps all of itself."""
        return cls(grid, [1.0] * len(frames), [[] for _ in frames])

    def seam_mask(self, index: int, grid: Equirectangular, box: Box) -> np.ndarray | None:
        """Frame ``index``'s seam mask over ``box`` of the full ``grid`` (None: no seam, keep it all)."""
        if self.work is grid:
            return None
        x0, y0, x1, y1 = box
        factor = self.work.width / grid.width
        # The part of the work grid under the box, with a pixel to spare for the edges.
        wx0, wy0 = max(0, int(x0 * factor) - 1), max(0, int(y0 * factor) - 1)
        wx1 = min(self.work.width, int(np.ceil(x1 * factor)) + 1)
        wy1 = min(self.work.height, int(np.ceil(y1 * factor)) + 1)
        local = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
        for (px0, py0, px1, py1), seam in self.seams[index]:
            part = _intersect((px0, py0, px1, py1), (wx0, wy0, wx1, wy1))
            if part is not None:
                ax0, ay0, ax1, ay1 = part
                kept = seam[ay0 - py0 : ay1 - py0, ax0 - px0 : ax1 - px0]
                local[ay0 - wy0 : ay1 - wy0, ax0 - wx0 : ax1 - wx0] |= kept
        xs = ((np.arange(x0, x1) + 0.5) * factor - 0.5 - wx0).astype(np.float32)
        ys = ((np.arange(y0, y1) + 0.5) * (self.work.height / grid.height) - 0.5 - wy0).astype(np.float32)
        map_x, map_y = np.meshgrid(xs, ys)
        mask = cv2.remap(local, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        # A work pixel stands for several full-size ones, and the work footprints end where their pixel
        # centres leave the frame: grown by a work pixel and one more, the masks cover the frames to their
        # full-size edges and neighbours' cut edges overlap, so the blender leaves no gap.
        reach = int(np.ceil(1.0 / factor)) + 1
        return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1)))


def photometry_of(frames: Sequence[PlacedFrame], grid: Equirectangular) -> Photometry:
    """Each frame's exposure gain from the overlaps, and the seams where neighbouring frames agree, both
    found on a small copy of ``grid``."""
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for f in frames for b in footprints(f, grid)]
    if len(frames) < 2 or not areas:
        return Photometry.neutral(frames, grid)
    work = grid.scaled(min(1.0, float(np.sqrt(_PHOTOMETRY_PIXELS / np.median(areas)))))
    owners, images, masks, boxes = [], [], [], []
    for index, frame in enumerate(frames):
        small = _shrunk(frame, work)
        for box in footprints(small, work):
            image, mask = warp(small, work, box)
            owners.append(index)
            images.append(image)
            masks.append(mask)
            boxes.append(box)
    corners = [(b[0], b[1]) for b in boxes]
    piece_gains = _compensate_exposure(images, masks, corners)
    seams = _find_seams(images, masks, corners)
    gains, pieces = [], [[] for _ in frames]
    for index in range(len(frames)):
        mine = [k for k, owner in enumerate(owners) if owner == index]
        weights = [max(1, int(np.count_nonzero(masks[k]))) for k in mine]
        gains.append(float(np.average([piece_gains[k] for k in mine], weights=weights)) if mine else 1.0)
    for k, owner in enumerate(owners):
        pieces[owner].append((boxes[k], seams[k]))
    return Photometry(work, gains, pieces)


def _shrunk(frame: PlacedFrame, grid: Equirectangular) -> PlacedFrame:
    """An 8-bit copy of the frame at about the resolution of ``grid`` (area-averaged, so a small grid
    samples it without aliasing), with its camera scaled to match."""
    factor = min(1.0, 1.0 / (grid.degrees_per_pixel * np.radians(1.0) * frame.camera.focal_px))
    image = _as_8bit(frame.image)
    if factor < 0.9:
        size = (max(1, round(frame.camera.width * factor)), max(1, round(frame.camera.height * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    scale = image.shape[1] / frame.camera.width
    cx, cy = frame.camera.centre
    camera = Camera(image.shape[1], image.shape[0], frame.camera.focal_px * scale, cx * scale, cy * scale)
    return replace(frame, image=image, camera=camera)


def _strip_margin(bands: int) -> int:
    """Rows blended beyond a strip's edges so that cutting the blend into strips changes nothing visible:
    a band's pyramid level k reaches about 2**k * 4 pixels."""
    return 2 ** (bands + 2)


def blend_strips(
    frames: Sequence[PlacedFrame],
    grid: Equirectangular,
    look: Photometry | None = None,
    bands: int = 5,
    rows: int = 512,
) -> Iterator[np.ndarray]:
    """The panorama of frames on ``grid``, strip by strip from the top: RGBA arrays of up to ``rows`` rows
    (uint8, or uint16 for 16-bit frames), the alpha channel marking the covered area.

    Each strip is blended with OpenCV's multi-band blender (Burt & Adelson 1983) over the strip and a margin
    above and below it, so memory stays that of one strip however large the panorama; ``look`` gives each
    frame's gain and seams (:func:`photometry_of`; default: none).
    """
    look = look or Photometry.neutral(frames, grid)
    deep = any(f.image.dtype != np.uint8 for f in frames)
    dtype = np.uint16 if deep else np.uint8
    top_level = np.iinfo(dtype).max
    # The blender works in 16-bit signed integers and truncates each band's weighted sum: fed 8-bit values
    # as they are, that costs about 2.5 levels on average. Every frame goes through it at 14 bits instead
    # (8-bit values times 64, 16-bit ones divided by 4), which leaves room for gains and the pyramid's
    # overshoot below 32767.
    to_blender = 16384.0 / (top_level + 1)
    boxes = [footprints(frame, grid) for frame in frames]
    margin = _strip_margin(bands)

    def strip_at(top: int) -> np.ndarray:
        bottom = min(grid.height, top + rows)
        region = (0, max(0, top - margin), grid.width, min(grid.height, bottom + margin))
        blender = cv2.detail.MultiBandBlender(0, bands)
        blender.prepare((0, region[1], grid.width, region[3] - region[1]))
        # First what each frame keeps after the seams are cut; then any pixel that a frame covers but that
        # no frame kept (the seams were cut on a coarser grid) goes to every frame that covers it.
        parts, claimed = [], np.zeros((region[3] - region[1], grid.width), bool)
        for index, frame in enumerate(frames):
            for box in boxes[index]:
                part = _intersect(box, region)
                if part is None:
                    continue
                inside = _maps(frame, grid, part)[2]
                seam = look.seam_mask(index, grid, part)
                kept = inside if seam is None else inside & (seam > 0)
                claimed[part[1] - region[1] : part[3] - region[1], part[0] : part[2]] |= kept
                parts.append((index, part, inside, kept))
        fed = False
        for index, part, inside, kept in parts:
            unclaimed = ~claimed[part[1] - region[1] : part[3] - region[1], part[0] : part[2]]
            mask = ((kept | (inside & unclaimed)) * 255).astype(np.uint8)
            if not mask.any():
                continue
            # Warped again rather than kept from the first pass: the maps are cheap to redo and would cost
            # eight bytes a pixel to hold for every part of the strip.
            image = warp(frames[index], grid, part)[0]
            pixels = image.astype(np.float32) * (look.gains[index] * to_blender)
            blender.feed(np.clip(pixels, 0, 32767).astype(np.int16), mask, (part[0], part[1]))
            fed = True
        height = bottom - top
        strip = np.zeros((height, grid.width, 4), dtype)
        if not fed:
            return strip
        result, coverage = blender.blend(None, None)
        del blender  # its pyramids are the largest thing held; let them go before the strip is converted
        for first in range(0, height, _CONVERT_ROWS):  # converted in bands, to bound the temporaries
            band = slice(first, min(height, first + _CONVERT_ROWS))
            source = slice(top - region[1] + band.start, top - region[1] + band.stop)
            covered = coverage[source] > 0
            levels = np.rint(result[source].astype(np.float32) / to_blender)
            strip[band, :, :3] = np.clip(levels, 0, top_level) * covered[..., None]
            strip[band, :, 3] = covered * top_level
        return strip

    # Strips are independent, and OpenCV and numpy let go of the interpreter while they work: as many
    # strips at once as OpenCV may use threads, but no more than fit in _BLEND_MEMORY (a strip's pyramids,
    # masks and warped parts take about 16 bytes a pixel of it and its margins).
    tops = list(range(0, grid.height, rows))
    strip_bytes = 16 * (rows + 2 * margin) * grid.width
    workers = max(1, min(len(tops), cv2.getNumThreads(), int(_BLEND_MEMORY // strip_bytes)))
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[np.ndarray]] = deque()
        for top in tops:
            pending.append(pool.submit(strip_at, top))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def frame_records(frames: Sequence[PlacedFrame], grid: Equirectangular) -> list[dict[str, Any]]:
    """What a panorama's sidecar says of each frame: its label and refined pointing, whether refinement
    held, and whether it is in the panorama at all."""
    return [{
        "name": frame.name,
        "label_pointing": list(frame.pointing),
        "refined_pointing": [round(v, 6) for v in (frame.refined or frame.pointing)],
        "refinement": frame.refinement,
        "in_panorama": bool(footprints(frame, grid)),
    } for frame in frames]  # fmt: skip


def blend(
    frames: Sequence[PlacedFrame], grid: Equirectangular, bands: int = 5, photometry: bool = True
) -> Panorama:
    """Draw every frame into ``grid``; with ``photometry``, compensate exposure and cut seams where the
    frames agree (:func:`photometry_of`); join them with multi-band blending. The whole panorama is held in
    memory: for large ones, write :func:`blend_strips` as they come."""
    look = photometry_of(frames, grid) if photometry else None
    image = np.concatenate(list(blend_strips(frames, grid, look, bands)), axis=0)
    return Panorama(image, grid, frame_records(frames, grid))


_QUICK_LOOK_PIXELS = 0.25e6


def refine(frames: Sequence[PlacedFrame], scale: float = 1.0) -> list[PlacedFrame]:
    """The frames with rotations refined from features matched in their overlaps (:mod:`.refine`); a
    frame with too few matches keeps its label pointing and says so. For a panorama at ``scale`` below 1,
    frames are tracked at about the panorama's resolution (never on less than a quarter megapixel): a
    quick look needs its pointing to a fraction of its own pixels, not of the frames'."""
    from farside.scenes.refine import MIN_MATCHES, WORKING_PIXELS, pointing_of, refine_rotations

    largest = max(f.camera.width * f.camera.height for f in frames)
    working = max(_QUICK_LOOK_PIXELS, min(WORKING_PIXELS, largest * min(1.0, scale) ** 2))
    results = refine_rotations(
        [_as_8bit(f.image) for f in frames],
        [f.camera for f in frames],
        [f.pointing for f in frames],
        working_pixels=working,
    )
    out = []
    for frame, result in zip(frames, results, strict=True):
        if result.refined:
            note = f"refined from {result.matches} tracked matches"
            out.append(replace(frame, refined=pointing_of(result.rotation), refinement=note))
        else:
            note = f"kept the label's pointing: {result.matches} tracked matches (needs {MIN_MATCHES})"
            out.append(replace(frame, refinement=note))
    return out


def panorama(
    frames: Sequence[PlacedFrame],
    scale: float = 1.0,
    refine_pointing: bool = True,
    projection: str = "equirectangular",
) -> Panorama:
    """A panorama of frames placed by their labels, their rotations refined from the overlaps unless
    ``refine_pointing`` is False (see the module's description), on a grid of ``projection`` at the
    frames' resolution times ``scale``, held in memory."""
    if refine_pointing and len(frames) > 1:
        frames = refine(frames, scale)
    return blend(frames, grid_for(frames, scale, projection))


__all__ = [
    "Panorama",
    "PlacedFrame",
    "blend",
    "grid_for",
    "group_sets",
    "panorama",
    "place",
    "set_key",
    "warp",
]


@dataclass
class SetOutcome:
    """What became of one panorama set: the output written (or None) and one line per problem."""

    name: str
    frames: list[str]
    output: str | None = None
    problems: list[str] = field(default_factory=list)


def panorama_name(first_data_path: Any) -> str:
    """A set's output name: its first frame's data file name plus ``_pano``."""
    return safe_file_name(f"{getattr(first_data_path, 'name', first_data_path)}_pano")


def find_sets(paths: Sequence[Any], out_dir: Any, request: Any) -> tuple[list[list[Any]], list[str]]:
    """Read every product and group them into panorama sets (frames in time order); returns the sets (of
    :class:`~farside.conversion.Planned`) and one line for each product that could not be read."""
    from farside.conversion import failure_line, plan

    planned, problems = [], []
    seen = set()
    for path in paths:
        try:
            item = plan(path, out_dir, request)
        except Exception as exc:  # one bad frame never stops a set
            problems.append(failure_line(str(path), exc))
            continue
        if item.identity not in seen:
            seen.add(item.identity)
            planned.append(item.released())
    planned.sort(key=lambda p: (p.product.meta.start_time is None, p.product.meta.start_time, p.path))
    groups = group_sets([p.product.meta for p in planned])
    return [[planned[i] for i in indices] for indices in groups], problems


def build_set(
    frames: Sequence[Any],
    out_dir: Any,
    scale: float = 1.0,
    refine_pointing: bool = True,
    projection: str = "equirectangular",
) -> SetOutcome:
    """Render a set's frames (:class:`~farside.conversion.Planned`) with one shared look, place them by
    their labels, refine their pointing and write the panorama in the settings' format and bit depth, strip
    by strip, with a sidecar stating its projection and every frame's pointing."""
    from farside.conversion import failure_line, shared_look
    from farside.pipeline import render

    name = panorama_name(frames[0].product.data_path)
    outcome = SetOutcome(name, [f.path for f in frames])
    if scale <= 0.5:
        # Half-size frames (a pixel per Bayer cell, no demosaicing) hold all that a panorama at half the
        # frames' resolution or less can show, at a fraction of the time.
        frames = [replace(f, settings=replace(f.settings, half_size=True)) for f in frames]
    kept: dict[str, Any] = {}
    look, failed = shared_look(frames, kept)
    outcome.problems.extend(o.error for o in failed if o.error)
    broken = {o.path for o in failed}
    placed = []
    for item in frames:
        if item.path in broken:
            continue
        try:
            item = item.reopened()
            image = render(item.product, item.settings, look, kept.pop(item.path, None)).image
            if image.ndim == 2:
                image = np.dstack([image] * 3)
            binning = 2 if item.settings.half_size else 1
            placed.append(place(item.path, image, item.product.meta, item.settings, binning,
                                item.product.image.shape))  # fmt: skip
        except Exception as exc:
            outcome.problems.append(failure_line(item.path, exc))
    if not placed:
        outcome.problems.append(f"{name}: no frame of this set could be placed; no panorama written")
        return outcome
    try:
        outcome.output = str(_build(placed, frames, Path(out_dir) / name, scale, refine_pointing, projection))
    except Exception as exc:  # a set that cannot be built is one line; the other sets go on
        outcome.problems.append(failure_line(name, exc))
    return outcome


def _build(
    placed: list[PlacedFrame], frames: Sequence[Any], stem: Path, scale: float, refine_pointing: bool,
    projection: str,
) -> Path:  # fmt: skip
    # The grid's resolution is the native frames' times the scale, whatever size the frames were rendered at.
    binning = 2 if frames[0].settings.half_size else 1
    if refine_pointing and len(placed) > 1:
        placed = refine(placed, scale * binning)
    grid = grid_for(placed, scale * binning, projection)
    description = {
        "kind": "panorama",
        "projection": grid.to_dict(),
        "frames": frame_records(placed, grid),
        "source_products": [str(Path(p.path).resolve()) for p in frames],
        "software": f"farside {farside_version()}",
        "settings": frames[0].settings.to_dict(),
        "scale": scale,
    }
    strips = blend_strips(placed, grid, photometry_of(placed, grid))
    return write_panorama(stem, strips, grid, frames[0].settings, description)


def write_panorama(
    stem: Path,
    strips: Iterable[np.ndarray],
    grid: Equirectangular,
    settings: Any,
    description: dict[str, Any],
) -> Path:
    """Write a panorama's strips (:func:`blend_strips`) as ``stem`` plus the extension of the settings'
    output format, and its sidecar; PNG and TIFF are written as the strips come (TIFF tiled), JPEG (no
    alpha: uncovered pixels are black) holds the whole image. Atomic: nothing is left under the final names
    unless all was written."""
    fmt = settings.output_format
    target = stem.with_name(stem.name + EXTENSIONS[fmt])
    text = json.dumps(description, sort_keys=True)
    if fmt == "jpeg" and max(grid.width, grid.height) > 65535:
        raise FarsideError(
            f"{target.name}: {grid.width} x {grid.height} is too large for JPEG (at most 65,535 pixels a "
            "side); use --format png or tiff, or a smaller --scale"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as stream:
        if fmt == "png":
            texts = {PROVENANCE_KEY: text, "Software": description["software"]}
            write_png_strips(stream, grid.width, grid.height, strips, texts, settings.png_compression,
                             settings.transfer)  # fmt: skip
        elif fmt == "tiff":
            write_tiff_strips(stream, grid.width, grid.height, strips, text, description["software"])
        else:
            rgb = np.concatenate([strip[:, :, :3] for strip in strips])
            stream.write(encode_jpeg(rgb, text, settings.quality))
    write_atomic(sidecar_path(target), (json.dumps(description, indent=2) + "\n").encode("utf-8"))
    return target
