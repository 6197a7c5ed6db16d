"""The camera model of scenes: profiles' optics, mast pointing, pixels <-> directions."""

from __future__ import annotations

import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from farside.errors import FarsideError, SettingsError
from farside.profiles import load_profile
from farside.scenes.geometry import (
    Camera,
    Equirectangular,
    angles,
    camera_model,
    directions,
    mast_pointing,
    orientation,
    pixel_directions,
    project,
)
from farside.settings import Settings


def _settings(profile: str, **overrides) -> Settings:
    return Settings.from_profile(
        load_profile(profile, overrides={f"optics.{k}": v for k, v in overrides.items()})
    )


def _meta(**fields):
    base = dict(focal_length_mm=None, pixel_size_um=None, principal_point=None, principal_point_unit=None,
                mast_yaw=None, mast_pitch=None, mast_roll=None)  # fmt: skip
    return SimpleNamespace(**{**base, **fields})


def test_pcam_profile_gives_the_published_field_of_view():
    camera = camera_model(_settings("ce4-pcam-colour"), _meta(), (1728, 2352))
    horizontal, vertical = camera.field_of_view()
    # Chang'e-3 PCAM paper: 19.7 x 14.5 degrees; about 0.0085 degrees per pixel.
    assert horizontal == pytest.approx(19.7, abs=0.1) and vertical == pytest.approx(14.5, abs=0.1)
    assert math.degrees(1 / camera.focal_px) == pytest.approx(0.0085, abs=0.0001)


def test_the_labels_optics_win_and_a_missing_model_is_said():
    label = _meta(focal_length_mm=43.47, pixel_size_um=7.4, principal_point=(1000.0, 700.0),
                  principal_point_unit="pixel")  # fmt: skip
    tcam = camera_model(_settings("ce4-pcam-colour"), label, (1200, 1600))
    assert tcam.focal_px == pytest.approx(43.47 / 7.4e-3) and tcam.centre == (1000.0, 700.0)
    with pytest.raises(SettingsError, match=r"optics\.focal_length_mm"):
        camera_model(_settings("default"), _meta(), (100, 100))


def test_pixels_look_where_the_pinhole_model_says():
    camera = Camera(width=2000, height=1000, focal_px=3000.0)
    level = orientation(0.0, 0.0)
    # A pixel f*tan(5 deg) right of the centre and f*tan(4 deg) above it (hand-computed).
    u = 1000 + 3000 * math.tan(math.radians(5))
    az, el = pixel_directions(camera, level, u, 500.0)
    assert (float(az), float(el)) == pytest.approx((5.0, 0.0), abs=1e-9)
    az, el = pixel_directions(camera, level, 1000.0, 500 - 3000 * math.tan(math.radians(4)))
    assert (float(az), float(el)) == pytest.approx((0.0, 4.0), abs=1e-9)
    # The optical axis follows the pointing; straight up is elevation 90.
    assert [float(v) for v in pixel_directions(camera, orientation(-40.0, 25.0), 1000, 500)] == pytest.approx(
        [-40.0, 25.0]
    )
    assert float(pixel_directions(camera, orientation(0.0, 90.0), 1000, 500)[1]) == pytest.approx(90.0)
    # A positive roll turns the image's right side up: the right edge looks higher.
    _, right = pixel_directions(camera, orientation(0.0, 0.0, 10.0), 2000, 500)
    assert float(right) > 0


def test_projection_agrees_with_opencv_and_inverts_pixel_directions():
    rng = np.random.default_rng(3)
    camera = Camera(width=2352, height=1728, focal_px=50 / 7.4e-3, cx=1170.5, cy=870.25)
    for _ in range(5):
        azimuth, elevation, roll = rng.uniform(-180, 180), rng.uniform(-60, 60), rng.uniform(-5, 5)
        rotation = orientation(azimuth, elevation, roll)
        u = rng.uniform(0, camera.width, 200)
        v = rng.uniform(0, camera.height, 200)
        az, el = pixel_directions(camera, rotation, u, v)
        back_u, back_v, ahead = project(camera, rotation, az, el)
        assert ahead.all() and np.allclose(back_u, u, atol=1e-6) and np.allclose(back_v, v, atol=1e-6)
        # OpenCV's projection of the same world points (camera_from_world = rotation transposed).
        world = directions(az, el)  # checked against the formula in test_directions_are_unit_vectors
        rvec, _ = cv2.Rodrigues(rotation.T)
        points, _ = cv2.projectPoints(world * 100.0, rvec, np.zeros(3), camera.matrix(), None)
        assert np.allclose(points[:, 0, 0], u, atol=1e-4) and np.allclose(points[:, 0, 1], v, atol=1e-4)
    behind = project(camera, orientation(0.0, 0.0), 180.0, 0.0)[2]
    assert not bool(behind)


def test_mast_angles_follow_the_profiles_sign_conventions():
    meta = _meta(mast_yaw=12.9, mast_pitch=-23.9)
    assert mast_pointing(meta, _settings("ce4-pcam-colour")) == (12.9, -23.9, 0.0)
    flipped = _settings("ce4-pcam-colour", yaw_sign=-1, pitch_sign=-1)
    assert mast_pointing(meta, flipped) == (-12.9, 23.9, 0.0)
    assert mast_pointing(_meta(mast_yaw=1.0), flipped) is None
    with pytest.raises(FarsideError, match="yaw_sign"):
        _settings("ce4-pcam-colour", yaw_sign=2)


def test_equirectangular_grid_follows_the_stated_formula():
    grid = Equirectangular(0.25, -30.0, 10.0, 400, 200)
    x, y = np.meshgrid(np.arange(400), np.arange(200))
    az, el = grid.angles_of(x, y)
    assert np.allclose(az, -30.0 + (x + 0.5) * 0.25) and np.allclose(el, 10.0 - (y + 0.5) * 0.25)
    back_x, back_y = grid.pixel_of(az, el)
    assert np.allclose(back_x, x) and np.allclose(back_y, y)
    assert grid.to_dict()["type"] == "equirectangular"


def test_directions_are_unit_vectors_in_a_right_handed_frame():
    east, north, up = directions(90.0, 0.0), directions(0.0, 0.0), directions(0.0, 90.0)
    assert np.allclose([east, north, up], np.eye(3), atol=1e-12)
    assert np.allclose(np.cross(east, north), up)
    assert np.linalg.det(orientation(33.0, -12.0, 4.0)) == pytest.approx(1.0)  # a rotation, not a reflection
    az, el = angles(directions(-123.0, 41.0))
    assert (float(az), float(el)) == pytest.approx((-123.0, 41.0))
