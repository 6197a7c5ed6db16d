"""Panoramas against a lunar world: products of a sweep rendered from :func:`farside.synthetic.lunar_world`
at real PCAM pointing, with label pointing errors and exposure differences, built by the panorama code and
checked against the world itself (alignment, seams, coverage, colour), never only for a file written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from farside.conversion import Request
from farside.scenes.geometry import Camera, Equirectangular, orientation, pixel_directions, project
from farside.scenes.panorama import build_set, find_sets
from farside.synthetic import (
    Region,
    lunar_layout,
    lunar_world,
    srgb_to_linear,
    tile_shifts,
    world_seen_by,
    write_sweep,
)

# A PCAM at full size: 2352 x 1728 pixels, 50 mm focal length, 7.4 um pixels (0.0085 degrees a pixel).
CAMERA = Camera(width=2352, height=1728, focal_px=50 / 7.4e-3)
DEGREES = float(np.degrees(1 / CAMERA.focal_px))
# The world at the camera's resolution: azimuth -30..30, elevation +1..-37 degrees (7075 x 4481).
WORLD_GRID = Equirectangular(DEGREES, -30.0, 1.0, int(60 / DEGREES), int(38 / DEGREES))
# Two tiers at real pointing, three yaw steps of 12.9 degrees each.
SWEEP = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-12.9, 0.0, 12.9)]
SEED = 4
# The smooth patch inside the upper middle frame, clear of every overlap, so that all frames can be refined.
LAYOUT = lunar_layout(WORLD_GRID, SEED, smooth=Region(0.0, -10.5, 5.0, 8.0))

_LINEAR = srgb_to_linear(np.arange(256) / 255.0)


def _grid_of(sidecar: dict) -> Equirectangular:
    projection = sidecar["projection"]
    keys = ("degrees_per_pixel", "azimuth_left_deg", "elevation_top_deg", "width", "height")
    return Equirectangular(*(projection[k] for k in keys))


def _footprints(grid: Equirectangular, camera: Camera, pointings) -> np.ndarray:
    """Which pixels of ``grid`` each frame covers at its true pointing (frames, height, width): every pixel
    centre projected into the camera, within the box its outline spans."""
    out = np.zeros((len(pointings), grid.height, grid.width), bool)
    edge = np.linspace(0.0, 1.0, 64)
    u = np.concatenate([edge, np.ones_like(edge), 1 - edge, np.zeros_like(edge)]) * camera.width
    v = np.concatenate([np.zeros_like(edge), edge, np.ones_like(edge), 1 - edge]) * camera.height
    for index, (yaw, pitch) in enumerate(pointings):
        rotation = orientation(yaw, pitch)
        x, y = grid.pixel_of(*pixel_directions(camera, rotation, u, v))
        x0, x1 = max(0, int(x.min()) - 2), min(grid.width, int(x.max()) + 3)
        y0, y1 = max(0, int(y.min()) - 2), min(grid.height, int(y.max()) + 3)
        xs, ys = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
        fu, fv, ahead = project(camera, rotation, *grid.angles_of(xs, ys))
        inside = ahead & (fu >= 0) & (fu < camera.width) & (fv >= 0) & (fv < camera.height)
        out[index, y0:y1, x0:x1] = inside
    return out


def _build(tmp: Path, world, world_grid, camera, sweep, errors, gains, pixel_size_um: float = 7.4):
    labels = write_sweep(world, world_grid, camera, sweep, tmp / "sweep", errors, pixel_size_um, gains=gains)
    sets, problems = find_sets(labels, tmp / "pano", Request())
    assert problems == [] and len(sets) == 1
    assert all(item.product.image is None for item in sets[0])  # a release's sets hold no data mapped
    outcome = build_set(sets[0], tmp / "pano")
    assert outcome.problems == [] and outcome.output
    sidecar = json.loads(Path(f"{outcome.output}.json").read_text())
    with Image.open(outcome.output) as image:
        rgba = np.asarray(image)
    grid = _grid_of(sidecar)
    return SimpleNamespace(
        rgba=rgba,
        rgb=rgba[:, :, :3],
        covered=rgba[:, :, 3] > 0,
        grid=grid,
        frames=sidecar["frames"],
        truth=world_seen_by(world, world_grid, grid),
        footprints=_footprints(grid, camera, sweep),
    )


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """The six-frame sweep at full size, labels off by up to 1.5 degrees, exposures apart by up to 20 %."""
    world = lunar_world(WORLD_GRID, SEED, layout=LAYOUT)
    rng = np.random.default_rng(3)
    errors = rng.uniform(-1.5, 1.5, (len(SWEEP), 2))
    errors -= errors.mean(
        axis=0
    )  # a turn of the whole set is invisible in the frames: the labels' mean holds
    gains = rng.uniform(0.8, 1.2, len(SWEEP))
    built = _build(tmp_path_factory.mktemp("full"), world, WORLD_GRID, CAMERA, SWEEP, errors, gains)
    built.errors, built.gains = errors, gains
    return built


def test_every_frame_is_refined_from_its_overlaps(full_size):
    assert np.abs(full_size.errors).max() > 1.0  # the labels alone would misplace frames by 100+ pixels
    assert all(f["refinement"].startswith("refined from") for f in full_size.frames)
    labelled = np.array([f["label_pointing"][:2] for f in full_size.frames])
    assert labelled == pytest.approx(np.array(SWEEP) + full_size.errors, abs=1e-5)
    refined = np.array([f["refined_pointing"][:2] for f in full_size.frames])
    # The frames must agree with one another to a fraction of a pixel, which is what a seam shows; measured:
    # azimuths within 0.0004 degrees of the truth, elevations within 0.0002.
    error = refined - np.array(SWEEP)
    assert np.abs(error[:, 0]).max() < 0.3 * DEGREES
    assert np.ptp(error[:, 1]) < 0.3 * DEGREES


def _shifts(built, tile: int = 128):
    """Tile shifts of the panorama against the world, and which frame alone covers each tile (-1 where
    none or several do). Tiles of 128 pixels: at 64, phase correlation itself strays by up to 0.9 pixels
    on this ground even where frames are placed exactly."""
    corners, shifts = tile_shifts(built.rgb, built.truth, built.covered, tile=tile)
    reach = np.array([built.footprints[:, y : y + tile, x : x + tile].any(axis=(1, 2)) for x, y in corners])
    owner = np.where(reach.sum(axis=1) == 1, reach.argmax(axis=1), -1)
    return shifts, owner


def test_the_panorama_shows_the_world_where_its_grid_says_tile_by_tile(full_size):
    shifts, owner = _shifts(full_size)
    offsets = np.hypot(*shifts.T)
    # Measured: 922 tiles, the largest 0.63 pixels from where the world has them, the median 0.08 (with the
    # frames placed exactly, by exact labels and no refinement: 0.65 and 0.07).
    assert len(shifts) > 500
    assert offsets.max() < 1.0
    # The frames agree with one another: every tile, and each frame as a whole where it alone shows, near
    # the panorama's common shift; measured: 0.65 pixels at most, the frames within 0.02.
    common = np.median(shifts, axis=0)
    assert np.hypot(*(shifts - common).T).max() < 1.0
    for frame in range(len(SWEEP)):
        own = np.median(shifts[owner == frame], axis=0)
        assert np.hypot(*(own - common)) < 0.25, frame


def test_the_panorama_as_a_whole_sits_where_its_grid_says(full_size):
    shifts, _ = _shifts(full_size)
    # A tilt of the whole set shows in the frames only as a slight bend of the sweep's rows, so the
    # matches fix it loosely (by 0.004 degrees, half a pixel, with other working resolutions); the labels'
    # mean, zero here by construction, would be off by a few tenths of a degree on real labels. Measured: a
    # common shift of 0.04 pixels (0.01 with the frames placed exactly).
    assert np.hypot(*np.median(shifts, axis=0)) < 0.6


def _tile_brightness(built, tile: int = 32):
    """Mean linear brightness of the panorama and of the world in every fully covered tile, and how many
    frames' footprints (at the true pointing) reach into each: 1 inside a frame, 2 or more on a seam."""
    made = _LINEAR[built.rgb].mean(axis=2)
    truth = _LINEAR[built.truth].mean(axis=2)
    rows, cols = built.grid.height // tile, built.grid.width // tile

    def tiled(image):
        return image[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile)

    full = tiled(built.covered).all(axis=(1, 3)).ravel()
    feet = built.footprints[:, : rows * tile, : cols * tile].reshape(-1, rows, tile, cols, tile)
    frames = feet.any(axis=(2, 4)).reshape(len(feet), -1).T
    return (
        tiled(made).mean(axis=(1, 3)).ravel()[full],
        tiled(truth).mean(axis=(1, 3)).ravel()[full],
        frames[full],
    )


