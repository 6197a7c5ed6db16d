"""Refine the rotations of a sweep's frames from features matched in their overlaps.

Label pointing is only approximate (mast encoders, a rover that settled), so each frame's rotation gets a
small correction, found jointly for the whole set: a bundle adjustment of rotations (focal lengths fixed)
that makes the rays of every matched feature pair agree (Brown & Lowe 2007, "Automatic panoramic image
stitching using invariant features", section 4, with rotations only). The matches come from the labels
first: the label pointing already puts each pair's overlap within a degree or two, so rather than seeking
invariant features everywhere and matching them (SIFT, as Brown & Lowe do, costs about as much as all the
rest of a panorama), corners of one frame are tracked into the other, warped onto it by the label pointing,
to a few hundredths of a pixel (:func:`_track`; on copies of at most a megapixel). Tracks the label
pointing cannot explain are dropped; at most a hundred a pair, spread over the overlap, enter the
adjustment. A weak prior keeps each correction small and fixes what matches cannot see: a rotation common
to all frames (the set's mean pointing stays the labels'). A frame with too few matches keeps its label
pointing, and says so.

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
WORKING_PIXELS = 1.0e6  # larger frames are tracked on a copy scaled down to this size
_CORNERS = 2000  # corners sought a frame, spread over it
_WINDOW = 10  # Lucas-Kanade's window is 2 * _WINDOW + 1 pixels wide
_LEVELS = 2  # pyramid levels above the copy: what remains after phase correlation is a few pixels
_FORWARD_BACKWARD_PX = 0.25  # a track that does not come back to within this is dropped
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
class _Working:
    """A frame's grey working copy (pixel centres at integers, as OpenCV counts them), the corners to
    track from it, and the map from the frame's continuous pixel coordinates to the copy's."""

    grey: np.ndarray  # uint8
    corners: np.ndarray  # (N, 2) float32, copy coordinates, best first
    to_copy: np.ndarray  # 3 x 3: frame coordinates (centres at + 0.5) -> copy coordinates


def grey_copy(image: np.ndarray, working_pixels: float) -> np.ndarray:
    """A frame in grey, scaled down (by area) to about ``working_pixels`` where it is larger; its pixel
    edges fall on the frame's, so a continuous coordinate x of the frame is x times the size ratio here."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    height, width = grey.shape
    factor = min(1.0, math.sqrt(working_pixels / (width * height)))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def _working(image: np.ndarray, working_pixels: float = WORKING_PIXELS) -> _Working:
    """A frame's working copy: grey, scaled down to about ``working_pixels`` where larger (a full PCAM
    frame has 4 megapixels; a sweep's overlaps hold plenty of texture at an eighth of that), with its
    Shi-Tomasi corners (Shi & Tomasi 1994, "Good features to track"), spread at least a window apart."""
    grey = grey_copy(image, working_pixels)
    height, width = image.shape[:2]
    sx, sy = grey.shape[1] / width, grey.shape[0] / height
    # A scaled copy's pixel edges fall on the frame's: the frame's continuous x is the copy's x / sx, and
    # the copy's pixel centres (integers to OpenCV) sit at + 0.5.
    to_copy = np.array([[sx, 0.0, -0.5], [0.0, sy, -0.5], [0.0, 0.0, 1.0]])
    spacing = max(4.0, math.sqrt(grey.size / _CORNERS) / 2)
    corners = cv2.goodFeaturesToTrack(grey, _CORNERS, 0.002, spacing, blockSize=7)
    corners = np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)
    border = _WINDOW  # corners whose window leaves the copy cannot be tracked to the sample
    inside = ((corners[:, 0] >= border) & (corners[:, 0] < grey.shape[1] - border)
              & (corners[:, 1] >= border) & (corners[:, 1] < grey.shape[0] - border))  # fmt: skip
    return _Working(grey, np.ascontiguousarray(corners[inside]), to_copy)


