"""Pinhole cameras at mast pointing, and the directions their pixels look in.

Conventions
-----------
Directions are azimuth and elevation in degrees. Azimuth is measured like the mast yaw: it grows to the right
(clockwise seen from above), 0 where the mast yaw is 0; elevation grows upwards, 0 at the mast's horizon.
As vectors (a right-handed world frame): x to azimuth 90°, y to azimuth 0°, z up.

Pixel coordinates are continuous, with the centre of pixel (column i, row j) at (i + 0.5, j + 0.5), so a
frame spans [0, width] x [0, height]; the camera frame has x to the right of the image, y down it and z
along the optical axis (OpenCV's convention).

A camera pointed at azimuth ``a``, elevation ``e`` and rolled by ``r`` (positive: the image's right side
turns up) has ``world_from_camera = Yaw(a) Pitch(e) Roll(r) B``, where ``B`` takes the camera's axes to the
world's at zero pointing (x to x, y down to -z, z forward to y). The mast yaw and pitch give ``a`` and
``e`` through the profile's ``optics.yaw_sign`` and ``optics.pitch_sign``, since which way a positive
angle turns is not stated for every camera.

>>> camera = Camera(width=2352, height=1728, focal_px=50 / 7.4e-3)
>>> [round(v, 2) for v in camera.field_of_view()]
[19.75, 14.57]
>>> rotation = orientation(30.0, -10.0)
>>> [round(float(v), 6) for v in pixel_directions(camera, rotation, 1176.0, 864.0)]
[30.0, -10.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from farside.errors import SettingsError

# Camera axes (x right, y down, z forward) in the world frame (x right, y forward, z up) at zero pointing.
_CAMERA_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: frame size in pixels, focal length in pixels and the principal point (continuous
    pixel coordinates; the frame's centre when not given)."""

    width: int
    height: int
    focal_px: float
    cx: float | None = None
    cy: float | None = None

    @property
    def centre(self) -> tuple[float, float]:
        cx = self.width / 2 if self.cx is None else self.cx
        cy = self.height / 2 if self.cy is None else self.cy
        return cx, cy

    def matrix(self) -> np.ndarray:
        """The 3 x 3 intrinsic matrix (for pixel centres at integer + 0.5 coordinates)."""
        cx, cy = self.centre
        return np.array([[self.focal_px, 0, cx], [0, self.focal_px, cy], [0, 0, 1]], dtype=np.float64)

    def rays(self, points: np.ndarray) -> np.ndarray:
        """Unit vectors in the camera frame (x right, y down, z forward) through continuous pixel
        coordinates ``points`` (N, 2; pixel centres at + 0.5).

        >>> Camera(width=4, height=2, focal_px=2.0).rays(np.array([[2.0, 1.0]])).tolist()
        [[0.0, 0.0, 1.0]]
        """
        cx, cy = self.centre
        rays = np.column_stack([(points[:, 0] - cx) / self.focal_px, (points[:, 1] - cy) / self.focal_px,
                                np.ones(len(points))])  # fmt: skip
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def binned(self, factor: int) -> Camera:
        """The camera of this frame reduced ``factor`` times by binning (``factor`` x ``factor`` blocks from
        the top-left corner, as a half-size image of a Bayer mosaic is made).

        >>> Camera(width=2352, height=1728, focal_px=6756.8).binned(2)
        Camera(width=1176, height=864, focal_px=3378.4, cx=588.0, cy=432.0)
        """
        cx, cy = self.centre
        return Camera(self.width // factor, self.height // factor, self.focal_px / factor, cx / factor,
                      cy / factor)  # fmt: skip

    def field_of_view(self) -> tuple[float, float]:
        """Horizontal and vertical field of view in degrees (about the principal point)."""
        return (
            math.degrees(2 * math.atan(self.width / 2 / self.focal_px)),
            math.degrees(2 * math.atan(self.height / 2 / self.focal_px)),
        )


def camera_model(settings: Any, meta: Any, shape: tuple[int, ...]) -> Camera:
    """The camera of a frame of ``shape`` (lines, samples[, bands]): focal length, pixel size and principal
    point from the label where it gives them, else from the profile's ``[optics]``.

    Raises :class:`~farside.errors.SettingsError` when neither gives a focal length and a pixel size.
    """
    focal_mm = getattr(meta, "focal_length_mm", None) or settings.focal_length_mm
    pixel_um = getattr(meta, "pixel_size_um", None) or settings.pixel_size_um
    if not focal_mm or not pixel_um or focal_mm <= 0 or pixel_um <= 0:
        raise SettingsError(
            "no camera model: the label gives no focal length and pixel size, and neither does the profile "
            "(set optics.focal_length_mm and optics.pixel_size_um)"
        )
    cx = cy = None
    label_point = getattr(meta, "principal_point", None)
    unit = (getattr(meta, "principal_point_unit", None) or "").lower()
    # Only a point stated in pixels is a position on the frame; labels without a unit give offsets (mm).
    if label_point is not None and unit.startswith(("pix", "px")):
        cx, cy = (float(v) for v in label_point)
    elif min(settings.principal_point) >= 0:
        cx, cy = (float(v) for v in settings.principal_point)
    return Camera(width=int(shape[1]), height=int(shape[0]), focal_px=focal_mm * 1e3 / pixel_um, cx=cx, cy=cy)


