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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from farside.errors import FarsideError
from farside.scenes.geometry import Camera, Equirectangular, camera_model, mast_pointing, orientation, project
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
    """What frames of one panorama share: mission, instrument, eye, mode and sequence (one site's sweep)."""
    return (meta.mission, meta.instrument, meta.camera, meta.mode, meta.sequence_id)


def group_sets(metas: Sequence[Any]) -> dict[tuple[Any, ...], list[int]]:
    """Indices of ``metas`` grouped into panorama sets by :func:`set_key`, in the order given."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, meta in enumerate(metas):
        groups.setdefault(set_key(meta), []).append(index)
    return groups


def place(name: str, image: np.ndarray, meta: Any, settings: Any) -> PlacedFrame:
    """A frame placed by its label: raises :class:`FarsideError` when the label gives no mast pointing."""
    pointing = mast_pointing(meta, settings)
    if pointing is None:
        raise FarsideError(f"{name}: the label gives no mast pointing; left out of the panorama")
    return PlacedFrame(name, image, camera_model(settings, meta, image.shape), pointing)


def _outline(frame: PlacedFrame, samples: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Azimuths and elevations along the frame's border."""
    w, h = frame.camera.width, frame.camera.height
    t = np.linspace(0.0, 1.0, samples)
    u = np.concatenate([t * w, np.full_like(t, w), (1 - t) * w, np.zeros_like(t)])
    v = np.concatenate([np.zeros_like(t), t * h, np.full_like(t, h), (1 - t) * h])
    return _pixel_directions(frame.camera, frame.rotation, u, v)


def grid_for(frames: Sequence[PlacedFrame], scale: float = 1.0) -> Equirectangular:
    """The smallest equirectangular grid that holds every frame, at the frames' own angular resolution
    times ``scale``. Azimuths are taken around the frames' mean pointing, so a sweep across 180° works."""
    if not frames:
        raise FarsideError("no frames to make a panorama of")
    centre = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians([f.pointing[0] for f in frames]))))))
    azimuths, elevations = [], []
    for frame in frames:
        az, el = _outline(frame)
        azimuths.append((az - centre + 180.0) % 360.0 - 180.0 + centre)
        elevations.append(el)
    az_all, el_all = np.concatenate(azimuths), np.concatenate(elevations)
    degrees = float(np.degrees(1.0 / max(f.camera.focal_px for f in frames))) / scale
    left, right = float(az_all.min()), float(min(az_all.max(), az_all.min() + 360.0))
    top, bottom = float(el_all.max()), float(el_all.min())
    width = max(1, int(np.ceil((right - left) / degrees)))
    height = max(1, int(np.ceil((top - bottom) / degrees)))
    return Equirectangular(degrees, left, top, width, height)


