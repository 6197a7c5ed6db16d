"""Panoramas against a known world: frames rendered with a pinhole model at a real two-tier sweep's
pointing, placed by their pointing and blended, must show the world where the panorama's grid says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
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
from farside.synthetic import render_view, tile_offsets, world_seen_by

# The world: a photograph laid over azimuth -45..45 and elevation -45..0 degrees.
WORLD_GRID = Equirectangular(90.0 / 1536, -45.0, 0.0, 1536, 768)
# A PCAM at a quarter of its resolution: the same 19.7 x 14.5 degree field.
CAMERA = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)
SWEEP = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-25.8, -12.9, 0.0, 12.9, 25.8)]


@pytest.fixture(scope="module")
def world() -> np.ndarray:
    # Kodak 13 (a mountain stream) has texture everywhere, so every overlap has features to match.
    return cv2.resize(kodak(13), (WORLD_GRID.width, WORLD_GRID.height), interpolation=cv2.INTER_CUBIC)


def _frames(world: np.ndarray) -> list[PlacedFrame]:
    frames = []
    for i, (yaw, pitch) in enumerate(SWEEP):
        view = render_view(world, WORLD_GRID, CAMERA, orientation(yaw, pitch))
        frames.append(PlacedFrame(f"frame{i}", view, CAMERA, (yaw, pitch, 0.0)))
    return frames


def _world_seen_by(grid: Equirectangular, world: np.ndarray) -> np.ndarray:
    return world_seen_by(world, WORLD_GRID, grid)


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
    shifts = tile_offsets(rgb, expected, covered)
    assert len(shifts) > 50 and max(shifts) < 1.0 and float(np.median(shifts)) < 0.25
    difference = np.abs(rgb.astype(float) - expected.astype(float))[covered]
    assert float(difference.mean()) < 5.0  # two resamplings of a textured world, and no step at the seams
    assert [f["in_panorama"] for f in result.frames] == [True] * len(SWEEP)


@pytest.mark.parametrize("seed", [1, 2])
def test_label_pointing_errors_of_1_5_degrees_are_recovered(world, seed):
    rng = np.random.default_rng(seed)
    errors = rng.uniform(-1.5, 1.5, (len(SWEEP), 2))
    errors -= errors.mean(
        axis=0
    )  # a turn of the whole set is invisible in the frames: the labels' mean holds
    frames = [replace(f, pointing=(f.pointing[0] + e[0], f.pointing[1] + e[1], 0.0))
              for f, e in zip(_frames(world), errors, strict=True)]  # fmt: skip
    assert np.abs(errors).max() > 1.0

    def misalignment(result) -> list[float]:
        covered = result.image[:, :, 3] > 0
        return tile_offsets(result.image[:, :, :3], _world_seen_by(result.grid, world), covered)

    placed_by_labels = misalignment(panorama(frames, refine_pointing=False))
    assert float(np.percentile(placed_by_labels, 90)) > 5.0  # the errors are plain to see without refinement
    result = panorama(frames)
    shifts = misalignment(result)
    assert len(shifts) > 50 and max(shifts) < 1.0 and float(np.median(shifts)) < 0.35
    assert all(f["refinement"].startswith("refined from") for f in result.frames)
    for frame, truth in zip(result.frames, SWEEP, strict=True):
        assert frame["refined_pointing"][:2] == pytest.approx(list(truth), abs=0.03)


def _brightness_steps(result, world: np.ndarray) -> float:
    """Spread (standard deviation of the log) of the panorama's brightness against the world's, over
    32-pixel tiles: frames that differ in exposure leave steps that widen it."""
    covered = result.image[:, :, 3] > 0
    made = cv2.cvtColor(result.image[:, :, :3], cv2.COLOR_RGB2GRAY).astype(float)
    truth = cv2.cvtColor(_world_seen_by(result.grid, world), cv2.COLOR_RGB2GRAY).astype(float)
    ratios = []
    for y in range(0, made.shape[0] - 32, 32):
        for x in range(0, made.shape[1] - 32, 32):
            cell = (slice(y, y + 32), slice(x, x + 32))
            if covered[cell].all() and 30 < truth[cell].mean() < 200:
                ratios.append(np.log(made[cell].mean() / truth[cell].mean()))
    return float(np.std(ratios))


def test_exposure_differences_leave_no_step(world):
    from farside.scenes.panorama import blend, grid_for

    gains = np.random.default_rng(0).uniform(0.8, 1.2, len(SWEEP))  # +-20 % between frames
    frames = [replace(f, image=np.clip(f.image * g, 0, 255).astype(np.uint8))
              for f, g in zip(_frames(world), gains, strict=True)]  # fmt: skip
    grid = grid_for(frames)
    plain = _brightness_steps(blend(frames, grid, photometry=False), world)
    compensated = _brightness_steps(blend(frames, grid), world)
    # Measured: 0.109 without compensation, 0.0076 with it (0.0018 for frames of equal exposure).
    assert plain > 0.09 and compensated < 0.02


def test_a_panorama_at_a_quarter_scale_keeps_the_geometry(world):
    result = panorama(_frames(world), scale=0.25)
    full = panorama(_frames(world)[:1])
    assert result.grid.degrees_per_pixel == pytest.approx(4 * full.grid.degrees_per_pixel)
    covered = result.image[:, :, 3] > 0
    expected = _world_seen_by(result.grid, cv2.GaussianBlur(world, (0, 0), 2.0))
    blurred = cv2.GaussianBlur(result.image[:, :, :3], (0, 0), 0.5)
    assert float(np.abs(blurred.astype(float) - expected.astype(float))[covered].mean()) < 12.0


def _meta(camera="L", sequence="0067", yaw=0.0, pitch=-12.0, longitude=177.588, latitude=-45.457):
    names = dict(mission="CE4", instrument="PCAM", camera=camera, mode="C", sequence_id=sequence)
    return SimpleNamespace(**names, mast_yaw=yaw, mast_pitch=pitch, longitude=longitude, latitude=latitude)


def test_frames_group_into_one_set_per_eye_sequence_site_and_sweep():
    metres = np.degrees(1 / 1_737_400.0)  # a metre north, in degrees of latitude
    meta = [
        _meta("L", "0067", 0.0), _meta("R", "0067", 0.0), _meta("L", "0067", 12.9),  # 0, 2: a sweep
        _meta("L", "0068", 0.0),  # another sequence
        _meta("L", "0067", 25.8, latitude=-45.457 + 0.5 * metres),  # half a metre: still the same site
        _meta("L", "0067", 38.7, latitude=-45.457 + 5 * metres),  # the rover moved 5 m: a new site
        _meta("L", "0067", 51.6, latitude=-45.457 + 5.2 * metres),  # ...where the sweep goes on
        _meta("L", "0067", 38.9, latitude=-45.457 + 5.2 * metres),  # the mast is back at 38.7: a new sweep
        _meta("R", "0067", None, None),  # no pointing: grouped, then reported when placed
    ]  # fmt: skip
    assert group_sets(meta) == [[0, 2, 4], [1, 8], [3], [5, 6], [7]]


def test_a_frame_without_pointing_is_said():
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


def test_the_panorama_command_from_products_lines_up_with_the_world(world, tmp_path):
    import json
    import subprocess
    import sys

    from PIL import Image

    from farside.synthetic import write_sweep

    rng = np.random.default_rng(5)
    errors = rng.uniform(-1.5, 1.5, (len(SWEEP), 2))
    errors -= errors.mean(axis=0)
    labels = write_sweep(world, WORLD_GRID, CAMERA, SWEEP, tmp_path / "sweep", errors, pixel_size_um=7.4 * 4)
    # A corrupt frame and one whose label has no pointing: each said in one line, the set still built.
    from farside.synthetic import sequence_start, simulate_raw, write_product

    pixels = simulate_raw(world, (432, 588))
    broken = write_product("ce4-pcam-c", None, tmp_path / "sweep", pixels=pixels, start=sequence_start(40),
                           mission_area=[])  # fmt: skip
    truncated = write_product("ce4-pcam-c", None, tmp_path / "sweep", pixels=pixels, start=sequence_start(41))
    data = truncated.with_name(truncated.name[:-1])
    data.write_bytes(data.read_bytes()[:1000])
    out = tmp_path / "pano"
    command = [sys.executable, "-m", "farside", "panorama", str(tmp_path / "sweep"), "-o", str(out)]
    listed = subprocess.run([*command, "--list"], capture_output=True, text=True)
    assert f"{labels[0].name[:-1]}_pano: {len(SWEEP) + 1} frames" in listed.stdout  # the truncated one is out
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        truncated.name in result.stderr
        and "no mast pointing" in result.stderr
        and broken.name in result.stderr
    )
    image_path = out / f"{labels[0].name[:-1]}_pano.png"
    assert result.stdout.strip() == str(image_path)
    side = json.loads((out / f"{image_path.name}.json").read_text())
    projection = side["projection"]
    keys = ("degrees_per_pixel", "azimuth_left_deg", "elevation_top_deg", "width", "height")
    grid = Equirectangular(*(projection[k] for k in keys))
    assert len(side["frames"]) == len(SWEEP)
    labelled = np.array([f["label_pointing"][:2] for f in side["frames"]])
    assert labelled == pytest.approx(np.array(SWEEP) + errors, abs=1e-5)
    refined = np.array([f["refined_pointing"][:2] for f in side["frames"]])
    assert refined == pytest.approx(np.array(SWEEP), abs=0.05)
    with Image.open(image_path) as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    covered = rgba[:, :, 3] > 0
    expected = _world_seen_by(grid, world)
    shifts = tile_offsets(rgba[:, :, :3], expected, covered)
    assert len(shifts) > 50 and float(np.median(shifts)) < 0.35 and float(np.percentile(shifts, 90)) < 1.0


def test_the_panorama_command_takes_a_catalogs_selection(world, tmp_path):
    import subprocess
    import sys

    from farside.synthetic import write_sweep

    labels = write_sweep(world, WORLD_GRID, CAMERA, SWEEP[:3], tmp_path / "sweep", pixel_size_um=7.4 * 4)
    db = tmp_path / "catalog.db"
    farside = [sys.executable, "-m", "farside"]
    assert subprocess.run([*farside, "index", str(tmp_path / "sweep"), "--db", str(db)]).returncode == 0
    selection = ["--db", str(db), "--instrument", "PCAM", "-o", str(tmp_path / "p"), "--list"]
    listed = subprocess.run([*farside, "panorama", *selection], capture_output=True, text=True)
    assert listed.returncode == 0 and f"{labels[0].name[:-1]}_pano: 3 frames" in listed.stdout
    nothing = subprocess.run(
        [*farside, "panorama", "-o", str(tmp_path / "p")], capture_output=True, text=True
    )
    assert nothing.returncode == 2 and "--db" in nothing.stderr


def test_a_panorama_blended_strip_by_strip_is_the_one_blended_whole(world):
    from farside.scenes.panorama import blend_strips, grid_for, photometry_of

    gains = np.random.default_rng(3).uniform(0.8, 1.2, len(SWEEP))
    frames = [replace(f, image=np.clip(f.image * g, 0, 255).astype(np.uint8))
              for f, g in zip(_frames(world), gains, strict=True)]  # fmt: skip
    grid = grid_for(frames)
    look = photometry_of(frames, grid)
    whole = np.concatenate(list(blend_strips(frames, grid, look, rows=grid.height)))
    strips = list(blend_strips(frames, grid, look, rows=64))
    assert len(strips) == -(-grid.height // 64) and all(len(s) == 64 for s in strips[:-1])
    # The same blend, to within a rounding: a level in a handful of pixels (measured: 2e-6 of them).
    difference = np.abs(np.concatenate(strips).astype(int) - whole.astype(int))
    assert difference.max() <= 1 and float(np.mean(difference > 0)) < 1e-4


def test_a_cylindrical_panorama_shows_the_world_where_its_grid_says(world):
    from farside.scenes.geometry import Cylindrical

    result = panorama(_frames(world), projection="cylindrical")
    grid = result.grid
    assert isinstance(grid, Cylindrical) and grid.to_dict()["type"] == "cylindrical"
    # Rows are even in tan(elevation): the sweep's 33 degrees of elevation below -4.6 take more rows than
    # in the equirectangular grid, whose rows are even in elevation.
    flat = panorama(_frames(world), refine_pointing=False).grid
    assert grid.width == flat.width and grid.height > flat.height
    covered = result.image[:, :, 3] > 0
    shifts = tile_offsets(result.image[:, :, :3], _world_seen_by(grid, world), covered)
    assert len(shifts) > 50 and max(shifts) < 1.0 and float(np.median(shifts)) < 0.25


def test_a_sweep_all_the_way_round_makes_a_full_circle():
    """Twelve frames 30 degrees apart: the grid is exactly 360 degrees wide, and the frame that straddles
    its left and right edges is drawn on both sides."""
    from farside.scenes.panorama import footprints

    world_grid = Equirectangular(360.0 / 2048, -180.0, 10.0, 2048, 384)
    world = cv2.resize(kodak(8), (2048, 384), interpolation=cv2.INTER_CUBIC)
    camera = Camera(width=320, height=240, focal_px=320 / 2 / np.tan(np.radians(20)))  # a 40 degree field
    frames = [PlacedFrame(f"f{i}", render_view(world, world_grid, camera, orientation(yaw, -20.0)), camera,
                          (yaw, -20.0, 0.0)) for i, yaw in enumerate(range(-165, 195, 30))]  # fmt: skip
    result = panorama(frames, refine_pointing=False)
    grid = result.grid
    assert grid.full_circle and grid.width * grid.degrees_per_pixel == pytest.approx(360.0)
    assert [len(footprints(f, grid)) for f in frames].count(2) >= 1
    covered = result.image[:, :, 3] > 0
    assert (
        covered[:, :8].any(axis=1).sum() > 0.8 * grid.height
        and covered[:, -8:].any(axis=1).sum() > 0.8 * grid.height
    )
    xs, ys = np.meshgrid(np.arange(grid.width), np.arange(grid.height))
    azimuth, elevation = grid.angles_of(xs, ys)
    x, y = world_grid.pixel_of((azimuth + 180.0) % 360.0 - 180.0, elevation)
    truth = cv2.remap(world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR)
    shifts = tile_offsets(result.image[:, :, :3], truth, covered)
    assert len(shifts) > 30 and max(shifts) < 1.0
    edges = np.zeros_like(covered)
    edges[:, :64], edges[:, -64:] = True, True
    at_edges = tile_offsets(result.image[:, :, :3], truth, covered & edges)
    assert at_edges and max(at_edges) < 1.0


def test_the_panorama_command_writes_16_bit_tiled_tiff_and_jpeg_in_either_projection(world, tmp_path):
    import json
    import subprocess
    import sys

    import tifffile
    from PIL import Image

    from farside.scenes.geometry import grid_from_dict
    from farside.synthetic import write_sweep

    labels = write_sweep(world, WORLD_GRID, CAMERA, SWEEP[5:8], tmp_path / "sweep", pixel_size_um=7.4 * 4)
    stem = f"{labels[0].name[:-1]}_pano"
    farside = [
        sys.executable,
        "-m",
        "farside",
        "panorama",
        str(tmp_path / "sweep"),
        "--projection",
        "cylindrical",
    ]
    for fmt, bits in (("png", 8), ("tiff", 16), ("jpeg", 8)):
        run = subprocess.run([*farside, "-o", str(tmp_path / fmt), "--format", fmt, "--bits", str(bits)],
                             capture_output=True, text=True)  # fmt: skip
        assert run.returncode == 0, run.stderr
    png, tif, jpg = (tmp_path / "png" / f"{stem}.png", tmp_path / "tiff" / f"{stem}.tif",
                     tmp_path / "jpeg" / f"{stem}.jpg")  # fmt: skip
    side = json.loads(Path(f"{tif}.json").read_text())
    grid = grid_from_dict(side["projection"])
    assert side["projection"]["type"] == "cylindrical" and "tan(" in side["projection"]["elevation_deg"]
    with tifffile.TiffFile(tif) as handle:
        page = handle.pages[0]
        assert page.is_tiled and page.dtype == np.uint16 and page.shape == (grid.height, grid.width, 4)
        deep = page.asarray()
    with Image.open(png) as im:
        shallow = np.asarray(im)
    # Refinement sees the 16-bit frames rounded to 8 bits a little differently from the 8-bit render, so the
    # two panoramas' grids may differ by a fraction of a pixel: each is held against the world on its own.
    shallow_grid = grid_from_dict(json.loads(Path(f"{png}.json").read_text())["projection"])
    covered, shallow_covered = deep[:, :, 3] == 65535, shallow[:, :, 3] == 255
    assert abs(int(covered.sum()) - int(shallow_covered.sum())) < 0.005 * shallow_covered.sum()
    assert len(np.unique(deep[:, :, 1][covered])) > 2000  # 8 bits could hold 256 (blending keeps 14)
    truth = _world_seen_by(grid, world)
    shifts = tile_offsets(np.rint(deep[:, :, :3] / 257.0).astype(np.uint8), truth, covered)
    assert len(shifts) > 10 and max(shifts) < 1.0
    # As close to the world as the 8-bit panorama is, to within a tenth of a level.
    deep_error = np.abs(deep[:, :, :3] / 257.0 - truth)[covered].mean()
    shallow_error = np.abs(shallow[:, :, :3] - _world_seen_by(shallow_grid, world).astype(float))[
        shallow_covered
    ]
    assert abs(float(deep_error) - float(shallow_error.mean())) < 0.1
    with Image.open(jpg) as im:
        assert im.mode == "RGB" and im.size == (shallow_grid.width, shallow_grid.height)
        photo = np.asarray(im)
    assert float(np.abs(photo.astype(float) - shallow[:, :, :3])[shallow_covered].mean()) < 3.0


def test_the_python_api_builds_one_panorama_per_sweep_in_a_folder(world, tmp_path):
    import json

    from PIL import Image

    import farside
    from farside.scenes.geometry import grid_from_dict
    from farside.synthetic import write_sweep

    write_sweep(world, WORLD_GRID, CAMERA, SWEEP[:3], tmp_path / "sweeps", pixel_size_um=7.4 * 4)
    # The mast comes back round and sweeps again: a second panorama.
    write_sweep(
        world, WORLD_GRID, CAMERA, SWEEP[:2], tmp_path / "sweeps", pixel_size_um=7.4 * 4, start_index=10
    )
    outcomes = farside.panorama(tmp_path / "sweeps", tmp_path / "out", scale=0.5)
    assert [len(o.frames) for o in outcomes] == [3, 2] and all(o.output and not o.problems for o in outcomes)
    for outcome in outcomes:
        grid = grid_from_dict(json.loads(Path(f"{outcome.output}.json").read_text())["projection"])
        with Image.open(outcome.output) as im:
            rgba = np.asarray(im)
        truth = _world_seen_by(grid, cv2.GaussianBlur(world, (0, 0), 1.0))
        shifts = tile_offsets(rgba[:, :, :3], truth, rgba[:, :, 3] > 0, tile=32)
        assert len(shifts) > 10 and max(shifts) < 1.0