def _track(first: _Working, second: _Working, copy_from_copy: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray]:  # fmt: skip
    """Corners of ``first`` tracked into ``second``, whose copy the homography ``copy_from_copy`` (the
    labels' pointing) maps ``first``'s copy onto: (points in first, points in second, forward-backward
    error), all in copy coordinates.

    ``second`` is warped onto ``first`` by the labels' pointing over their overlap, so what remains
    between them is the labels' error: nearly a shift, found by phase correlation on the overlap (Kuglin
    & Hines 1975). ``second`` is warped again with that shift taken out, and every corner is tracked into
    it with pyramidal Lucas-Kanade (Bouguet 2000, "Pyramidal implementation of the Lucas Kanade feature
    tracker"), forward and back (Kalal et al. 2010, "Forward-backward error") to drop corners that slid.
    """
    empty = np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
    corners = first.corners
    if len(corners) < 4:
        return empty
    there = _apply(copy_from_copy, corners)
    height, width = second.grey.shape
    inside = ((there[:, 0] > _WINDOW) & (there[:, 0] < width - 1 - _WINDOW)
              & (there[:, 1] > _WINDOW) & (there[:, 1] < height - 1 - _WINDOW))  # fmt: skip
    if inside.sum() < 4:
        return empty
    # The overlap's box in first's copy, as the labels have it: only there is second warped.
    low = np.maximum(np.floor(corners[inside].min(axis=0)).astype(int) - _WINDOW, 0)
    high = np.ceil(corners[inside].max(axis=0)).astype(int) + _WINDOW + 1
    high = np.minimum(high, (first.grey.shape[1], first.grey.shape[0]))
    patch = first.grey[low[1] : high[1], low[0] : high[0]]
    warped, overlap = _warp_into_box(second.grey, copy_from_copy, low, patch.shape)
    if overlap.sum() < 64:
        return empty
    shift = _overlap_shift(patch, warped, overlap)
    if shift.any():
        warped, overlap = _warp_into_box(second.grey, copy_from_copy, low + shift, patch.shape)
        if overlap.sum() < 64:
            return empty
    # One exposure for both: Lucas-Kanade assumes constant brightness, and the frames' may differ by 20 %.
    gain = float(patch[overlap].mean()) / max(float(warped[overlap].mean()), 1e-6)
    warped = cv2.convertScaleAbs(warped, alpha=gain)
    start = (corners[inside] - low).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01)
    size = (2 * _WINDOW + 1, 2 * _WINDOW + 1)
    found, ok, _ = cv2.calcOpticalFlowPyrLK(patch, warped, start, start.copy(), winSize=size,
                                            maxLevel=_LEVELS, criteria=criteria,
                                            flags=cv2.OPTFLOW_USE_INITIAL_FLOW)  # fmt: skip
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(warped, patch, found, start.copy(), winSize=size,
                                                maxLevel=_LEVELS, criteria=criteria,
                                                flags=cv2.OPTFLOW_USE_INITIAL_FLOW)  # fmt: skip
    error = np.linalg.norm(back - start, axis=1)
    held = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (error < _FORWARD_BACKWARD_PX)
    # Only what lands inside second's own pixels was seen by it, not made up by the reflected border.
    mapped = _apply(copy_from_copy, found[held] + low + shift)
    seen = ((mapped[:, 0] >= _WINDOW) & (mapped[:, 0] < width - 1 - _WINDOW)
            & (mapped[:, 1] >= _WINDOW) & (mapped[:, 1] < height - 1 - _WINDOW))  # fmt: skip
    return corners[inside][held][seen].astype(np.float64), mapped[seen], error[held][seen]


