"""Stereo pairs of the panoramic cameras: which frames are the two eyes of one pair, and how to align them.

Pairing
-------
Yutu-2's panoramic cameras are a stereo pair (``PCAML`` the left eye, ``PCAMR`` the right; the profile's
``optics.left_camera`` and ``optics.right_camera`` name the letters). In the release the two eyes of a
pair share mission, instrument, mode, serial and sequence (every pair of the first year's file lists
matches that way), but they are not taken together: the right frame comes first and the left 5 to 16
seconds later. :func:`pair_frames` pairs frames that share those fields (and the level, and the mast
pointing where both labels give it) by the nearest start time, a right frame before its left one preferred
to any the other way round, and says of every frame left over why it found no partner.

Alignment
---------
The two cameras share their intrinsics (the labels', or the profile's ``[optics]``), so one eye differs from
the other by a rotation and the baseline between their optical centres. :func:`align` starts from the
labels' pointing (both eyes on one mast: normally the same), matches SIFT features between the eyes (Lowe
2004, "Distinctive image features from scale-invariant keypoints", with his ratio test) and finds the
right eye's rotation and the direction of the baseline that leave the matches no vertical disparity
once both eyes are turned into one frame whose x axis lies along the baseline: robust least squares
(a Cauchy loss first, then a Huber loss on the matches it keeps; a weak prior holds what the matches
cannot see near the labels'). Both eyes are then resampled by rotation-only homographies
``H = K R K^-1``, each turned half way (as in Bouguet's rectification, OpenCV's ``stereoRectify``; Fusiello,
Trucco & Verri 2000, "A compact algorithm for rectification of stereo pairs", Machine Vision and
Applications 12(1), doi:10.1007/s001380050003), so neither eye is sharper than the other. The zero-parallax
plane is put at the median disparity of the near ground (the lowest third of the matches), which sets the
stereo window at the ground nearest the rover and everything else behind the screen; and both eyes are
cropped to the largest rectangle they both cover. Where too few features match, alignment says so and falls
back to the labels' pointing.

Pixel coordinates follow :mod:`farside.scenes.geometry`: the centre of pixel (column i, row j) is at
(i + 0.5, j + 0.5); the homographies of an :class:`Alignment` map a frame's coordinates to the output's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from farside.errors import FarsideError
from farside.scenes.geometry import Camera, orientation

MAX_GAP_S = 60.0  # the most seconds between the two eyes of a pair (the release shows 5 to 16)
SAME_POINTING_DEG = 1.0  # two eyes whose labels' mast pointing differ more than this are not a pair
MIN_MATCHES = 20  # matched features that alignment needs; with fewer it keeps the labels' pointing
MAX_TURN_DEG = 2.0  # how far the eyes' relative rotation may stray from the labels' before it is doubted
_RATIO = 0.8  # Lowe's ratio test
_MAX_FEATURES = 1500  # SIFT features sought an eye
_PRIOR_WEIGHT = 0.05  # residual per pixel-equivalent of departure from the labels: weak, fixes the gauge
_NEAR_GROUND = 1 / 3  # the lowest fraction of the matches that is the near ground

EYES = ("left", "right")


# Pairing


@dataclass(frozen=True)
class StereoFrame:
    """What pairing knows of a frame: its name, what the two eyes of a pair share (``key``: mission,
    instrument, mode, serial, sequence and level), which eye it is ("left", "right" or None: not a stereo
    camera's), its start time and its mast pointing (yaw, pitch; None where the label gives none)."""

    name: str
    key: tuple[Any, ...]
    eye: str | None
    time: datetime | None
    pointing: tuple[float, float] | None = None


def stereo_frame(name: str, meta: Any, settings: Any) -> StereoFrame:
    """A product's :class:`StereoFrame`: its eye from the profile's ``optics.left_camera`` and
    ``optics.right_camera``, its serial from its file name."""
    from farside.errors import ProductNameError
    from farside.products.names import parse_name

    serial = None
    for candidate in (meta.product_id, name):
        try:
            serial = parse_name(Path(str(candidate)).name).serial
            break
        except (ProductNameError, TypeError):
            continue
    camera = meta.camera
    eye = None
    if camera and settings.left_camera and camera == settings.left_camera:
        eye = "left"
    elif camera and settings.right_camera and camera == settings.right_camera:
        eye = "right"
    key = (meta.mission, meta.instrument, meta.mode, serial, meta.sequence_id, meta.level)
    pointing = None
    if meta.mast_yaw is not None and meta.mast_pitch is not None:
        pointing = (float(meta.mast_yaw), float(meta.mast_pitch))
    return StereoFrame(name, key, eye, meta.start_time, pointing)


def _same_pointing(a: StereoFrame, b: StereoFrame, tolerance: float) -> bool:
    if a.pointing is None or b.pointing is None:
        return True
    yaw = abs((a.pointing[0] - b.pointing[0] + 180.0) % 360.0 - 180.0)
    return yaw <= tolerance and abs(a.pointing[1] - b.pointing[1]) <= tolerance


def pair_frames(
    frames: Sequence[StereoFrame], max_gap_s: float = MAX_GAP_S, tolerance_deg: float = SAME_POINTING_DEG
) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """Pairs of ``frames`` (indices of the left and the right eye, in the left frames' time order) and, for
    every frame in no pair, why.

    Two frames may pair when they are opposite eyes with the same ``key``, start at most ``max_gap_s``
    apart and, where both labels give a mast pointing, point within ``tolerance_deg`` of each other. Pairs
    are then taken greedily, best first: a right frame followed by its left one by the fewest seconds,
    then (only where no such partner is left) a left frame followed by a right one.

    >>> from datetime import UTC, datetime, timedelta
    >>> t0, key = datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC), ("CE4", "PCAM", "C", "006", "0001", "2B")
    >>> def at(eye, seconds):
    ...     return StereoFrame(f"{eye}{seconds}", key, eye, t0 + timedelta(seconds=seconds))
    >>> frames = [at("right", 0), at("left", 15), at("right", 30), at("left", 45), at("left", 300)]
    >>> pairs, unpaired = pair_frames(frames)
    >>> pairs, sorted(unpaired)
    ([(1, 0), (3, 2)], [4])
    """
    unpaired: dict[int, str] = {}
    groups: dict[tuple[Any, ...], dict[str, list[int]]] = {}
    for index, frame in enumerate(frames):
        if frame.eye not in EYES:
            unpaired[index] = "not one eye of a stereo pair (its profile names no left and right cameras)"
        elif frame.time is None:
            unpaired[index] = "its start time is unknown, so no partner can be chosen for it"
        else:
            groups.setdefault(frame.key, {"left": [], "right": []})[frame.eye].append(index)
    candidates = []
    for group in groups.values():
        for left in group["left"]:
            for right in group["right"]:
                a, b = frames[left], frames[right]
                gap = (a.time - b.time).total_seconds()  # type: ignore[operator]
                if abs(gap) > max_gap_s or not _same_pointing(a, b, tolerance_deg):
                    continue
                # Right first is how the release takes them; the other order only where nothing else is left.
                cost = gap if gap >= 0 else max_gap_s + abs(gap)
                candidates.append((cost, left, right))
    taken: set[int] = set()
    pairs = []
    for _, left, right in sorted(candidates):
        if left not in taken and right not in taken:
            taken.update((left, right))
            pairs.append((left, right))
    for group in groups.values():
        for eye, other in (("left", "right"), ("right", "left")):
            for index in group[eye]:
                if index not in taken:
                    _, _, mode, serial, sequence, _ = frames[index].key
                    unpaired[index] = (
                        f"no {other}-eye partner: no {other}-eye frame of mode {mode}, serial {serial} and "
                        f"sequence {sequence} within {max_gap_s:g} s is left to pair it with"
                    )
    pairs.sort(key=lambda pair: (frames[pair[0]].time, pair[0]))
    return pairs, unpaired


@dataclass
class Pairs:
    """What :func:`find_pairs` found: the pairs (left and right :class:`~farside.conversion.Planned`), one
    line for each product that could not be read, and one for each that found no partner."""

    pairs: list[tuple[Any, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)


def find_pairs(paths: Sequence[Any], out_dir: Any, request: Any, explicit: bool = False) -> Pairs:
    """Read every product and pair the two eyes of each stereo pair among them (:func:`pair_frames`).

    With ``explicit`` the products are taken to be one pair, whatever their names and times say: there
    must be one left and one right eye among them (a pair of products named on the command line)."""
    from farside.conversion import failure_line, plan
    from farside.errors import printable

    found = Pairs()
    planned, seen, unread = [], set(), []
    for path in paths:
        try:
            item = plan(path, out_dir, request)
        except Exception as exc:  # one bad product never stops the others
            found.problems.append(failure_line(str(path), exc))
            unread.append(Path(path))
            continue
        if item.identity not in seen:
            seen.add(item.identity)
            planned.append(item)
    frames = [stereo_frame(p.path, p.product.meta, p.settings) for p in planned]
    if explicit:
        eyes = {frame.eye: index for index, frame in enumerate(frames)}
        if len(planned) == 2 and set(eyes) == set(EYES):
            found.pairs.append((planned[eyes["left"]], planned[eyes["right"]]))
        elif len(planned) == 2:
            names = " and ".join(printable(p.path) for p in planned)
            found.problems.append(f"{names}: not a left and a right eye of a stereo camera; no pair made")
        return found
    pairs, unpaired = pair_frames(frames)
    found.pairs = [(planned[left], planned[right]) for left, right in pairs]
    for index, why in sorted(unpaired.items()):
        partner = _unread_partner(frames[index], planned[index].settings, unread)
        if partner is not None:
            other = "right" if frames[index].eye == "left" else "left"
            why = f"its {other}-eye partner {printable(partner.name)} could not be read"
        found.unpaired.append(f"{printable(planned[index].path)}: {why}")
    return found


def _unread_partner(frame: StereoFrame, settings: Any, unread: Sequence[Path]) -> Path | None:
    """The product among ``unread`` (that could not be read) whose name makes it ``frame``'s partner: the
    other eye's camera letter, the same key, and a start time close enough."""
    from farside.errors import ProductNameError
    from farside.products.names import parse_name

    if frame.eye not in EYES or frame.time is None:
        return None
    letter = settings.right_camera if frame.eye == "left" else settings.left_camera
    for path in unread:
        try:
            name = parse_name(path.name)
        except ProductNameError:
            continue
        key = (name.mission, name.instrument, name.mode, name.serial, name.sequence_id, name.level)
        close = abs((frame.time - name.start_time).total_seconds()) <= MAX_GAP_S
        if letter and name.camera == letter and key == frame.key and close:
            return path
    return None


# Alignment


@dataclass(frozen=True)
class Alignment:
    """How a stereo pair was aligned: each eye's homography (a frame's continuous pixel coordinates to the
    output's) and the output's size, with what they were found from.

    ``rotation`` is the right eye's rotation relative to the left (``right_from_left``, camera frames) and
    ``baseline`` the direction of the right eye's centre from the left's (left camera frame), both as
    used; ``parallax_px`` the disparity put at the screen (output pixels; positive: nearer than infinity);
    ``residual_px`` the vertical disparity left in the matches used (median and largest absolute, output
    pixels; None without matches)."""

    left: np.ndarray
    right: np.ndarray
    size: tuple[int, int]
    source: str  # "features" or "labels"
    matches: int
    rotation: np.ndarray
    baseline: np.ndarray
    parallax_px: float
    parallax_source: str
    residual_px: tuple[float, float] | None = None
    focal_px: float = 0.0
    note: str = ""

    def depth_at_screen(self, baseline_m: float) -> float | None:
        """Distance (metres) of the scene the zero-parallax plane cuts, for a baseline of ``baseline_m``."""
        if baseline_m <= 0 or self.parallax_px <= 0:
            return None
        return self.focal_px * baseline_m / self.parallax_px

    def to_dict(self, baseline_m: float = 0.0) -> dict[str, Any]:
        """What a sidecar says of the alignment."""
        vector = cv2.Rodrigues(self.rotation)[0].ravel()
        out: dict[str, Any] = {
            "source": self.source,
            "matched_features": self.matches,
            "right_from_left_rotation_deg": [round(float(v), 5) for v in np.degrees(vector)],
            "baseline_direction": [round(float(v), 6) for v in self.baseline],
            "parallax_px": round(self.parallax_px, 3),
            "parallax_source": self.parallax_source,
            "width": self.size[0],
            "height": self.size[1],
            "left_homography": np.round(self.left, 9).tolist(),
            "right_homography": np.round(self.right, 9).tolist(),
            "homography_convention": "frame (u, v, 1) -> output, pixel (i, j) centred at (i + 0.5, j + 0.5)",
        }
        if self.residual_px is not None:
            out["residual_vertical_disparity_px"] = {
                "median": round(self.residual_px[0], 4),
                "max": round(self.residual_px[1], 4),
            }
        depth = self.depth_at_screen(baseline_m)
        if depth is not None:
            out["baseline_m"] = baseline_m
            out["screen_distance_m"] = round(depth, 3)
        if self.note:
            out["note"] = self.note
        return out


def _rotation(vector: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(vector, np.float64).reshape(3, 1))[0]


def rectifying(rotation: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The rotation (``rectified_from_left``) of the frame both eyes are turned into: x along the baseline,
    z half way between the two optical axes (so each eye turns by as little as the other), y completing a
    right-handed frame (down, as in the cameras).

    >>> rectifying(np.eye(3), np.array([1.0, 0.0, 0.0])).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    x = baseline / np.linalg.norm(baseline)
    axis = np.array([0.0, 0.0, 1.0]) + rotation[2]  # the right eye's optical axis, in the left eye's frame
    y = np.cross(axis, x)
    y /= np.linalg.norm(y)
    return np.vstack([x, y, np.cross(x, y)])


def _model(params: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The right eye's rotation (``right_from_left``) and the baseline's direction of parameters: a small
    rotation after the labels', and the baseline's y and z over its x."""
    rotation = _rotation(params[:3]) @ label
    baseline = np.array([1.0, params[3], params[4]])
    return rotation, baseline / np.linalg.norm(baseline)


def _rectified(
    params: np.ndarray, label: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Matched rays of the two eyes turned into the rectified frame, as (x, y) over z."""
    rotation, baseline = _model(params, label)
    frame = rectifying(rotation, baseline)
    a = left @ frame.T
    b = right @ (frame @ rotation.T).T
    return a[:, :2] / a[:, 2:], b[:, :2] / b[:, 2:]


def _fit(
    label: np.ndarray, left: np.ndarray, right: np.ndarray, focal: float, scale_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Parameters that leave the matches the least vertical disparity (robust least squares, see the
    module's description), and which matches they keep."""
    from scipy.optimize import least_squares

    def residuals(params: np.ndarray, keep: np.ndarray) -> np.ndarray:
        a, b = _rectified(params, label, left[keep], right[keep])
        return np.concatenate([focal * (a[:, 1] - b[:, 1]), _PRIOR_WEIGHT * focal * params])

    keep = np.ones(len(left), bool)
    params = np.zeros(5)
    for loss, spread in (("cauchy", 3.0 * scale_px), ("huber", None)):
        if spread is None:  # the matches' own spread, robustly, from the first fit
            vertical = residuals(params, np.ones(len(left), bool))[: len(left)]
            sigma = max(1.4826 * float(np.median(np.abs(vertical))), 0.1 * scale_px)
            keep = np.abs(vertical) <= max(3.0 * sigma, 0.5 * scale_px)
            spread = 1.345 * sigma
            if keep.sum() < MIN_MATCHES:
                break
        params = least_squares(residuals, params, args=(keep,), loss=loss, f_scale=spread, x_scale=1e-3).x
    vertical = residuals(params, np.ones(len(left), bool))[: len(left)]
    sigma = max(1.4826 * float(np.median(np.abs(vertical[keep]))) if keep.any() else 0.0, 0.1 * scale_px)
    keep &= np.abs(vertical) <= max(3.0 * sigma, 0.5 * scale_px)
    return params, keep


def _matches(
    left: np.ndarray, right: np.ndarray, cameras: tuple[Camera, Camera], label: np.ndarray, working: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Matched feature points (N, 2 each, continuous frame coordinates) of the two eyes that the labels'
    geometry allows, and how many frame pixels a pixel of the copy they were found on spans."""
    found = [_sift(image, working) for image in (left, right)]
    scale_px = max(1.0, math.sqrt(cameras[0].width * cameras[0].height / working))
    if min(len(points) for points, _ in found) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2)), scale_px
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = [m for m in matcher.knnMatch(found[0][1], found[1][1], k=2) if len(m) == 2]
    good = [m[0] for m in pairs if m[0].distance < _RATIO * m[1].distance]
    if not good:
        return np.zeros((0, 2)), np.zeros((0, 2)), scale_px
    a = found[0][0][[m.queryIdx for m in good]]
    b = found[1][0][[m.trainIdx for m in good]]
    # Under the labels' geometry a match lies on (nearly) the same row in both eyes, and never further right
    # in the right eye than in the left (that would be beyond infinity).
    ra, rb = _rectified(np.zeros(5), label, cameras[0].rays(a), cameras[1].rays(b))
    focal = cameras[0].focal_px
    slack = math.tan(math.radians(MAX_TURN_DEG))
    plausible = (np.abs(ra[:, 1] - rb[:, 1]) <= slack) & (ra[:, 0] - rb[:, 0] >= -slack)
    plausible &= np.abs(ra[:, 0] - rb[:, 0]) * focal <= cameras[0].width
    return a[plausible], b[plausible], scale_px


def _sift(image: np.ndarray, working_pixels: float) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints (Lowe 2004) of a frame, at continuous pixel coordinates of the frame (N, 2), and their
    descriptors (N, 128). A frame larger than ``working_pixels`` is searched on a copy scaled down to that
    size. The two eyes see the ground from 270 mm apart, so a match may lie anywhere along its row: features
    that do not depend on a predicted position are what finds it."""
    from farside.scenes.refine import grey_copy

    grey = grey_copy(image, working_pixels)
    height, width = image.shape[:2]
    # Without the precise upscale, OpenCV's doubled first octave puts every keypoint a quarter pixel off
    # (opencv/opencv#23123).
    sift = cv2.SIFT_create(nfeatures=_MAX_FEATURES, enable_precise_upscale=True)
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    # Keypoints count pixel centres at integers; the geometry puts them at + 0.5, and a scaled copy's
    # pixel edges fall on the frame's.
    scale = np.array([grey.shape[1] / width, grey.shape[0] / height])
    points = (np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2) + 0.5) / scale
    return points, np.zeros((0, 128), np.float32) if descriptors is None else descriptors


def _largest_box(polygons: Sequence[np.ndarray]) -> tuple[int, int, int, int]:
    """The largest rectangle of whole pixels (x0, y0, x1, y1) inside every convex polygon (vertices (N, 2)
    in continuous coordinates, in order round it)."""
    everything = np.concatenate(polygons)
    top, bottom = int(np.floor(everything[:, 1].min())), int(np.ceil(everything[:, 1].max()))
    ys = np.arange(top, bottom + 1, dtype=np.float64)
    lo, hi = np.full(len(ys), -np.inf), np.full(len(ys), np.inf)
    for polygon in polygons:
        start, end = polygon, np.roll(polygon, -1, axis=0)
        left, right = np.full(len(ys), np.inf), np.full(len(ys), -np.inf)
        for (x0, y0), (x1, y1) in zip(start, end, strict=True):
            low, high = min(y0, y1), max(y0, y1)
            inside = (ys >= low - 1e-9) & (ys <= high + 1e-9)
            if high - low < 1e-12:  # a level edge: the row it lies on meets all of it
                left = np.where(inside, np.minimum(left, min(x0, x1)), left)
                right = np.where(inside, np.maximum(right, max(x0, x1)), right)
                continue
            xs = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
            left = np.where(inside, np.minimum(left, xs), left)
            right = np.where(inside, np.maximum(right, xs), right)
        lo, hi = np.maximum(lo, left), np.minimum(hi, right)
    # A row of pixels (y to y + 1) lies inside where both its edges do (the polygons are convex).
    first = np.ceil(np.maximum(lo[:-1], lo[1:]))
    last = np.floor(np.minimum(hi[:-1], hi[1:]))
    best, box = 0, (0, 0, 0, 0)
    for row in range(len(first)):
        lefts = np.maximum.accumulate(first[row:])
        rights = np.minimum.accumulate(last[row:])
        widths = np.where(np.isfinite(lefts) & np.isfinite(rights), rights - lefts, 0.0)
        areas = np.maximum(widths, 0.0) * np.arange(1, len(widths) + 1)
        tallest = int(np.argmax(areas))
        if areas[tallest] > best:
            best = float(areas[tallest])
            box = (int(lefts[tallest]), top + row, int(rights[tallest]), top + row + tallest + 1)
    if best <= 0:
        raise FarsideError("the two eyes share no part of the scene once aligned")
    return box


def _outline(homography: np.ndarray, camera: Camera) -> np.ndarray:
    corners = np.array([[0, 0, 1], [camera.width, 0, 1], [camera.width, camera.height, 1],
                        [0, camera.height, 1]], np.float64)  # fmt: skip
    mapped = corners @ homography.T
    return mapped[:, :2] / mapped[:, 2:]


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def align(
    left: np.ndarray,
    right: np.ndarray,
    cameras: Camera | tuple[Camera, Camera],
    pointings: tuple[Any, Any] = (None, None),
    *,
    parallax_px: float | None = None,
    working_pixels: float = 0.5e6,
) -> Alignment:
    """Align a stereo pair (see the module's description): the two eyes' display images (uint8, grey or
    RGB), their cameras (one for both, or one each) and their labels' pointing ((azimuth, elevation, roll)
    each, or None where the label gives none). ``parallax_px`` puts that disparity (frame pixels) at the
    screen instead of the near ground's; features are sought on copies of at most ``working_pixels``."""
    if isinstance(cameras, Camera):
        cameras = (cameras, cameras)
    label = np.eye(3)
    if pointings[0] is not None and pointings[1] is not None:
        label = orientation(*pointings[1]).T @ orientation(*pointings[0])  # right_from_left
    a, b, scale_px = _matches(left, right, cameras, label, working_pixels)
    focal = cameras[0].focal_px
    params = np.zeros(5)
    source, note = "labels", ""
    keep = np.ones(len(a), bool)
    if len(a) >= MIN_MATCHES:
        fitted, kept = _fit(label, cameras[0].rays(a), cameras[1].rays(b), focal, scale_px)
        turn = math.degrees(float(np.linalg.norm(fitted[:3])))
        if kept.sum() < MIN_MATCHES:
            note = f"only {int(kept.sum())} of {len(a)} matched features agree (needs {MIN_MATCHES})"
        elif turn > MAX_TURN_DEG or np.abs(fitted[3:]).max() > math.tan(math.radians(5 * MAX_TURN_DEG)):
            note = f"the features put the eyes {turn:.2f} degrees from the labels' pointing: not believed"
        else:
            params, keep, source = fitted, kept, "features"
    else:
        note = f"{len(a)} features matched between the eyes (needs {MIN_MATCHES})"
    if note:
        note = f"{note}; aligned by the labels' pointing alone"
    rotation, baseline = _model(params, label)
    frame = rectifying(rotation, baseline)
    ra, rb = _rectified(params, label, cameras[0].rays(a[keep]), cameras[1].rays(b[keep]))
    residual = None
    if source == "features":
        vertical = np.abs(focal * (ra[:, 1] - rb[:, 1]))
        residual = (float(np.median(vertical)), float(vertical.max()))
    if parallax_px is not None:
        parallax, parallax_source = float(parallax_px), "given"
    elif len(ra) >= 5:
        near = np.argsort(ra[:, 1])[-max(5, int(len(ra) * _NEAR_GROUND)) :]
        parallax = float(np.median(focal * (ra[near, 0] - rb[near, 0])))
        parallax_source = f"median disparity of the near ground ({len(near)} matched features)"
    else:
        parallax, parallax_source = 0.0, "none measured: infinity is at the screen"
    ka, kb = cameras[0].matrix(), cameras[1].matrix()
    k = ka.copy()  # the output's camera: the left eye's focal length and principal point
    h_left = k @ frame @ np.linalg.inv(ka)
    h_right = _translation(parallax, 0.0) @ k @ frame @ rotation.T @ np.linalg.inv(kb)
    x0, y0, x1, y1 = _largest_box([_outline(h_left, cameras[0]), _outline(h_right, cameras[1])])
    crop = _translation(-x0, -y0)
    return Alignment(crop @ h_left, crop @ h_right, (x1 - x0, y1 - y0), source, len(a), rotation, baseline,
                     parallax, parallax_source, residual, focal, note)  # fmt: skip


def _opencv(homography: np.ndarray) -> np.ndarray:
    """A homography between continuous coordinates (pixel centres at + 0.5) as OpenCV takes it (pixel
    centres at integers)."""
    return _translation(-0.5, -0.5) @ homography @ _translation(0.5, 0.5)


def warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resampled through ``homography`` (frame to output) onto an output of ``size`` (width,
    height): bicubic, in the image's own type (floats are not clipped)."""
    return cv2.warpPerspective(image, _opencv(homography), tuple(size), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def warp_pair(left: np.ndarray, right: np.ndarray, alignment: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """Both eyes resampled onto the aligned output."""
    return warp(left, alignment.left, alignment.size), warp(right, alignment.right, alignment.size)


__all__ = [
    "MAX_GAP_S",
    "MIN_MATCHES",
    "Alignment",
    "Pairs",
    "StereoFrame",
    "align",
    "find_pairs",
    "pair_frames",
    "rectifying",
    "stereo_frame",
    "warp",
    "warp_pair",
]
