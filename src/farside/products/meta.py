"""Typed metadata of a product, read from its label (and, for identity, its file name).

Every field is ``None`` (or empty) where the label lacks it; nothing is guessed. Element names are matched
case-insensitively and with the misspellings real labels carry (``principle_point_coordinate``,
``mast_angel_yaw``, ``lander_solar_incidence_angel``...).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from farside.errors import ProductNameError
from farside.products.label import find_named, iter_named, local_name, parse_real, text_of
from farside.products.names import ProductName, parse_name, split_instrument

Vector3 = tuple[float, float, float]


@dataclass(frozen=True)
class Meta:
    """What a product's label says about the observation.

    Units: lengths as named (``focal_length_mm``, ``pixel_size_um``), angles in degrees, times in UTC.
    ``exposure_time`` is the label's number with its unit in ``exposure_time_unit`` (None when the label
    gives none: GRAS labels do not say).
    """

    product_id: str | None = None
    mission: str | None = None
    instrument: str | None = None
    camera: str | None = None
    mode: str | None = None
    level: str | None = None
    version: str | None = None
    sequence_id: str | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    instrument_name: str | None = None
    data_flag: str | None = None
    work_mode: str | None = None
    exposure_mode: str | None = None
    exposure_time: float | None = None
    exposure_time_unit: str | None = None
    compression_ratio: float | None = None
    temperatures: dict[str, float] = field(default_factory=dict)
    focal_length_mm: float | None = None
    pixel_size_um: float | None = None
    principal_point: tuple[float, float] | None = None
    principal_point_unit: str | None = None
    bands_nm: str | None = None
    central_wavelength_nm: float | None = None
    bandwidth_nm: float | None = None
    location_of: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    rover_xyz: Vector3 | None = None
    mast_yaw: float | None = None
    mast_pitch: float | None = None
    mast_roll: float | None = None
    camera_position: Vector3 | None = None
    camera_rotation: Vector3 | None = None
    view_vectors: dict[str, Vector3] = field(default_factory=dict)
    solar_incidence: float | None = None
    solar_azimuth: float | None = None
    radiometric_coefficients: tuple[float, ...] | None = None
    object_statistics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 strings)."""
        out = asdict(self)
        for key in ("start_time", "stop_time"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)

_LENGTH_TO_MM = {"mm": 1.0, "m": 1000.0, "cm": 10.0, "micrometer": 1e-3, "um": 1e-3, "μm": 1e-3}
_LENGTH_TO_UM = {k: v * 1000.0 for k, v in _LENGTH_TO_MM.items()}