def test_exposure_differences_leave_no_step_at_the_seams(full_size):
    made, truth, frames = _tile_brightness(full_size)
    # One stretch maps the world's linear light to the panorama's: fit it, then look at what is left.
    fit = np.linalg.lstsq(np.column_stack([truth, np.ones_like(truth)]), made, rcond=None)[0]
    left = np.log(made / (fit[0] * truth + fit[1]))
    count = frames.sum(axis=1)
    inside, seams = count == 1, count >= 2
    per_frame = np.array([np.median(left[inside & frames[:, i]]) for i in range(len(SWEEP))])
    gains_apart = float(np.log(full_size.gains.max() / full_size.gains.min()))
    assert gains_apart > 0.2  # the frames as recorded differ by over 20 % in brightness
    # Measured (log brightness): frames' medians within 0.022 of one another (0.26 as recorded), seams' and
    # insides' medians 0.004 apart, spread over tiles 0.015 on seams and 0.018 inside frames.
    assert np.ptp(per_frame) < 0.05 and np.ptp(per_frame) < 0.2 * gains_apart
    assert abs(float(np.median(left[seams]) - np.median(left[inside]))) < 0.02
    assert float(np.std(left[seams])) < float(np.std(left[inside])) + 0.01
    assert float(np.std(left)) < 0.03


