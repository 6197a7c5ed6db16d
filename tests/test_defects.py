"""Hot, dead and stuck pixels: found and repaired on frames recorded as real cameras deliver them (through
optics and with noise, farside.synthetic's sensor model), while real detail is left alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import kodak

from farside import defects, read
from farside.pipeline import linearize, settings_for
from farside.samples import sample_products
from farside.synthetic import KINDS, SensorModel, record, write_product

# Every bundled kind whose stored values are sensor samples, and the TCAM's RGB (repaired plane by plane
# when asked to): PCAM colour raw RGGB, PCAM -Q panchromatic, TCAM, LCAM, Chang'e-3 PCAM.
CAMERAS = ("ce4-pcam-c", "ce4-pcam-q", "ce4-tcam", "ce4-lcam", "ce3-pcam-2b")
SCENES = {"ce4-pcam-c": 5, "ce4-pcam-q": 8, "ce4-tcam": 23, "ce4-lcam": 13, "ce3-pcam-2b": 19}
THRESHOLD, SIGMA = 0.3, 8.0  # the default profile's hot_pixel_threshold and hot_pixel_sigma
MOST_REPAIRED = 1e-5  # 0.001 % of the samples


def _planes(model: SensorModel, stored: np.ndarray) -> list[np.ndarray]:
    """The stored frame as the pipeline hands it to the detector: fractions of full scale, linear light,
    one plane at a time."""
    frame = model.decode(stored).astype(np.float32)
    return [frame] if frame.ndim == 2 else [np.ascontiguousarray(frame[:, :, c]) for c in range(3)]


def _repair(model: SensorModel, stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    results = [defects.repair_defects(p, model.cfa, THRESHOLD, SIGMA) for p in _planes(model, stored)]
    if len(results) == 1:
        return results[0]
    return np.stack([r[0] for r in results], -1), np.stack([r[1] for r in results], -1)


def _glints(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A night scene of point highlights: stars and specular glints, each a single bright scene pixel of a
    near-white colour on a dark ground, and their positions."""
    rng = np.random.default_rng(seed)
    scene = np.full((height, width, 3), 6, np.uint8)
    count = height * width // 600
    rows, cols = rng.integers(4, height - 4, count), rng.integers(4, width - 4, count)
    brightness = rng.uniform(120, 255, count)[:, None] * rng.uniform(0.9, 1.0, (count, 3))
    scene[rows, cols] = np.round(brightness).astype(np.uint8)
    return scene, np.stack([rows, cols], axis=1)


def _highlights(model: SensorModel, clean: np.ndarray) -> np.ndarray:
    """Positions of the frame's bright small highlights: samples at least 0.15 of full scale above the
    median of their 7 x 7 surroundings and the brightest of their 3 x 3."""
    level = model.decode(clean).astype(np.float32)
    planes = [level] if level.ndim == 2 else [level[:, :, c] for c in range(3)]
    found = []
    for band, plane in enumerate(planes):
        median = _median7(plane)
        peak = cv2.dilate(plane, np.ones((3, 3), np.uint8))
        rows, cols = np.nonzero((plane >= peak) & (plane - median > 0.15))
        keep = (rows > 3) & (rows < plane.shape[0] - 4) & (cols > 3) & (cols < plane.shape[1] - 4)
        position = [rows[keep], cols[keep]] + ([np.full(int(keep.sum()), band)] if level.ndim == 3 else [])
        found.append(np.stack(position, axis=1))
    return np.concatenate(found)


def _median7(plane: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(plane, 3, mode="reflect"), (7, 7))
    return np.median(windows.reshape(*plane.shape, 49), axis=-1)


@pytest.mark.parametrize("kind", CAMERAS)
def test_clean_frames_are_left_alone(kind):
    model = SensorModel.for_kind(kind)
    clean = record(kodak(SCENES[kind])[:-2], model, seed=1).clean
    repaired, flags = _repair(model, clean)
    assert np.count_nonzero(flags) <= MOST_REPAIRED * flags.size, np.argwhere(flags)[:5]
    highlights = _highlights(model, clean)
    assert len(highlights) >= 10, "the scene should hold small highlights"
    assert not flags[tuple(highlights.T)].any()
    planes = _planes(model, clean)
    original = planes[0] if len(planes) == 1 else np.stack(planes, -1)
    assert np.array_equal(repaired[flags == 0], original[flags == 0])


