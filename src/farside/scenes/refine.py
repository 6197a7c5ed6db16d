"""Refine the rotations of a sweep's frames from features matched in their overlaps.

Label pointing is only approximate (mast encoders, a rover that settled), so each frame's rotation gets a
small correction, found jointly for the whole set: a bundle adjustment of rotations (focal lengths fixed)
that makes the rays of every matched feature pair agree (Brown & Lowe 2007, "Automatic panoramic image
stitching using invariant features", section 4, with rotations only). Features are SIFT (Lowe 2004) matched
with the ratio test, kept only where the label pointing already roughly agrees. A weak prior keeps each
correction small and fixes what features cannot see: a rotation common to all frames (the set's mean
pointing stays the labels'). A frame with too few matches keeps its label pointing, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from farside.scenes.geometry import Camera, orientation

MIN_MATCHES = 20  # matched pairs a frame needs with the others to be refined
_MAX_FEATURES = 1500
_PRIOR_WEIGHT = 0.05  # residual per pixel-equivalent of azimuth/elevation correction: weak, fixes the gauge
_ROLL_PRIOR_WEIGHT = 2.0


@dataclass(frozen=True)
class Refined:
    """A frame's refined rotation (``world_from_camera``), how many matches support it, and whether it was
    refined (False: too few matches, the label's pointing is kept)."""

    rotation: np.ndarray
    matches: int
    refined: bool


def _rays(camera: Camera, points: np.ndarray) -> np.ndarray:
    cx, cy = camera.centre
    rays = np.column_stack([(points[:, 0] - cx) / camera.focal_px, (points[:, 1] - cy) / camera.focal_px,
                            np.ones(len(points))])  # fmt: skip
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    keypoints, descriptors = cv2.SIFT_create(nfeatures=_MAX_FEATURES).detectAndCompute(grey, None)
    # Keypoint coordinates count pixel centres at integers; the geometry puts them at + 0.5.
    points = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2) + 0.5
    return points, descriptors