def _near_border(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Pixels within ``pixels`` of the mask's border, the edges of the grid included (the last row or
    column holds a frame's edge, whose placement may differ by a fraction of a pixel)."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel)
    shrunk = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grown > shrunk


def test_the_covered_area_is_where_the_frames_looked(full_size):
    union = full_size.footprints.any(axis=0)
    covered = full_size.covered
    # Measured: the alpha area 0.2 % smaller than the union; no pixel covered beyond 2 pixels outside it.
    assert abs(int(covered.sum()) - int(union.sum())) < 0.005 * union.sum()
    assert not (covered & ~union & ~_near_border(union, 3)).any()


def test_the_covered_area_has_no_holes(full_size):
    union = full_size.footprints.any(axis=0)
    differ = union ^ full_size.covered
    assert not (differ & ~_near_border(union, 3)).any()


def _hue(linear: np.ndarray) -> float:
    """Hue angle (degrees) of a linear RGB colour, from its opponent-colour coordinates: unchanged by a grey
    offset or a common gain, so a linked stretch leaves it as it was."""
    r, g, b = linear
    return float(np.degrees(np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b)) % 360)


def test_coloured_objects_keep_their_hue_and_the_regolith_stays_grey(full_size):
    made, truth = _LINEAR[full_size.rgb], _LINEAR[full_size.truth]
    for name, region in LAYOUT.objects.items():
        inside = region.mask(full_size.grid, 0.15) & full_size.covered
        assert inside.sum() > 5000, name
        turned = _hue(made[inside].mean(axis=0)) - _hue(truth[inside].mean(axis=0))
        # Measured (degrees): foil 0.3, panel 0.2, marker 1.3.
        assert abs((turned + 180) % 360 - 180) < 3.0, name
    objects = np.zeros_like(full_size.covered)
    for region in LAYOUT.objects.values():
        objects |= region.mask(full_size.grid, -0.3)
    regolith = made[full_size.covered & ~objects].mean(axis=0)
    # Grey-world balance over the whole set, the coloured objects included; measured: red 0.989 and blue
    # 1.005 of green.
    assert regolith[0] / regolith[1] == pytest.approx(1.0, abs=0.02)
    assert regolith[2] / regolith[1] == pytest.approx(1.0, abs=0.02)