@pytest.mark.parametrize("kind", CAMERAS)
def test_stars_and_glints_are_not_defects(kind):
    # Bright enough that the optics leave most of them far above the threshold, some clipped.
    model = SensorModel.for_kind(kind, exposure=3.0)
    scene, glints = _glints(512, 768, seed=2)
    clean = record(scene, model, seed=2).clean
    _, flags = _repair(model, clean)
    peak = model.decode(clean).max(axis=-1) if clean.ndim == 3 else model.decode(clean)
    assert np.count_nonzero(peak[tuple(glints.T)] > THRESHOLD + 0.1) > 0.5 * len(glints)
    assert np.count_nonzero(flags) == 0, np.argwhere(flags)[:5]


@pytest.mark.parametrize("kind", CAMERAS)
def test_planted_defects_found_and_repaired(kind):
    model = SensorModel.for_kind(kind, hot_pixels=20, dead_pixels=20, stuck_pixels=20)
    recording = record(kodak(SCENES[kind])[:-2], model, seed=3)
    repaired, flags = _repair(model, recording.raw)
    planted = {tuple(int(v) for v in p) for p in recording.defects}
    assert len(planted) == 60
    flagged = {tuple(int(v) for v in p) for p in np.argwhere(flags)}
    assert planted <= flagged, sorted(planted - flagged)[:5]
    assert len(flagged - planted) <= MOST_REPAIRED * flags.size
    for kind_of, positions, flag in (
        ("hot", recording.hot, defects.HOT),
        ("dead", recording.dead, defects.DEAD),
    ):
        assert np.all(flags[tuple(positions.T)] == flag), kind_of
    # Each repaired sample is back near what the sensor reads there without the defect (same noise).
    truth = model.decode(recording.clean)
    error = np.abs(repaired[tuple(recording.defects.T)] - truth[tuple(recording.defects.T)])
    assert np.median(error) < 0.03 and error.max() < 0.2, np.sort(error)[-3:]


def test_pipeline_counts_planted_defects(tmp_path):
    model = SensorModel.for_kind("ce4-pcam-c", hot_pixels=12, dead_pixels=12, stuck_pixels=12)
    recording = record(kodak(19), model, (512, 768), seed=4)
    label = write_product("ce4-pcam-c", None, tmp_path, pixels=recording.raw)
    product = read(label)
    applied = linearize(product, settings_for(product)).applied
    # A stuck pixel is repaired as hot where it reads above the scene, as dead where below.
    stuck = tuple(recording.stuck.T)
    above = int(np.count_nonzero(recording.raw[stuck] > recording.clean[stuck]))
    assert (applied["hot_pixels"], applied["dead_pixels"]) == (12 + above, 12 + 12 - above)


@pytest.mark.parametrize("path", sample_products(), ids=lambda p: p.name.split("_")[2])
def test_bundled_samples_need_no_repairs(path):
    product = read(path)
    linear = linearize(product, settings_for(product, overrides={"sensor.hot_pixels": True}))
    repaired = linear.applied["hot_pixels"] + linear.applied["dead_pixels"]
    assert repaired <= MOST_REPAIRED * linear.frame.size, linear.applied


def test_kinds_take_camera_facts_from_profiles():
    from farside.profiles import load_profile

    for name, kind in KINDS.items():
        sensor = load_profile(kind.profile).values["sensor"]
        assert kind.bit_depth == sensor["bit_depth"], name
        assert kind.black_level == sensor["black_level"], name
        assert (kind.cfa or "none") == (sensor["cfa"] if len(kind.shape) == 2 else "none"), name
    assert SensorModel.for_kind("ce4-pcam-c").cfa == "RGGB"
    assert SensorModel.for_kind("ce4-pcam-q").cfa is None


def test_noise_model_follows_the_signal():
    model = SensorModel.for_kind("ce4-pcam-q", full_well=5000.0)
    ramp = np.repeat(np.linspace(10, 245, 1024).astype(np.uint8)[None, :], 768, axis=0)
    flat = np.repeat(ramp[:, :, None], 3, axis=2)
    frame = model.decode(record(flat, model, seed=5).clean).astype(np.float32)
    read_variance, shot = defects.noise_model(frame)
    assert shot == pytest.approx(1 / model.full_well, rel=0.3)
    assert read_variance < 1e-5


def test_lone_sample_is_a_defect_the_same_detail_after_optics_is_not():
    # A frame with single-sample detail (no optics) is what --no-hot-pixels is for: the detector cannot
    # tell a lone bright sample from a hot pixel there, and says so by flagging it.
    frame = np.full((16, 16), 0.1, np.float32)
    frame[8, 8] = 0.9
    assert defects.repair_defects(frame, None)[1][8, 8] == defects.HOT
    blurred = cv2.GaussianBlur(frame, (0, 0), 0.7)
    assert not defects.repair_defects(blurred * (0.9 / blurred.max()), None)[1].any()