def mast_pointing(meta: Any, settings: Any) -> tuple[float, float, float] | None:
    """(azimuth, elevation, roll) of a frame's optical axis in degrees from the label's mast angles and the
    profile's sign conventions; None when the label gives no yaw or pitch."""
    if getattr(meta, "mast_yaw", None) is None or getattr(meta, "mast_pitch", None) is None:
        return None
    roll = getattr(meta, "mast_roll", None) or 0.0
    return settings.yaw_sign * meta.mast_yaw, settings.pitch_sign * meta.mast_pitch, roll


def orientation(azimuth: float, elevation: float, roll: float = 0.0) -> np.ndarray:
    """``world_from_camera`` rotation (3 x 3) of a camera whose optical axis points at ``azimuth`` and
    ``elevation`` (degrees), rolled by ``roll`` degrees (the image's right side up).

    >>> np.round(orientation(90.0, 0.0) @ [0, 0, 1], 12).tolist()
    [1.0, 0.0, 0.0]
    """
    a, e, r = (math.radians(v) for v in (azimuth, elevation, roll))
    yaw = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])
    pitch = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    spin = np.array([[math.cos(r), 0, -math.sin(r)], [0, 1, 0], [math.sin(r), 0, math.cos(r)]])
    return yaw @ pitch @ spin @ _CAMERA_AXES


def directions(azimuth: Any, elevation: Any) -> np.ndarray:
    """Unit vectors (..., 3) of directions given in degrees."""
    a, e = np.radians(azimuth), np.radians(elevation)
    return np.stack(np.broadcast_arrays(np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)), axis=-1)