# The low-texture patch, at a quarter of the resolution (the same 19.7 x 14.5 degree field): a frame whose
# overlaps with the others all fall on smooth regolith.
QUARTER = Camera(width=588, height=432, focal_px=CAMERA.focal_px / 4)
QUARTER_GRID = Equirectangular(4 * DEGREES, -30.0, 1.0, int(15 / DEGREES), int(9.5 / DEGREES))
LONE_SWEEP = [(-12.9, -12.0), (0.0, -12.0), (12.9, -12.0), (-12.9, -24.0), (0.0, -24.0)]
LONE = 2  # the upper right frame: it meets the upper middle frame and, at a corner, the lower middle one
# Smooth regolith over the whole of the lone frame's overlaps (azimuth 3 to 10.2, elevation -19.3 to -4.7),
# with a margin for the patch's soft edge.
LONE_LAYOUT = lunar_layout(QUARTER_GRID, SEED, smooth=Region(6.75, -11.75, 10.5, 18.0))


@pytest.fixture(scope="module")
def lone_frame(tmp_path_factory):
    world = lunar_world(QUARTER_GRID, SEED, layout=LONE_LAYOUT)
    errors = np.array([[0.8, -0.6], [-1.1, 0.4], [1.2, -0.9], [0.6, 1.0], [-0.3, -0.8]])
    refined = [i for i in range(len(LONE_SWEEP)) if i != LONE]
    errors[refined] -= errors[refined].mean(axis=0)  # the refined frames' labels average to the truth
    tmp = tmp_path_factory.mktemp("lone")
    built = _build(tmp, world, QUARTER_GRID, QUARTER, LONE_SWEEP, errors, None, pixel_size_um=7.4 * 4)
    built.world, built.errors = world, errors
    return built


def test_a_frame_with_featureless_overlaps_keeps_its_label_pointing(lone_frame):
    frames = lone_frame.frames
    assert frames[LONE]["refinement"].startswith("kept the label's pointing")
    assert frames[LONE]["refined_pointing"] == pytest.approx(frames[LONE]["label_pointing"], abs=1e-6)
    assert frames[LONE]["in_panorama"]
    others = [f for i, f in enumerate(frames) if i != LONE]
    assert all(f["refinement"].startswith("refined from") for f in others)
    truth = np.array([p for i, p in enumerate(LONE_SWEEP) if i != LONE])
    # Measured: within 0.005 degrees (a seventh of a pixel at this resolution).
    assert np.array([f["refined_pointing"][:2] for f in others]) == pytest.approx(truth, abs=0.03)


