"""Refine the rotations of a sweep's frames from features matched in their overlaps.

Label pointing is only approximate (mast encoders, a rover that settled), so each frame's rotation gets a
small correction, found jointly for the whole set: a bundle adjustment of rotations (focal lengths fixed)
that makes the rays of every matched feature pair agree (Brown & Lowe 2007, "Automatic panoramic image
stitching using invariant features", section 4, with rotations only). Features are SIFT (Lowe 2004;
found on a copy of half a megapixel where a frame is larger) matched with the ratio test between the
features that the label pointing puts in both frames of a pair, and kept only where the label pointing
already roughly agrees; at most a hundred a pair, spread over the overlap, enter the adjustment. A weak
prior keeps each correction small and fixes what features cannot see: a rotation common to all frames
(the set's mean pointing stays the labels'). A frame with too few matches keeps its label pointing, and
says so.

The adjustment is Levenberg-Marquardt on the normal equations of the residuals' exact derivatives, the
robust losses entering as weights (iteratively reweighted least squares; Triggs et al. 2000, "Bundle
adjustment - a modern synthesis"): with three parameters a frame those equations are tiny.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from farside.scenes.geometry import Camera, orientation

MIN_MATCHES = 20  # matched pairs a frame needs with the others to be refined
_MAX_FEATURES = 1500
WORKING_PIXELS = 0.5e6  # larger frames are searched for features on a copy scaled down to this size
_PAIR_MATCHES = 100  # matches per pair of frames that the adjustment uses
_PRIOR_WEIGHT = 0.05  # residual per pixel-equivalent of azimuth/elevation correction: weak, fixes the gauge
_ROLL_PRIOR_WEIGHT = 2.0
_STEP_TOLERANCE_DEG = 1e-6  # the adjustment stops at steps this small (a micropixel)


@dataclass(frozen=True)
class Refined:
    """A frame's refined rotation (``world_from_camera``), how many matches support it, and whether it was
    refined (False: too few matches, the label's pointing is kept)."""

    rotation: np.ndarray
    matches: int
    refined: bool


@dataclass(frozen=True)
class _Features:
    points: np.ndarray  # (N, 2) continuous pixel coordinates of the full frame
    rays: np.ndarray  # (N, 3) unit vectors in the camera frame
    descriptors: np.ndarray  # (N, 128) float32


def _rays(camera: Camera, points: np.ndarray) -> np.ndarray:
    cx, cy = camera.centre
    rays = np.column_stack([(points[:, 0] - cx) / camera.focal_px, (points[:, 1] - cy) / camera.focal_px,
                            np.ones(len(points))])  # fmt: skip
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _features(image: np.ndarray, camera: Camera, working_pixels: float = WORKING_PIXELS) -> _Features:
    """SIFT features of a frame, at continuous pixel coordinates of the frame. A frame of more than about
    half a megapixel is searched on a copy scaled down to that size: a full PCAM frame (4 megapixels) costs
    several times as much, and a sweep's overlaps are large enough for features an eighth as dense."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    height, width = grey.shape
    factor = min(1.0, math.sqrt(working_pixels / (width * height)))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    # Without the precise upscale, OpenCV's doubled first octave puts every keypoint a quarter pixel off
    # (opencv/opencv#23123), alike in all frames: the whole panorama would be shifted by up to that much.
    sift = cv2.SIFT_create(nfeatures=_MAX_FEATURES, enable_precise_upscale=True)
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    # Keypoint coordinates count pixel centres at integers; the geometry puts them at + 0.5, and a scaled
    # copy's pixel edges fall on the full frame's (its pixel centre k + 0.5 is (k + 0.5) / scale there).
    scale = np.array([grey.shape[1] / width, grey.shape[0] / height])
    points = (np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2) + 0.5) / scale
    if descriptors is None:
        descriptors = np.zeros((0, 128), np.float32)
    return _Features(points, _rays(camera, points), descriptors)


def _seen_by(rays: np.ndarray, rotation: np.ndarray, other: np.ndarray, camera: Camera, margin_deg: float):
    """Which rays (camera frame, at ``rotation``) fall within ``margin_deg`` of ``camera``'s frame at
    ``other``: the only features there that can have a match in it."""
    cx, cy = camera.centre
    corner = max(math.hypot(x, y) for x in (cx, camera.width - cx) for y in (cy, camera.height - cy))
    reach = math.atan(corner / camera.focal_px)
    # A direction within margin_deg of the frame projects at most this far outside it.
    margin = camera.focal_px * (math.tan(min(reach + math.radians(margin_deg), 1.5)) - math.tan(reach))
    there = rays @ (rotation.T @ other)  # rotation.T @ other turns camera rays to the other camera's frame
    z = there[:, 2]
    ahead = z > math.cos(min(reach + math.radians(margin_deg), 1.5))  # off its axis by at most that
    safe = np.where(ahead, z, 1.0)
    u = cx + camera.focal_px * there[:, 0] / safe
    v = cy + camera.focal_px * there[:, 1] / safe
    return ahead & (u > -margin) & (u < camera.width + margin) & (v > -margin) & (v < camera.height + margin)


def _spread(points: np.ndarray, quality: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of ``points``, spread over their extent: a grid of about ``limit`` cells
    over it, the best match (lowest ``quality``) of every cell first, then the second best, and so on.
    Many matches in one part of an overlap add rows to the adjustment but constrain it little more."""
    if len(points) <= limit:
        return np.arange(len(points))
    side = max(1, math.isqrt(limit))
    low, span = points.min(axis=0), np.ptp(points, axis=0) + 1e-9
    cell_xy = np.minimum((points - low) / span * side, side - 1).astype(np.int64)
    cell = cell_xy[:, 1] * side + cell_xy[:, 0]
    order = np.lexsort((quality, cell))
    starts = np.flatnonzero(np.r_[True, np.diff(cell[order]) != 0])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    picked = order[np.lexsort((quality[order], rank))[:limit]]
    return np.sort(picked)


def refine_rotations(
    images: Sequence[np.ndarray],
    cameras: Sequence[Camera],
    pointings: Sequence[tuple[float, float, float]],
    max_error_deg: float = 4.0,
    working_pixels: float = WORKING_PIXELS,
) -> list[Refined]:
    """Refined ``world_from_camera`` rotations for frames at label ``pointings`` (azimuth, elevation, roll).

    ``max_error_deg`` bounds how far a match may disagree under the label pointing (the labels' error of up
    to about 1.5 degrees per frame, twice, with a margin) before it is taken for a false match. Frames larger
    than ``working_pixels`` are searched for features on a copy scaled down to that many pixels.
    """
    labels = [orientation(*p) for p in pointings]
    # OpenCV spreads only parts of SIFT over its threads and lets go of the interpreter while it works, so
    # frames searched side by side keep the cores busier; as many at once as OpenCV may use threads.
    with ThreadPoolExecutor(max(1, min(len(images), cv2.getNumThreads()))) as pool:
        found = list(pool.map(_features, images, cameras, [working_pixels] * len(images)))
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = []  # (i, j, rays_i, rays_j)
    cosine = np.cos(np.radians(max_error_deg))
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            # Only features that the labels put in both frames can match: far fewer to compare, and no
            # distant look-alike to fail the ratio test (Brown & Lowe match within overlaps too).
            near_i = np.flatnonzero(_seen_by(found[i].rays, labels[i], labels[j], cameras[j], max_error_deg))
            near_j = np.flatnonzero(_seen_by(found[j].rays, labels[j], labels[i], cameras[i], max_error_deg))
            if len(near_i) < 2 or len(near_j) < 2:
                continue
            knn = matcher.knnMatch(found[i].descriptors[near_i], found[j].descriptors[near_j], k=2)
            good = [m for m in knn if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
            if not good:
                continue
            a = found[i].rays[near_i[[m[0].queryIdx for m in good]]]
            b = found[j].rays[near_j[[m[0].trainIdx for m in good]]]
            agree = np.sum((a @ labels[i].T) * (b @ labels[j].T), axis=1) > cosine
            if agree.sum() >= 4:
                ratio = np.array([m[0].distance / max(m[1].distance, 1e-9) for m in good])[agree]
                points = found[i].points[near_i[[m[0].queryIdx for m in good]]][agree]
                keep = _spread(points, ratio, _PAIR_MATCHES)
                pairs.append((i, j, a[agree][keep], b[agree][keep]))

    focal = float(np.mean([c.focal_px for c in cameras]))
    # The prior, in pixels per degree of correction: weak on azimuth and elevation (the labels' errors),
    # stiff on roll, since the mast turns only in yaw and pitch. Without it a rotation of the whole set,
    # which features cannot see, would be free.
    prior = np.radians(1.0) * focal * np.array([_PRIOR_WEIGHT, _PRIOR_WEIGHT, _ROLL_PRIOR_WEIGHT])
    count = len(images)

    if not pairs:
        return [Refined(label, 0, False) for label in labels]
    # A redescending loss first, as false matches that agree with rough pointing still abound; then the
    # matches that the first solution explains, in plain least squares.
    start = np.zeros(3 * count)
    first = _adjust(_Problem(pointings, pairs, focal, prior), start, _cauchy, 3.0)
    kept, support = _consistent(pairs, _rotations(pointings, first), focal, count)
    if not kept:
        return [Refined(label, 0, False) for label in labels]
    solution = _adjust(_Problem(pointings, kept, focal, prior), first, _huber, 1.0)
    refined = _rotations(pointings, _centre_azimuths(solution.reshape(-1, 3), kept))
    out = []
    for index, label in enumerate(labels):
        held = support[index] >= MIN_MATCHES
        out.append(Refined(refined[index] if held else label, int(support[index]), bool(held)))
    return out


def _cauchy(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rho(z) and rho'(z) of the Cauchy loss of squared residuals ``z`` (in units of its scale)."""
    return np.log1p(z), 1.0 / (1.0 + z)


def _huber(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rho(z) and rho'(z) of the Huber loss of squared residuals ``z`` (in units of its scale)."""
    root = np.sqrt(np.maximum(z, 1.0))
    return np.where(z > 1.0, 2.0 * root - 1.0, z), np.where(z > 1.0, 1.0 / root, 1.0)


def _adjust(problem: _Problem, start: np.ndarray, loss, scale: float, steps: int = 200) -> np.ndarray:
    """The parameters that minimise ``sum(scale**2 * loss(residual**2 / scale**2))``, from ``start``:
    Levenberg-Marquardt on the normal equations, the loss entering as weights.

    The normal equations (3 unknowns a frame) are built from each match's few derivatives, where a
    general solver (SciPy's ``least_squares``) factorises the whole Jacobian, thousands of rows by all the
    unknowns, at every step: that took most of the refinement's time.
    """
    x = start.copy()
    residuals = problem.residuals(x)

    def cost(r: np.ndarray) -> float:
        return float(np.sum(loss(r * r / scale**2)[0])) * scale**2

    current = cost(residuals)
    damping = 1e-3
    for _ in range(steps):
        weights = loss(residuals * residuals / scale**2)[1]
        normal, gradient = problem.normal_equations(x, residuals, weights)
        diagonal = np.diag(np.diag(normal))
        while damping < 1e12:
            step = np.linalg.solve(normal + damping * diagonal, -gradient)
            trial = problem.residuals(x + step)
            trial_cost = cost(trial)
            if trial_cost <= current:
                break
            damping *= 10.0
        else:
            return x  # no step lowers the cost: a minimum
        x, residuals = x + step, trial
        decrease, current = current - trial_cost, trial_cost
        damping = max(damping / 10.0, 1e-12)
        if np.abs(step).max() < _STEP_TOLERANCE_DEG or decrease <= 1e-12 * current:
            break
    return x


class _Problem:
    """The adjustment: every match's two rays turned into the world, their difference in pixels (3
    residuals a match), then the prior (3 a frame); and the normal equations of their exact derivatives."""

    def __init__(self, pointings: Sequence[tuple[float, float, float]], pairs: list, focal: float,
                 prior: np.ndarray) -> None:  # fmt: skip
        self.pointings = np.asarray(pointings, dtype=np.float64).reshape(-1, 3)
        self.pairs = np.array([(i, j) for i, j, _, _ in pairs], dtype=np.int64).reshape(-1, 2)
        sizes = [len(a) for _, _, a, _ in pairs]
        self.starts = np.cumsum([0, *sizes[:-1]])
        self.first = np.repeat(self.pairs[:, 0], sizes)
        self.second = np.repeat(self.pairs[:, 1], sizes)
        self.a = np.concatenate([a for _, _, a, _ in pairs])
        self.b = np.concatenate([b for _, _, _, b in pairs])
        self.focal = focal
        self.prior = prior

    def residuals(self, params: np.ndarray) -> np.ndarray:
        rotations, _ = _rotations_and_derivatives(self.pointings + params.reshape(-1, 3))
        world_a = np.einsum("mkl,ml->mk", rotations[self.first], self.a)
        world_b = np.einsum("mkl,ml->mk", rotations[self.second], self.b)
        features = ((world_a - world_b) * self.focal).ravel()
        return np.concatenate([features, (params.reshape(-1, 3) * self.prior).ravel()])

    def normal_equations(
        self, params: np.ndarray, residuals: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``J.T @ diag(weights) @ J`` and ``J.T @ (weights * residuals)`` for the Jacobian ``J`` of the
        residuals at ``params``, summed match by match: a match's residuals depend on its two frames'
        angles alone."""
        count, matches = len(self.pointings), len(self.a)
        _, derivatives = _rotations_and_derivatives(self.pointings + params.reshape(-1, 3))
        # d(residual k)/d(angle t of frame i) = focal * (dR_i/dt @ a)[k]; the second ray enters negated.
        along_a = np.einsum("mtkl,ml->mkt", derivatives[self.first], self.a) * self.focal
        along_b = np.einsum("mtkl,ml->mkt", derivatives[self.second], self.b) * -self.focal
        w = weights[: 3 * matches].reshape(matches, 3, 1)
        f = residuals[: 3 * matches].reshape(matches, 3, 1)
        blocks = np.zeros((count, count, 3, 3))
        vector = np.zeros((count, 3))
        i, j = self.pairs[:, 0], self.pairs[:, 1]

        def per_pair(values: np.ndarray) -> np.ndarray:
            return np.add.reduceat(values, self.starts, axis=0)

        np.add.at(blocks, (i, i), per_pair(np.einsum("mkt,mks->mts", along_a * w, along_a)))
        np.add.at(blocks, (j, j), per_pair(np.einsum("mkt,mks->mts", along_b * w, along_b)))
        cross = per_pair(np.einsum("mkt,mks->mts", along_a * w, along_b))
        np.add.at(blocks, (i, j), cross)
        np.add.at(blocks, (j, i), cross.transpose(0, 2, 1))
        np.add.at(vector, i, per_pair(np.sum(along_a * w * f, axis=1)))
        np.add.at(vector, j, per_pair(np.sum(along_b * w * f, axis=1)))
        normal = blocks.transpose(0, 2, 1, 3).reshape(3 * count, 3 * count)
        prior = np.tile(self.prior, count)
        normal[np.diag_indices(3 * count)] += weights[3 * matches :] * prior**2
        gradient = vector.ravel() + weights[3 * matches :] * prior * residuals[3 * matches :]
        return normal, gradient


def _rotations_and_derivatives(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations ``Yaw(a) Pitch(e) Spin(r) B`` of :func:`~farside.scenes.geometry.orientation` for rows of
    (azimuth, elevation, roll) in degrees, (n, 3, 3), and their derivatives per degree of each angle,
    (n, 3, 3, 3): each factor's derivative in its place."""
    a, e, r = np.radians(angles).T
    zero, one = np.zeros_like(a), np.ones_like(a)

    def stack(rows):
        return np.moveaxis(np.array(rows, dtype=np.float64), (0, 1), (-2, -1))

    ca, sa, ce, se, cr, sr = np.cos(a), np.sin(a), np.cos(e), np.sin(e), np.cos(r), np.sin(r)
    yaw = stack([[ca, sa, zero], [-sa, ca, zero], [zero, zero, one]])
    d_yaw = stack([[-sa, ca, zero], [-ca, -sa, zero], [zero, zero, zero]])
    pitch = stack([[one, zero, zero], [zero, ce, -se], [zero, se, ce]])
    d_pitch = stack([[zero, zero, zero], [zero, -se, -ce], [zero, ce, -se]])
    spin = stack([[cr, zero, -sr], [zero, one, zero], [sr, zero, cr]])
    d_spin = stack([[-sr, zero, -cr], [zero, zero, zero], [cr, zero, -sr]])
    axes = orientation(0.0, 0.0)  # B: the camera's axes in the world at zero pointing
    pitch_spin = pitch @ spin @ axes
    rotations = yaw @ pitch_spin
    derivatives = np.stack(
        [d_yaw @ pitch_spin, yaw @ d_pitch @ spin @ axes, yaw @ pitch @ d_spin @ axes], axis=1
    )
    return rotations, derivatives * (math.pi / 180.0)


def _centre_azimuths(corrections: np.ndarray, kept: list) -> np.ndarray:
    """Corrections whose azimuths average zero over each group of frames linked by matches.

    Turning a whole group about the vertical changes no feature residual; the prior fixes that turn only
    weakly, so the group's mean azimuth is set to the labels' here, exactly. A common tilt of the group's
    frames is left to the features: it bends the sweep's rows, which they see (weakly: to about 0.004
    degrees on a full-size two-tier sweep), and the mean of a few labels, each off by up to 1.5 degrees,
    would do far worse.
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


__all__ = ["MIN_MATCHES", "WORKING_PIXELS", "Refined", "pointing_of", "refine_rotations"]