def _warp_into_box(grey: np.ndarray, copy_from_copy: np.ndarray, corner: np.ndarray, shape: tuple[int, ...]):
    """``grey`` (second's copy) warped onto first's copy's box of ``shape`` at ``corner`` (continuous), and
    which of the box's pixels it covers."""
    to_box = np.array([[1.0, 0.0, corner[0]], [0.0, 1.0, corner[1]], [0.0, 0.0, 1.0]])
    box_map = copy_from_copy @ to_box  # box coordinates -> second's copy
    size = (int(shape[1]), int(shape[0]))
    inverse = cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(grey, box_map, size, flags=cv2.INTER_LINEAR | inverse,
                                 borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    ones = np.full(grey.shape, 255, np.uint8)
    return warped, cv2.warpPerspective(ones, box_map, size, flags=cv2.INTER_NEAREST | inverse) > 0


def _apply(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) mapped by a 3 x 3 ``homography``."""
    mapped = np.column_stack([points, np.ones(len(points))]) @ homography.T
    return mapped[:, :2] / mapped[:, 2:]


def _overlap_shift(patch: np.ndarray, warped: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """The shift between an overlap's two views by phase correlation on a copy a quarter the size (the
    labels' errors move it by tens of pixels; Lucas-Kanade refines it), or none where the correlation
    peak is too weak to trust (featureless ground)."""
    rows, cols = np.flatnonzero(overlap.any(axis=1)), np.flatnonzero(overlap.any(axis=0))
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    a = patch[window].astype(np.float32)
    b = np.where(overlap[window], warped[window], a.mean()).astype(np.float32)
    a, b = cv2.pyrDown(cv2.pyrDown(a)), cv2.pyrDown(cv2.pyrDown(b))
    if min(a.shape) < 8:
        return np.zeros(2, np.float32)
    (dx, dy), response = cv2.phaseCorrelate(a, b, cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F))
    if response < 0.05:
        return np.zeros(2, np.float32)
    return np.float32([dx * 4, dy * 4])


def _pair(pair: tuple[int, int], copies: list[_Working], cameras: Sequence[Camera], labels: list[np.ndarray]):
    """Matches of a pair of frames, tracked from the first into the second: (points in the first, points in
    the second, forward-backward error), in the frames' continuous pixel coordinates."""
    i, j = pair
    # Frame i's copy -> its frame -> rays -> the world -> frame j's rays -> its frame -> its copy.
    frame_from_frame = cameras[j].matrix() @ labels[j].T @ labels[i] @ np.linalg.inv(cameras[i].matrix())
    copy_from_copy = copies[j].to_copy @ frame_from_frame @ np.linalg.inv(copies[i].to_copy)
    here, there, error = _track(copies[i], copies[j], copy_from_copy)
    return _in_frame(here, copies[i]), _in_frame(there, copies[j]), error


def _in_frame(points: np.ndarray, copy: _Working) -> np.ndarray:
    """Copy coordinates back to the frame's continuous pixel coordinates."""
    if not len(points):
        return points.reshape(0, 2)
    back = np.linalg.inv(copy.to_copy)
    return points @ back[:2, :2].T + back[:2, 2]


def _overlap(camera_i: Camera, label_i: np.ndarray, camera_j: Camera, label_j: np.ndarray,
             margin_deg: float) -> bool:  # fmt: skip
    """Whether the labels put any of frame i's field within frame j's (with ``margin_deg`` to spare): a
    coarse grid of frame i's directions, tested with :func:`_seen_by`."""
    u, v = np.meshgrid(np.linspace(0, camera_i.width, 9), np.linspace(0, camera_i.height, 7))
    rays = camera_i.rays(np.column_stack([u.ravel(), v.ravel()]))
    return bool(_seen_by(rays, label_i, label_j, camera_j, margin_deg).any())


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
    than ``working_pixels`` are tracked on copies scaled down to that many pixels.
    """
    labels = [orientation(*p) for p in pointings]
    # OpenCV lets go of the interpreter while it works, so frames and pairs handled side by side keep the
    # cores busy; as many at once as OpenCV may use threads.
    workers = max(1, min(len(images), cv2.getNumThreads()))
    with ThreadPoolExecutor(workers) as pool:
        copies = list(pool.map(_working, images, [working_pixels] * len(images)))
        candidates = [(i, j) for i in range(len(images)) for j in range(i + 1, len(images))
                      if _overlap(cameras[i], labels[i], cameras[j], labels[j], max_error_deg)]  # fmt: skip
        tracked = list(pool.map(lambda ij: _pair(ij, copies, cameras, labels), candidates))
    pairs = []  # (i, j, rays_i, rays_j)
    cosine = np.cos(np.radians(max_error_deg))
    for (i, j), (points_i, points_j, error) in zip(candidates, tracked, strict=True):
        if len(points_i) < 4:
            continue
        a, b = cameras[i].rays(points_i), cameras[j].rays(points_j)
        # A track that the labels' pointing cannot explain, even with their errors, slid onto a look-alike.
        agree = np.sum((a @ labels[i].T) * (b @ labels[j].T), axis=1) > cosine
        if agree.sum() >= 4:
            keep = _spread(points_i[agree], error[agree], _PAIR_MATCHES)
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