def _float(element: etree._Element | None) -> float | None:
    return parse_real(text_of(element))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _unit(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    unit = element.get("unit")
    return unit.strip() if unit else None


def _length(element: etree._Element | None, table: dict[str, float]) -> float | None:
    value = _float(element)
    unit = (_unit(element) or "").lower()
    if value is None:
        return None
    return _finite(value * table.get(unit, 1.0))


def _angle(element: etree._Element | None) -> float | None:
    value = _float(element)
    if value is not None and (_unit(element) or "").lower() in ("rad", "radian", "radians"):
        return _finite(math.degrees(value))
    return value


def _vector(element: etree._Element | None) -> Vector3 | None:
    if element is None:
        return None
    parts = [_float(find_named(element, axis)) for axis in ("x", "y", "z")]
    if any(p is None for p in parts):
        return None
    return (parts[0], parts[1], parts[2])  # type: ignore[return-value]


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    try:
        return stamp.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None


def parse_coefficients(text: str | None) -> tuple[float, ...] | None:
    """Numbers from a coefficient string such as TCAM's ``acali`` ``"(0.101194,0.144425,0.311526)"``.

    >>> parse_coefficients("(0.101194,0.144425,0.311526)")
    (0.101194, 0.144425, 0.311526)
    """
    if not text:
        return None
    numbers = tuple(float(n) for n in _NUMBER.findall(text))
    if not all(math.isfinite(n) for n in numbers):
        return None
    return numbers or None


def _name_fields(path_name: str) -> ProductName | None:
    try:
        return parse_name(path_name)
    except ProductNameError:
        return None


def _first(scope: etree._Element | None, *names: str) -> etree._Element | None:
    return find_named(scope, *names)


def meta_from_pds4(root: etree._Element, file_name: str) -> Meta:
    """Build :class:`Meta` from a PDS4 label tree; ``file_name`` fills identity the label lacks."""
    mission_area = _first(root, "Mission_Area")
    scope = mission_area if mission_area is not None else root

    product_id = text_of(_first(scope, "product_id")) or text_of(_first(root, "logical_identifier"))
    named = _name_fields(product_id or "") or _name_fields(file_name)
    instrument, camera = None, None
    instrument_id = text_of(_first(scope, "instrument_id"))
    if instrument_id:
        instrument, camera = split_instrument(instrument_id)
    if named is not None:
        instrument = named.instrument if instrument in (None, named.instrument) else instrument
        camera = camera or named.camera

    time_area = _first(root, "Time_Coordinates")
    start = _time(text_of(_first(time_area, "start_date_time")))
    stop = _time(text_of(_first(time_area, "stop_date_time")))

    exposure = _first(scope, "exposure_time")
    point = _first(scope, "principle_point_coordinate", "principal_point_coordinate")
    principal = None
    if point is not None:
        x0, y0 = _float(_first(point, "x0", "x")), _float(_first(point, "y0", "y"))
        if x0 is not None and y0 is not None:
            principal = (x0, y0)

    location_el = _first(scope, "Rover_Location", "Lander_Location")
    location_of = None
    if location_el is not None:
        location_of = "rover" if local_name(location_el) == "rover_location" else "lander"

    rotation = _first(scope, "Rotation_Angle", "Mast_Rotation_Angle")
    orientation = _first(scope, "Exterior_Orientation_Elements")
    camera_position = None
    camera_rotation = None
    if orientation is not None:
        position = [_float(_first(orientation, f"camera_center_position_{a}")) for a in "xyz"]
        if all(p is not None for p in position):
            camera_position = tuple(position)
        angles = [_angle(_first(orientation, f"camera_rotation_angle_{a}")) for a in ("roll", "pitch", "yaw")]
        if all(a is not None for a in angles):
            camera_rotation = tuple(angles)

    pointing = _first(scope, "Vector_Cartesian_3_Pointing")
    vectors: dict[str, Vector3] = {}
    if pointing is not None:
        for child in pointing:
            if isinstance(child.tag, str) and local_name(child).endswith("_vector"):
                vector = _vector(child)
                if vector is not None:
                    vectors[local_name(child)] = vector

    temperatures = {
        etree.QName(el).localname: value
        for el in iter_named(scope, *_temperature_names(scope))
        if (value := _float(el)) is not None
    }

    statistics_el = _first(root, "Object_Statistics")
    statistics = {}
    if statistics_el is not None:
        for child in statistics_el:
            if isinstance(child.tag, str) and (value := _float(child)) is not None:
                statistics[local_name(child)] = value

    coefficients = parse_coefficients(
        text_of(_first(scope, "acali", "absolute_radiation_calibration_parameter"))
    )

    return Meta(
        product_id=product_id or (named.product_id if named else None),
        mission=named.mission if named else text_of(_first(root, "Investigation_Area")),
        instrument=instrument,
        camera=camera,
        mode=named.mode if named else None,
        level=text_of(_first(scope, "product_level")) or (named.level if named else None),
        version=text_of(_first(scope, "product_version")) or (named.version if named else None),
        sequence_id=text_of(_first(scope, "sequence_id")) or (named.sequence_id if named else None),
        start_time=start or (named.start_time if named else None),
        stop_time=stop or (named.stop_time if named else None),
        instrument_name=text_of(_first(scope, "instrument_name")),
        data_flag=named.data_flag if named else None,
        work_mode=text_of(_first(scope, "work_mode")),
        exposure_mode=text_of(_first(scope, "exposure_mode")),
        exposure_time=_float(exposure),
        exposure_time_unit=_unit(exposure),
        compression_ratio=_float(_first(scope, "compression_ratio")),
        temperatures=temperatures,
        focal_length_mm=_length(_first(scope, "focal_length"), _LENGTH_TO_MM),
        pixel_size_um=_length(_first(scope, "pixel_size"), _LENGTH_TO_UM),
        principal_point=principal,
        principal_point_unit=_unit(point) or _unit(_first(point, "x0", "x")),
        bands_nm=text_of(_first(scope, "bands")),
        central_wavelength_nm=_float(_first(scope, "central_wavelength")),
        bandwidth_nm=_float(_first(scope, "full_width_half_max", "bandwidth")),
        location_of=location_of,
        longitude=_angle(_first(location_el, "longitude")),
        latitude=_angle(_first(location_el, "latitude")),
        rover_xyz=_vector(_first(scope, "Rover_LocationXYZ")),
        mast_yaw=_angle(_first(rotation, "mast_angel_yaw", "mast_angle_yaw", "yawing", "yaw")),
        mast_pitch=_angle(_first(rotation, "mast_angel_pitch", "mast_angle_pitch", "pitch")),
        mast_roll=_angle(_first(rotation, "mast_angel_roll", "mast_angle_roll", "roll")),
        camera_position=camera_position,  # type: ignore[arg-type]
        camera_rotation=camera_rotation,  # type: ignore[arg-type]
        view_vectors=vectors,
        solar_incidence=_angle(
            _first(
                scope, "lander_solar_incidence_angel", "lander_solar_incidence_angle", "solar_incidence_angle"
            )
        ),
        solar_azimuth=_angle(
            _first(scope, "lander_solar_azimuth_angle", "lander_solar_azimuth_angel", "solar_azimuth_angle")
        ),
        radiometric_coefficients=coefficients,
        object_statistics=statistics,
    )


def _temperature_names(scope: etree._Element) -> list[str]:
    return sorted({local_name(el) for el in scope.iter() if local_name(el).endswith("temperature")}) or [
        "temperature"
    ]


def meta_from_pds3(keywords: dict[str, Any], file_name: str) -> Meta:
    """Build :class:`Meta` from the flat keyword dict of a PDS3 label."""
    named = _name_fields(str(keywords.get("PRODUCT_ID", "")).strip('"')) or _name_fields(file_name)

    def number(*keys: str) -> float | None:
        for key in keys:
            value = keywords.get(key)
            if value is None:
                continue
            found = _NUMBER.search(str(value))
            if found:
                return _finite(float(found.group()))
        return None

    def text(key: str) -> str | None:
        value = keywords.get(key)
        return value if isinstance(value, str) else None

    return Meta(
        product_id=str(keywords.get("PRODUCT_ID", "")).strip('"') or (named.product_id if named else None),
        mission=named.mission if named else None,
        instrument=named.instrument if named else text("INSTRUMENT_ID"),
        camera=named.camera if named else None,
        mode=named.mode if named else None,
        level=named.level if named else None,
        version=named.version if named else None,
        sequence_id=named.sequence_id if named else None,
        start_time=_time(str(keywords.get("START_TIME", "")).strip('"'))
        or (named.start_time if named else None),
        stop_time=_time(str(keywords.get("STOP_TIME", "")).strip('"'))
        or (named.stop_time if named else None),
        instrument_name=text("INSTRUMENT_NAME"),
        data_flag=named.data_flag if named else None,
        exposure_time=number("EXPOSURE_DURATION", "EXPOSURE_TIME"),
        focal_length_mm=number("FOCAL_LENGTH"),
    )
