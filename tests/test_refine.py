"""The parts of rotation refinement, each against an independent expectation: the exact derivatives against
finite differences, the adjustment against SciPy's least squares, tracks against the pointing
that rendered the frames."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.optimize import least_squares

from farside.scenes.geometry import Camera, Equirectangular, directions, orientation, project
from farside.scenes.refine import (
    _adjust,
    _cauchy,
    _huber,
    _pair,
    _Problem,
    _rotations_and_derivatives,
    _seen_by,
    _spread,
    _working,
)
from farside.synthetic import render_view

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def _central_differences(function, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    columns = []
    for k in range(len(x)):
        delta = np.zeros_like(x)
        delta[k] = step
        columns.append((function(x + delta) - function(x - delta)) / (2 * step))
    return np.stack(columns, axis=-1)


def _unit(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_rotations_and_their_derivatives_are_those_of_orientation():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-80, 80, (5, 3))
    rotations, derivatives = _rotations_and_derivatives(angles)
    for angle, rotation, derivative in zip(angles, rotations, derivatives, strict=True):
        assert np.allclose(rotation, orientation(*angle), atol=1e-14)
        numeric = _central_differences(lambda a: orientation(*a).ravel(), angle)  # per degree
        assert np.allclose(derivative.reshape(3, 9).T, numeric, atol=1e-9)


def test_normal_equations_are_those_of_the_jacobian():
    rng = np.random.default_rng(1)
    pointings = [tuple(p) for p in rng.uniform(-40, 40, (4, 3))]
    pairs = [(0, 1, _unit(rng, 6), _unit(rng, 6)), (1, 3, _unit(rng, 4), _unit(rng, 4)),
             (0, 2, _unit(rng, 5), _unit(rng, 5)), (0, 1, _unit(rng, 3), _unit(rng, 3))]  # fmt: skip
    problem = _Problem(pointings, pairs, 1700.0, np.array([1.5, 1.5, 60.0]))
    params = rng.normal(size=12)
    jacobian = _central_differences(problem.residuals, params)
    residuals = problem.residuals(params)
    weights = rng.uniform(0.1, 1.0, len(residuals))
    normal, gradient = problem.normal_equations(params, residuals, weights)
    expected = jacobian.T @ (jacobian * weights[:, None])
    assert np.allclose(normal, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    assert np.allclose(gradient, jacobian.T @ (weights * residuals), rtol=1e-6, atol=1e-3)


# As refinement uses them: the Cauchy loss on matches of which some are false, then the Huber loss on those
# that the first solution explains (a few pixels off at most).
@pytest.mark.parametrize(
    ("loss", "name", "scale", "false_px"), [(_cauchy, "cauchy", 3.0, None), (_huber, "huber", 1.0, 2.0)]
)
def test_the_adjustment_finds_the_minimum_scipy_finds(loss, name, scale, false_px):
    rng = np.random.default_rng(2)
    truth = [(-13.0, -12.0, 0.0), (0.0, -12.0, 0.0), (13.0, -12.0, 0.0), (0.0, -24.0, 0.0)]
    labels = [(a + da, e + de, 0.0) for (a, e, _), (da, de) in zip(truth, rng.uniform(-1.5, 1.5, (4, 2)),
                                                                    strict=True)]  # fmt: skip
    focal = 1690.0
    pairs = []
    for i, j in ((0, 1), (1, 2), (1, 3), (0, 3), (2, 3)):
        world = _unit(rng, 60)
        a = world @ orientation(*truth[i])
        b = world @ orientation(*truth[j])
        b += rng.normal(scale=0.3 / focal, size=b.shape)  # a third of a pixel of noise
        # A tenth of the matches false: anywhere, or a little off.
        b[:6] = _unit(rng, 6) if false_px is None else b[:6] + _unit(rng, 6) * false_px / focal
        pairs.append((i, j, a, b / np.linalg.norm(b, axis=1, keepdims=True)))
    problem = _Problem(labels, pairs, focal, math.radians(1.0) * focal * np.array([0.05, 0.05, 2.0]))
    found = _adjust(problem, np.zeros(12), loss, scale)
    scipy = least_squares(problem.residuals, np.zeros(12), loss=name, f_scale=scale, x_scale=0.01,
                          ftol=1e-14, xtol=1e-14, gtol=1e-14)  # fmt: skip
    assert np.abs(found - scipy.x).max() < 1e-4  # degrees: a few thousandths of a pixel
    # The frames' relative pointing is recovered (the whole set's turn is the prior's to fix).
    corrected = np.array(labels) + found.reshape(-1, 3)
    relative = (corrected - corrected[1]) - (np.array(truth) - np.array(truth[1]))
    assert np.abs(relative[:, :2]).max() < 0.01


def test_tracks_land_where_the_true_pointing_puts_them():
    # Two views of a Kodak world, 12.9 degrees apart, at half a PCAM's resolution, tracked on copies scaled
    # to 0.4 of the frames, from label pointing off by about a degree: each track in the second frame must
    # lie where the true pointing maps its corner in the first. Getting the half-pixel convention wrong
    # under the scaling would move them all by a fraction of a pixel; a shift left by the labels' error
    # would leave them tens of pixels off.
    scene = cv2.imread(str(KODAK / "kodim13.png"))[:, :, ::-1]
    grid = Equirectangular(90.0 / 1536, -45.0, 0.0, 1536, 768)
    world = cv2.resize(scene, (grid.width, grid.height), interpolation=cv2.INTER_CUBIC)
    camera = Camera(width=1176, height=864, focal_px=50 / 7.4e-3 / 2)
    truth = [orientation(-6.45, -20.0), orientation(6.45, -20.0)]
    labels = [orientation(-5.25, -20.8), orientation(6.0, -19.6)]
    views = [render_view(world, grid, camera, rotation) for rotation in truth]
    copies = [_working(view, working_pixels=0.16 * 1176 * 864) for view in views]
    first, second, _ = _pair((0, 1), copies, [camera, camera], labels)
    assert len(first) > 100
    rays = camera.rays(first) @ truth[0].T @ truth[1]
    expected = np.column_stack([camera.centre[0] + camera.focal_px * rays[:, 0] / rays[:, 2],
                                camera.centre[1] + camera.focal_px * rays[:, 1] / rays[:, 2]])  # fmt: skip
    miss = second - expected
    assert np.median(np.linalg.norm(miss, axis=1)) < 0.12
    assert np.abs(miss.mean(axis=0)).max() < 0.04


def test_matching_looks_only_where_the_other_frame_can_see():
    camera = Camera(width=588, height=432, focal_px=1689.2)
    here, there = orientation(0.0, -12.0), orientation(12.9, -12.0)
    # Directions in the world a little inside, just outside and far outside the other frame's right edge.
    edge = math.degrees(math.atan(294 / 1689.2))
    azimuths = np.array([12.9 + edge - 1.0, 12.9 + edge + 3.0, 12.9 + edge + 8.0])
    u = project(camera, there, azimuths, -12.0)[0]
    assert u[0] < 588 < u[1]
    rays = directions(azimuths, -12.0) @ here  # the same directions in this camera's frame
    assert _seen_by(rays, here, there, camera, 4.0).tolist() == [True, True, False]


def test_matches_kept_are_spread_over_the_overlap():
    rng = np.random.default_rng(4)
    # Most matches crowd one corner; a few lie everywhere else.
    points = np.concatenate([rng.uniform(0, 50, (900, 2)), rng.uniform(0, 500, (100, 2))])
    quality = rng.uniform(0, 1, len(points))
    kept = _spread(points, quality, 100)
    assert len(kept) == 100 and len(set(kept.tolist())) == 100
    assert np.array_equal(kept, _spread(points, quality, 100))
    # Every cell of the 10 x 10 grid that has a match keeps one, its best.
    cells = np.minimum((points - points.min(axis=0)) / np.ptp(points, axis=0) * 10, 9).astype(int)
    cell = cells[:, 1] * 10 + cells[:, 0]
    for c in np.unique(cell):
        members = np.flatnonzero(cell == c)
        assert members[np.argmin(quality[members])] in kept
    assert np.array_equal(_spread(points[:50], quality[:50], 100), np.arange(50))