def test_the_lone_frame_is_drawn_where_its_label_says_and_the_rest_where_they_looked(lone_frame):
    built = lone_frame
    label = np.array(LONE_SWEEP[LONE]) + built.errors[LONE]
    # What the panorama must show where the lone frame alone is drawn: the world as that frame saw it (true
    # pointing), laid where its label puts it.
    xs, ys = np.meshgrid(np.arange(built.grid.width), np.arange(built.grid.height))
    azimuth, elevation = built.grid.angles_of(xs, ys)
    u, v, ahead = project(QUARTER, orientation(*label), azimuth, elevation)
    seen = pixel_directions(QUARTER, orientation(*LONE_SWEEP[LONE]), u, v)
    x, y = QUARTER_GRID.pixel_of(*seen)
    as_labelled = cv2.remap(built.world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR)
    drawn = ahead & (u >= 0) & (u < QUARTER.width) & (v >= 0) & (v < QUARTER.height)
    others = np.delete(built.footprints, LONE, axis=0).any(axis=0)
    alone = drawn & ~cv2.dilate(others.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    _, shifts = tile_shifts(built.rgb, as_labelled, built.covered & alone, tile=128)
    _, against_world = tile_shifts(built.rgb, built.truth, built.covered & alone, tile=128)
    # Measured: 5 tiles, within 0.26 pixels of the label's placement, 44 pixels from the truth's.
    assert len(shifts) >= 4
    assert np.hypot(*shifts.T).max() < 0.6
    assert np.hypot(*against_world.T).min() > 20
    # The refined frames, where the lone frame is not: in place to within a pixel; measured 0.29 at most.
    _, shifts = tile_shifts(built.rgb, built.truth, built.covered & others & ~drawn, tile=128)
    assert len(shifts) > 20 and np.hypot(*shifts.T).max() < 1.0


# The world itself.


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def test_the_world_is_the_same_for_a_seed_and_wraps_round_the_full_circle():
    grid = Equirectangular(0.1, -180.0, 5.0, 3600, 500)  # +5 to -45 degrees
    world = lunar_world(grid, seed=2)
    assert np.array_equal(world, lunar_world(grid, seed=2))
    assert not np.array_equal(world, lunar_world(grid, seed=3))
    sky = grid.angles_of(0, np.arange(grid.height))[1] > 0
    assert world[sky].max() == 0 and world[~sky][:, :, 1].mean() > 60
    # Across the seam at +-180 the ground changes no more than between any two neighbouring columns.
    ground = _grey(world[~sky])
    seam = np.abs(ground[:, 0] - ground[:, -1]).mean()
    neighbours = np.abs(np.diff(ground, axis=1)).mean()
    assert seam < 1.3 * neighbours  # measured: 0.99 times
    # The regolith is neutral grey: away from the coloured objects every pixel has R = G = B.
    layout = lunar_layout(grid, seed=2)
    objects = np.zeros((grid.height, grid.width), bool)
    for region in layout.objects.values():
        objects |= region.mask(grid, -0.2)
    assert np.array_equal(world[~objects][:, 0], world[~objects][:, 1])
    assert np.array_equal(world[~objects][:, 2], world[~objects][:, 1])


def test_the_ground_looks_finer_toward_the_horizon_and_the_smooth_patch_is_featureless():
    grid = Equirectangular(0.02, -20.0, 0.0, 2000, 2250)  # 40 x 45 degrees below the horizon
    smooth = Region(10.0, -20.0, 8.0, 10.0)
    layout = replace(lunar_layout(grid, seed=1, smooth=smooth), craters=(), rocks=())
    grey = _grey(lunar_world(grid, seed=1, layout=layout))
    elevation = grid.angles_of(0, np.arange(grid.height))[1]
    away = ~np.any([r.mask(grid, -1.0) for r in (*layout.objects.values(), smooth)], axis=0)

    def roughness(low: float, high: float) -> float:
        """Mean step between neighbouring pixels against the spread: larger where the texture is finer."""
        rows = (elevation > low) & (elevation < high)
        part, keep = grey[rows], away[rows]
        steps = np.abs(np.diff(part, axis=0))[keep[1:] & keep[:-1]].mean()
        return float(steps / part[keep].std())

    # Measured: 0.67 at 2-5 degrees below the horizon, 0.25 at 35-40.
    assert roughness(-5.0, -2.0) > 2.0 * roughness(-40.0, -35.0)
    inside, around = smooth.mask(grid, 1.0), smooth.mask(grid, -2.0) & ~smooth.mask(grid, -0.5)
    # Measured: the patch's spread 0.04 of the ground's around it.
    assert grey[inside].std() < 0.1 * grey[around].std()


def test_a_sweep_writes_gains_location_and_its_own_names(tmp_path):
    from farside.products.reader import read

    world = np.full((200, 400, 3), 118, np.uint8)
    grid = Equirectangular(0.1, -20.0, 0.0, 400, 200)
    camera = Camera(width=64, height=48, focal_px=120.0)
    pointing = [(-5.0, -10.0), (5.0, -10.0)]
    first = write_sweep(world, grid, camera, pointing, tmp_path, gains=[0.8, 1.2], location=(177.6, -45.4))
    second = write_sweep(world, grid, camera, pointing, tmp_path, start_index=2, sequence_id="0068",
                         camera_eye="R")  # fmt: skip
    assert len({p.name for p in first + second}) == 4
    assert "_0068_" in second[0].name and "PCAMR-C-006" in second[0].name
    products = [read(p) for p in first + second]
    assert products[0].meta.longitude == pytest.approx(177.6) and products[0].meta.latitude == -45.4
    assert products[2].meta.longitude == pytest.approx(177.588)
    # A uniform scene: the recorded brightness goes with the gain, in linear light.
    level = [float(p.image.mean()) for p in products[:2]]
    assert level[1] / level[0] == pytest.approx(1.5, rel=0.02)
    sets, problems = find_sets(first + second, tmp_path / "out", Request())
    assert problems == [] and [len(s) for s in sets] == [2, 2]
