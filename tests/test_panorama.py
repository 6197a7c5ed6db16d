"""Panoramas against a known world: frames rendered with a pinhole model at a real two-tier sweep's
pointing, placed by their pointing and blended, must show the world where the panorama's grid says."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from conftest import kodak

from farside.errors import FarsideError
from farside.profiles import load_profile
from farside.scenes.geometry import Camera, Equirectangular, orientation
from farside.scenes.panorama import PlacedFrame, group_sets, panorama, place
from farside.settings import Settings
from farside.synthetic import render_view

# The world: a photograph laid over azimuth -45..45 and elevation -45..0 degrees.
WORLD_GRID = Equirectangular(90.0 / 1536, -45.0, 0.0, 1536, 768)
# A PCAM at a quarter of its resolution: the same 19.7 x 14.5 degree field.
CAMERA = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)
SWEEP = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-25.8, -12.9, 0.0, 12.9, 25.8)]


@pytest.fixture(scope="module")
def world() -> np.ndarray:
    return cv2.resize(kodak(23), (WORLD_GRID.width, WORLD_GRID.height), interpolation=cv2.INTER_CUBIC)


def _frames(world: np.ndarray) -> list[PlacedFrame]:
    frames = []
    for i, (yaw, pitch) in enumerate(SWEEP):
        view = render_view(world, WORLD_GRID, CAMERA, orientation(yaw, pitch))
        frames.append(PlacedFrame(f"frame{i}", view, CAMERA, (yaw, pitch, 0.0)))
    return frames


def _world_seen_by(grid: Equirectangular, world: np.ndarray) -> np.ndarray:
    """The world at the direction the panorama's grid gives each of its pixels."""
    xs, ys = np.meshgrid(np.arange(grid.width), np.arange(grid.height))
    azimuth, elevation = grid.angles_of(xs, ys)
    x, y = WORLD_GRID.pixel_of(azimuth, elevation)
    return cv2.remap(world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR)


def _tile_shifts(a: np.ndarray, b: np.ndarray, covered: np.ndarray, tile: int = 64) -> list[float]:
    """Phase-correlation shift (pixels) between a and b in every fully covered tile with some texture."""
    grey_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((tile, tile), cv2.CV_32F)
    shifts = []
    for y in range(0, a.shape[0] - tile, tile):
        for x in range(0, a.shape[1] - tile, tile):
            if not covered[y : y + tile, x : x + tile].all() or grey_b[y : y + tile, x : x + tile].std() < 8:
                continue
            cell = (slice(y, y + tile), slice(x, x + tile))
            (dx, dy), _ = cv2.phaseCorrelate(grey_a[cell], grey_b[cell], window)
            shifts.append(float(np.hypot(dx, dy)))
    return shifts


def test_frames_placed_by_their_pointing_show_the_world_where_the_grid_says(world):
    result = panorama(_frames(world))
    grid = result.grid
    # The grid holds the whole sweep at the frames' resolution.
    assert grid.degrees_per_pixel == pytest.approx(np.degrees(1 / CAMERA.focal_px))
    assert (
        grid.azimuth_left_deg < -25.8 - 9.8
        and grid.azimuth_left_deg + grid.width * grid.degrees_per_pixel > 35
    )
    rgb, alpha = result.image[:, :, :3], result.image[:, :, 3]
    expected = _world_seen_by(grid, world)
    covered = alpha > 0
    assert covered.mean() > 0.8
    shifts = _tile_shifts(rgb, expected, covered)
    assert len(shifts) > 50 and max(shifts) < 1.0 and float(np.median(shifts)) < 0.25
    difference = np.abs(rgb.astype(float) - expected.astype(float))[covered]
    assert float(difference.mean()) < 3.0  # blending over seams adds no visible step
    assert [f["in_panorama"] for f in result.frames] == [True] * len(SWEEP)


def test_a_panorama_at_a_quarter_scale_keeps_the_geometry(world):
    result = panorama(_frames(world), scale=0.25)
    full = panorama(_frames(world)[:1])
    assert result.grid.degrees_per_pixel == pytest.approx(4 * full.grid.degrees_per_pixel)
    covered = result.image[:, :, 3] > 0
    expected = _world_seen_by(result.grid, cv2.GaussianBlur(world, (0, 0), 2.0))
    blurred = cv2.GaussianBlur(result.image[:, :, :3], (0, 0), 0.5)
    assert float(np.abs(blurred.astype(float) - expected.astype(float))[covered].mean()) < 12.0


def test_frames_group_into_sets_and_a_frame_without_pointing_is_said():
    meta = [SimpleNamespace(mission="CE4", instrument="PCAM", camera=c, mode="C", sequence_id=s)
            for c, s in (("L", "0067"), ("R", "0067"), ("L", "0067"), ("L", "0068"))]  # fmt: skip
    assert list(group_sets(meta).values()) == [[0, 2], [1], [3]]
    settings = Settings.from_profile(load_profile("ce4-pcam-colour"))
    image = np.zeros((432, 588, 3), np.uint8)
    fields = ("mast_yaw", "mast_pitch", "mast_roll", "focal_length_mm", "pixel_size_um", "principal_point",
              "principal_point_unit")  # fmt: skip
    no_pointing = SimpleNamespace(**dict.fromkeys(fields))
    with pytest.raises(FarsideError, match="no mast pointing"):
        place("frame", image, no_pointing, settings)
    pointed = SimpleNamespace(**{**vars(no_pointing), "mast_yaw": 12.9, "mast_pitch": -23.9})
    frame = place("frame", image, pointed, settings)
    assert frame.pointing == (12.9, -23.9, 0.0) and frame.camera.focal_px == pytest.approx(50 / 7.4e-3)