def refine_rotations(
    images: Sequence[np.ndarray],
    cameras: Sequence[Camera],
    pointings: Sequence[tuple[float, float, float]],
    max_error_deg: float = 4.0,
) -> list[Refined]:
    """Refined ``world_from_camera`` rotations for frames at label ``pointings`` (azimuth, elevation, roll).

    ``max_error_deg`` bounds how far a match may disagree under the label pointing (the labels' error of up
    to about 1.5 degrees per frame, twice, with a margin) before it is taken for a false match.
    """
    from scipy.optimize import least_squares

    labels = [orientation(*p) for p in pointings]
    found = [_features(image) for image in images]
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = []  # (i, j, rays_i, rays_j)
    cosine = np.cos(np.radians(max_error_deg))
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            axes_apart = np.degrees(np.arccos(np.clip(labels[i][:, 2] @ labels[j][:, 2], -1, 1)))
            reach = np.degrees(
                np.arctan(np.hypot(cameras[i].width, cameras[i].height) / 2 / cameras[i].focal_px)
            )
            if axes_apart > 2 * reach or found[i][1] is None or found[j][1] is None:
                continue
            if len(found[i][1]) < 2 or len(found[j][1]) < 2:
                continue
            knn = matcher.knnMatch(found[i][1], found[j][1], k=2)
            good = [m[0] for m in knn if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
            if not good:
                continue
            a = _rays(cameras[i], found[i][0][[m.queryIdx for m in good]])
            b = _rays(cameras[j], found[j][0][[m.trainIdx for m in good]])
            agree = np.sum((a @ labels[i].T) * (b @ labels[j].T), axis=1) > cosine
            if agree.sum() >= 4:
                pairs.append((i, j, a[agree], b[agree]))

    focal = float(np.mean([c.focal_px for c in cameras]))

    def residuals(params: np.ndarray, kept: list) -> np.ndarray:
        rotations = _rotations(pointings, params)
        parts = [((a @ rotations[i].T) - (b @ rotations[j].T)).ravel() * focal for i, j, a, b in kept]
        parts.append((params.reshape(-1, 3) * prior).ravel())
        return np.concatenate(parts)

    # The prior, in pixels per degree of correction: weak on azimuth and elevation (the labels' errors),
    # stiff on roll, since the mast turns only in yaw and pitch. Without it a rotation of the whole set,
    # which features cannot see, would be free.
    prior = np.radians(1.0) * focal * np.array([_PRIOR_WEIGHT, _PRIOR_WEIGHT, _ROLL_PRIOR_WEIGHT])

    if not pairs:
        return [Refined(label, 0, False) for label in labels]
    # A redescending loss first, as false matches that agree with rough pointing still abound; then the
    # matches that the first solution explains, in plain least squares.
    start = np.zeros(3 * len(images))
    first = least_squares(residuals, start, loss="cauchy", f_scale=3.0, x_scale=0.01, args=(pairs,))
    kept, support = _consistent(pairs, _rotations(pointings, first.x), focal, len(images))
    if not kept:
        return [Refined(label, 0, False) for label in labels]
    solution = least_squares(residuals, first.x, loss="huber", f_scale=1.0, x_scale=0.01, args=(kept,),
                             ftol=1e-12, xtol=1e-12, gtol=1e-12)  # fmt: skip
    refined = _rotations(pointings, _centre_azimuths(solution.x.reshape(-1, 3), kept))
    out = []
    for index, label in enumerate(labels):
        held = support[index] >= MIN_MATCHES
        out.append(Refined(refined[index] if held else label, int(support[index]), bool(held)))
    return out


def _centre_azimuths(corrections: np.ndarray, kept: list) -> np.ndarray:
    """Corrections whose azimuths average zero over each group of frames linked by matches.

    Turning a whole group about the vertical changes no feature residual; the prior fixes that turn only
    weakly (and the solver's numerical derivatives hardly see it), so the group's mean azimuth is set to
    the labels' here, exactly.
    """
    corrections = corrections.copy()
    group = list(range(len(corrections)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j, _, _ in kept:
        group[root(i)] = root(j)
    roots = np.array([root(i) for i in range(len(corrections))])
    for r in set(roots.tolist()):
        members = roots == r
        if members.sum() > 1:
            corrections[members, 0] -= corrections[members, 0].mean()
    return corrections


def _rotations(pointings: Sequence[tuple[float, float, float]], params: np.ndarray) -> list[np.ndarray]:
    """Rotations at the pointings corrected by ``params`` (degrees of azimuth, elevation, roll per frame)."""
    corrections = params.reshape(-1, 3)
    return [orientation(*(np.asarray(p) + c)) for p, c in zip(pointings, corrections, strict=True)]


def _consistent(
    pairs: list, rotations: list[np.ndarray], focal: float, count: int, limit_px: float = 2.0
) -> tuple[list, np.ndarray]:
    """The matches within ``limit_px`` under ``rotations``, and how many each frame keeps."""
    kept, support = [], np.zeros(count, dtype=int)
    for i, j, a, b in pairs:
        close = np.linalg.norm(a @ rotations[i].T - b @ rotations[j].T, axis=1) * focal < limit_px
        if close.sum() >= 4:
            kept.append((i, j, a[close], b[close]))
            support[i] += int(close.sum())
            support[j] += int(close.sum())
    return kept, support


def pointing_of(rotation: np.ndarray) -> tuple[float, float, float]:
    """(azimuth, elevation, roll) in degrees of a ``world_from_camera`` rotation (inverse of
    :func:`~farside.scenes.geometry.orientation`).

    >>> [round(v, 6) for v in pointing_of(orientation(12.9, -23.9, 0.5))]
    [12.9, -23.9, 0.5]
    """
    from farside.scenes.geometry import angles

    axis = rotation[:, 2]
    azimuth, elevation = (float(v) for v in angles(axis))
    unrolled = orientation(azimuth, elevation, 0.0)
    # What is left is a turn about the optical axis: the camera's x axis against the unrolled one.
    x_axis = unrolled.T @ rotation[:, 0]
    roll = float(np.degrees(np.arctan2(-x_axis[1], x_axis[0])))
    return azimuth, elevation, roll


__all__ = ["MIN_MATCHES", "Refined", "pointing_of", "refine_rotations"]