def warp(frame: PlacedFrame, grid: Equirectangular) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """The frame drawn into the part of ``grid`` it covers: (image, mask, (x, y) of its top-left corner),
    or None when it falls outside the grid."""
    az, el = _outline(frame, 64)
    x, y = grid.pixel_of((az - grid.azimuth_left_deg) % 360.0 + grid.azimuth_left_deg, el)
    x0, x1 = max(0, int(np.floor(x.min()))), min(grid.width, int(np.ceil(x.max())) + 1)
    y0, y1 = max(0, int(np.floor(y.min()))), min(grid.height, int(np.ceil(y.max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    xs, ys = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
    azimuth, elevation = grid.angles_of(xs, ys)
    u, v, ahead = project(frame.camera, frame.rotation, azimuth, elevation)
    inside = ahead & (u >= 0) & (u < frame.camera.width) & (v >= 0) & (v < frame.camera.height)
    # cv2.remap samples pixel i at coordinate i; the geometry puts pixel i's centre at i + 0.5.
    map_x, map_y = (u - 0.5).astype(np.float32), (v - 0.5).astype(np.float32)
    image = cv2.remap(frame.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return image, (inside * 255).astype(np.uint8), (x0, y0)


@dataclass
class Panorama:
    """A panorama: RGBA image (alpha marks the covered area), its grid, and the frames in it."""

    image: np.ndarray
    grid: Equirectangular
    frames: list[dict[str, Any]] = field(default_factory=list)


def _compensate_exposure(
    images: list[np.ndarray], masks: list[np.ndarray], corners: list
) -> list[np.ndarray]:
    """A gain per frame that makes the overlaps agree in brightness: OpenCV's gain compensator (Brown &
    Lowe 2007, section 6)."""
    compensator = cv2.detail.ExposureCompensator_createDefault(cv2.detail.ExposureCompensator_GAIN)
    compensator.feed(
        corners=corners, images=[cv2.UMat(i) for i in images], masks=[cv2.UMat(m) for m in masks]
    )
    out = []
    for index, (image, mask, corner) in enumerate(zip(images, masks, corners, strict=True)):
        result = compensator.apply(index, corner, image.copy(), mask)
        out.append(result.get() if isinstance(result, cv2.UMat) else np.asarray(result))
    return out


def _find_seams(images: list[np.ndarray], masks: list[np.ndarray], corners: list) -> list[np.ndarray]:
    """Masks cut along seams where the frames agree (a graph cut on colour differences, Kwatra et al.
    2003), found on copies of about 0.1 megapixel each and scaled back, as OpenCV's stitcher does."""
    largest = max(image.shape[0] * image.shape[1] for image in images)
    factor = min(1.0, float(np.sqrt(1e5 / largest)))
    small_images, small_masks, small_corners = [], [], []
    for image, mask, (x, y) in zip(images, masks, corners, strict=True):
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        small_images.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32))
        small_masks.append(cv2.UMat(cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)))
        small_corners.append((round(x * factor), round(y * factor)))
    found = cv2.detail_GraphCutSeamFinder("COST_COLOR").find(small_images, small_corners, small_masks)
    out = []
    for seam, mask in zip(found, masks, strict=True):
        seam = seam.get() if isinstance(seam, cv2.UMat) else np.asarray(seam)
        grown = cv2.dilate(cv2.resize(seam, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_NEAREST),
                           np.ones((3, 3), np.uint8))  # fmt: skip
        out.append(cv2.bitwise_and(grown, mask))
    return out


def blend(
    frames: Sequence[PlacedFrame], grid: Equirectangular, bands: int = 5, photometry: bool = True
) -> Panorama:
    """Draw every frame into ``grid``; with ``photometry``, compensate exposure and cut seams where the
    frames agree; join them with multi-band blending."""
    placed, images, masks, corners = [], [], [], []
    for frame in frames:
        warped = warp(frame, grid)
        placed.append({
            "name": frame.name,
            "label_pointing": list(frame.pointing),
            "refined_pointing": [round(v, 6) for v in (frame.refined or frame.pointing)],
            "refinement": frame.refinement,
            "in_panorama": warped is not None,
        })  # fmt: skip
        if warped is not None:
            images.append(warped[0])
            masks.append(warped[1])
            corners.append(warped[2])
    if photometry and len(images) > 1:
        images = _compensate_exposure(images, masks, corners)
        masks = _find_seams(images, masks, corners)
    blender = cv2.detail.MultiBandBlender(0, bands)
    blender.prepare((0, 0, grid.width, grid.height))
    for image, mask, corner in zip(images, masks, corners, strict=True):
        blender.feed(image.astype(np.int16), mask, corner)
    result, coverage = blender.blend(None, None)
    rgb = np.clip(result, 0, 255).astype(np.uint8)
    alpha = np.where(coverage > 0, 255, 0).astype(np.uint8)
    rgb[alpha == 0] = 0
    return Panorama(np.dstack([rgb, alpha]), grid, placed)


def refine(frames: Sequence[PlacedFrame]) -> list[PlacedFrame]:
    """The frames with rotations refined from features matched in their overlaps (:mod:`.refine`); a
    frame with too few matches keeps its label pointing and says so."""
    from dataclasses import replace

    from farside.scenes.refine import MIN_MATCHES, pointing_of, refine_rotations

    results = refine_rotations(
        [f.image for f in frames], [f.camera for f in frames], [f.pointing for f in frames]
    )
    out = []
    for frame, result in zip(frames, results, strict=True):
        if result.refined:
            note = f"refined from {result.matches} matched features"
            out.append(replace(frame, refined=pointing_of(result.rotation), refinement=note))
        else:
            note = f"kept the label's pointing: {result.matches} matched features (needs {MIN_MATCHES})"
            out.append(replace(frame, refinement=note))
    return out


def panorama(frames: Sequence[PlacedFrame], scale: float = 1.0, refine_pointing: bool = True) -> Panorama:
    """A panorama of frames placed by their labels, their rotations refined from the overlaps unless
    ``refine_pointing`` is False (see the module's description)."""
    if refine_pointing and len(frames) > 1:
        frames = refine(frames)
    return blend(frames, grid_for(frames, scale))


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
    from farside.output import safe_file_name

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
            planned.append(item)
    planned.sort(key=lambda p: (p.product.meta.start_time is None, p.product.meta.start_time, p.path))
    groups = group_sets([p.product.meta for p in planned])
    return [[planned[i] for i in indices] for indices in groups.values()], problems


def build_set(
    frames: Sequence[Any], out_dir: Any, scale: float = 1.0, refine_pointing: bool = True
) -> SetOutcome:
    """Render a set's frames with one shared look, place them by their labels and write the panorama (RGBA
    PNG) with a sidecar stating its projection and every frame's pointing."""
    import json
    from pathlib import Path

    from farside.conversion import failure_line, shared_look
    from farside.output import encode_png, farside_version, write_outputs
    from farside.pipeline import render

    name = panorama_name(frames[0].product.data_path)
    outcome = SetOutcome(name, [f.path for f in frames])
    look, failed = shared_look(frames)
    outcome.problems.extend(o.error for o in failed if o.error)
    broken = {o.path for o in failed}
    placed = []
    for item in frames:
        if item.path in broken:
            continue
        try:
            image = render(item.product, item.settings, look).image
            if image.ndim == 2:
                image = np.dstack([image] * 3)
            if image.dtype != np.uint8:
                image = (image >> 8).astype(np.uint8)
            placed.append(place(item.path, image, item.product.meta, item.settings))
        except Exception as exc:
            outcome.problems.append(failure_line(item.path, exc))
    if not placed:
        outcome.problems.append(f"{name}: no frame of this set could be placed; no panorama written")
        return outcome
    result = panorama(placed, scale, refine_pointing)
    description = {
        "kind": "panorama",
        "projection": result.grid.to_dict(),
        "frames": result.frames,
        "source_products": [str(Path(p.path).resolve()) for p in frames],
        "software": f"farside {farside_version()}",
        "settings": frames[0].settings.to_dict(),
        "scale": scale,
    }
    payload = encode_png(result.image, {"farside:provenance": json.dumps(description, sort_keys=True)})
    target = Path(out_dir) / f"{name}.png"
    outcome.output = str(write_outputs(target, payload, description))
    return outcome