def angles(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth in (-180, 180] and elevation of vectors (..., 3), in degrees."""
    x, y, z = np.moveaxis(np.asarray(vectors, dtype=np.float64), -1, 0)
    return np.degrees(np.arctan2(x, y)), np.degrees(np.arctan2(z, np.hypot(x, y)))


def pixel_directions(camera: Camera, rotation: np.ndarray, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (degrees) that the continuous pixel coordinates (u, v) look at."""
    cx, cy = camera.centre
    u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
    rays = np.stack([(u - cx) / camera.focal_px, (v - cy) / camera.focal_px, np.ones_like(u)], axis=-1)
    return angles(rays @ rotation.T)


def project(
    camera: Camera, rotation: np.ndarray, azimuth: Any, elevation: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous pixel coordinates (u, v) where directions fall in a camera, and whether each lies in front
    of it (behind the camera, u and v are meaningless)."""
    cx, cy = camera.centre
    in_camera = directions(azimuth, elevation) @ rotation  # rotation.T applied to row vectors
    z = in_camera[..., 2]
    ahead = z > 1e-9
    safe = np.where(ahead, z, 1.0)
    return (
        cx + camera.focal_px * in_camera[..., 0] / safe,
        cy + camera.focal_px * in_camera[..., 1] / safe,
        ahead,
    )


@dataclass(frozen=True)
class Equirectangular:
    """An azimuth/elevation grid: pixel (x, y), centre at (x + 0.5, y + 0.5), looks at azimuth
    ``azimuth_left_deg + (x + 0.5) * degrees_per_pixel`` and elevation
    ``elevation_top_deg - (y + 0.5) * degrees_per_pixel``.

    >>> grid = Equirectangular(0.5, -10.0, 20.0, 40, 20)
    >>> [float(v) for v in grid.angles_of(0, 0)]
    [-9.75, 19.75]
    >>> [float(v) for v in grid.pixel_of(-9.75, 19.75)]
    [0.0, 0.0]
    """

    degrees_per_pixel: float
    azimuth_left_deg: float
    elevation_top_deg: float
    width: int
    height: int

    kind: ClassVar[str] = "equirectangular"
    elevation_formula: ClassVar[str] = "elevation_top_deg - (y + 0.5) * degrees_per_pixel"

    def _row_of(self, elevation: Any) -> Any:
        """Continuous row coordinate (0 at the top edge) of an elevation."""
        return (self.elevation_top_deg - np.asarray(elevation)) / self.degrees_per_pixel

    def _elevation_at(self, row: Any) -> Any:
        """Elevation at a continuous row coordinate (inverse of :meth:`_row_of`)."""
        return self.elevation_top_deg - np.asarray(row) * self.degrees_per_pixel

    def angles_of(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Azimuth and elevation (degrees) that the centres of pixels (x, y) look at."""
        azimuth = self.azimuth_left_deg + (np.asarray(x) + 0.5) * self.degrees_per_pixel
        return azimuth, self._elevation_at(np.asarray(y) + 0.5)

    def pixel_of(self, azimuth: Any, elevation: Any) -> tuple[Any, Any]:
        """Pixel indices (as floats: the pixel whose centre is nearest is their rounding) of directions."""
        d = self.degrees_per_pixel
        return (np.asarray(azimuth) - self.azimuth_left_deg) / d - 0.5, self._row_of(elevation) - 0.5

    @property
    def full_circle(self) -> bool:
        """Whether the grid's columns go all the way round (its left and right edges meet)."""
        return self.width * self.degrees_per_pixel >= 360.0 - 1e-9

    @classmethod
    def covering(cls, degrees_per_pixel: float, left: float, right: float, top: float, bottom: float) -> Any:
        """The smallest grid of this projection holding azimuths ``left..right`` and elevations
        ``bottom..top`` (degrees) at ``degrees_per_pixel``; at most one full circle wide."""
        width_deg = min(right - left, 360.0)
        if width_deg >= 360.0 - 1e-6:
            width = round(360.0 / degrees_per_pixel)
            degrees_per_pixel = 360.0 / width  # a whole number of columns, so the ends meet exactly
        else:
            width = max(1, int(np.ceil(width_deg / degrees_per_pixel)))
        probe = cls(degrees_per_pixel, left, top, width, 1)
        height = max(1, int(np.ceil(float(probe._row_of(bottom)))))
        return cls(degrees_per_pixel, left, top, width, height)

    def scaled(self, factor: float) -> Any:
        """The same projection with the same top-left corner, ``factor`` times as many pixels per degree."""
        right = self.azimuth_left_deg + self.width * self.degrees_per_pixel
        bottom = float(self._elevation_at(self.height))
        return type(self).covering(
            self.degrees_per_pixel / factor, self.azimuth_left_deg, right, self.elevation_top_deg, bottom
        )

    def to_dict(self) -> dict[str, Any]:
        """The projection as a panorama's sidecar states it, with the formulas that map a pixel (x, y)
        to the direction its centre looks at."""
        return {
            "type": self.kind,
            "degrees_per_pixel": self.degrees_per_pixel,
            "azimuth_left_deg": self.azimuth_left_deg,
            "elevation_top_deg": self.elevation_top_deg,
            "width": self.width,
            "height": self.height,
            "azimuth_deg": "azimuth_left_deg + (x + 0.5) * degrees_per_pixel",
            "elevation_deg": self.elevation_formula,
        }


@dataclass(frozen=True)
class Cylindrical(Equirectangular):
    """A cylindrical grid: columns as in :class:`Equirectangular`, rows evenly spaced in the tangent of the
    elevation, as on a cylinder round the camera (vertical lines stay straight, and so do horizontal ones
    through the middle). Pixel (x, y) looks at azimuth ``azimuth_left_deg + (x + 0.5) * degrees_per_pixel``
    and elevation ``atan(tan(elevation_top_deg) - (y + 0.5) * radians(degrees_per_pixel))``.

    >>> grid = Cylindrical(0.5, -10.0, 20.0, 40, 20)
    >>> [round(float(v), 4) for v in grid.angles_of(0, 0)]
    [-9.75, 19.7789]
    >>> [round(float(v), 9) for v in grid.pixel_of(*grid.angles_of(3, 7))]
    [3.0, 7.0]
    """

    kind: ClassVar[str] = "cylindrical"
    elevation_formula: ClassVar[str] = (
        "degrees(atan(tan(radians(elevation_top_deg)) - (y + 0.5) * radians(degrees_per_pixel)))"
    )

    def _row_of(self, elevation: Any) -> Any:
        top = math.tan(math.radians(self.elevation_top_deg))
        return (top - np.tan(np.radians(elevation))) / math.radians(self.degrees_per_pixel)

    def _elevation_at(self, row: Any) -> Any:
        top = math.tan(math.radians(self.elevation_top_deg))
        return np.degrees(np.arctan(top - np.asarray(row) * math.radians(self.degrees_per_pixel)))


PROJECTIONS = {grid.kind: grid for grid in (Equirectangular, Cylindrical)}


def grid_from_dict(projection: dict[str, Any]) -> Equirectangular:
    """The grid a sidecar's ``projection`` states (:meth:`Equirectangular.to_dict`)."""
    keys = ("degrees_per_pixel", "azimuth_left_deg", "elevation_top_deg", "width", "height")
    return PROJECTIONS[projection["type"]](*(projection[k] for k in keys))


__all__ = [
    "PROJECTIONS",
    "Camera",
    "Cylindrical",
    "Equirectangular",
    "angles",
    "camera_model",
    "directions",
    "grid_from_dict",
    "mast_pointing",
    "orientation",
    "pixel_directions",
    "project",
]
