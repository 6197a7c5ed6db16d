"""Synthetic GRAS products: real structure and quirks, made-up pixels.

Real GRAS files may not be redistributed, so farside's tests, samples and benchmarks build products that
follow the published facts about them (file names, label structure and misspellings, data types, shapes,
CFA), with pixels from any scene the caller gives (the Kodak test images, typically), recorded as a real
camera delivers them: through optics (a point-spread function) and with shot and read noise
(:class:`SensorModel`, :func:`record`), which can also plant hot, dead and stuck pixels.

Examples
--------
>>> import numpy as np, tempfile
>>> scene = np.full((64, 96, 3), 128, np.uint8)
>>> with tempfile.TemporaryDirectory() as d:
...     label = write_product("ce4-pcam-c", scene, d, shape=(64, 96))
...     label.name
'CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from lxml import etree

from farside.cfa import mosaic
from farside.products.datatypes import PDS4_DTYPES

PDS_NS = "http://pds.nasa.gov/pds4/pds/v1"
# GRAS writes a comma-separated, malformed schemaLocation; keep it so readers are tested against it.
SCHEMA_LOCATION = (
    "http://pds.nasa.gov/pds4/pds/v1,https://starbase.jpl.nasa.gov/pds4/1500/dph_example_products/"
    "xml_schema/PDS4_PDS_1500.xsd,http://pds.nasa.gov/pds4/sp/v1 PDS4_SP_1001.xsd"
)

Element = tuple[str, Any] | tuple[str, Any, dict[str, str]]


@dataclass(frozen=True)
class ProductKind:
    """What a kind of product looks like: name fields, array layout and mission-specific block; its camera
    facts (CFA, bit depth, black level, encoding) come from the bundled instrument ``profile``."""

    mission: str
    centre: str
    instrument_field: str
    level: str
    version: str
    shape: tuple[int, ...]
    data_type: str
    profile: str
    instrument_id: str
    instrument_name: str
    spacecraft: str
    sequence: str = "0001"
    statistics: bool = False
    mission_area: list[Element] = field(default_factory=list)
    pds3_record_bytes: int | None = None

    @property
    def cfa(self) -> str | None:
        """Bayer pattern as stored (from the bundled profile), None for grey or RGB products."""
        cfa = str(_sensor(self.profile)["cfa"])
        return None if cfa.lower() == "none" or len(self.shape) == 3 else cfa.upper()

    @property
    def bit_depth(self) -> int:
        """Significant bits of the stored values (from the bundled profile)."""
        return int(_sensor(self.profile)["bit_depth"])

    @property
    def black_level(self) -> float:
        """Stored value of no light (from the bundled profile)."""
        return float(_sensor(self.profile)["black_level"])

    @property
    def encoding(self) -> str:
        """How values are stored (from the bundled profile): "linear" or "srgb" (display-encoded)."""
        return str(_sensor(self.profile)["input"])


@cache
def _sensor(profile: str) -> dict[str, Any]:
    """The ``[sensor]`` table of a bundled profile: the camera facts a kind's pixels follow."""
    from farside.profiles import load_profile

    return dict(load_profile(profile).values["sensor"])


def _vector(name: str, xyz: Sequence[float]) -> Element:
    return (name, [("x", f"{xyz[0]:.6f}"), ("y", f"{xyz[1]:.6f}"), ("z", f"{xyz[2]:.6f}")])


_TCAM_AREA: list[Element] = [
    (
        "Work_Mode_Parm",
        [
            ("work_mode", "STATIC"),
            ("exposure_mode", "AUTOMATIC"),
            ("compression_ratio", "2"),
            ("exposure_referenced_brightness", "128"),
            ("exposure_time", "6"),
            ("tcam_temperature", "21.095"),
        ],
    ),
    (
        "Instrument_Parm",
        [
            ("bands", "360-780"),
            ("focal_length", "43.472040"),
            ("pixel_size", "7.4"),
            ("principle_point_coordinate", [("x0", "-0.248344"), ("y0", "0.021904")]),
        ],
    ),
    (
        "Processing_Parm",
        [
            ("acali", "(0.101194,0.144425,0.311526)"),
            ("description", "Absolute radiometric calibration parameters of (R G B)"),
        ],
    ),
    (
        "Lander_Location",
        [
            ("reference_frame", "MOON_COORDINATE_SYSTEM"),
            ("longitude", "177.599100"),
            ("latitude", "-45.444600"),
        ],
    ),
    (
        "Vector_Cartesian_3_Pointing",
        [
            ("reference_frame", "LANDER_COORDINATE_SYSTEM"),
            _vector("up_left_point_observe_vector", (0.308288, -0.878190, -0.365707)),
            _vector("down_left_point_observe_vector", (0.282967, -0.737626, -0.613055)),
            _vector("up_right_point_observe_vector", (-0.076418, -0.931058, -0.356778)),
            _vector("down_right_point_observe_vector", (-0.101621, -0.790794, -0.603588)),
            _vector("center_point_observe_vector", (0.106315, -0.859804, -0.499434)),
        ],
    ),
    (
        "Exterior_Orientation_Elements",
        [
            ("reference_frame_id", "LANDER_COORDINATE_SYSTEM"),
            ("camera_center_position_x", "0.095217"),
            ("camera_center_position_y", "0.099420"),
            ("camera_center_position_z", "2.172139"),
            ("camera_rotation_angle_roll", "-59.233529"),
            ("camera_rotation_angle_pitch", "12.648912"),
            ("camera_rotation_angle_yaw", "-163.976745"),
        ],
    ),
    ("Rotation_Angle", [("mast_angel_pitch", "-30.000000"), ("mast_angel_yaw", "-172.000000")]),
    (
        "Angle_Pointing_Results",
        [("lander_solar_incidence_angel", "72.938297"), ("lander_solar_azimuth_angle", "288.443746")],
    ),
]


ROVER_LOCATION = (177.588, -45.457)  # longitude and latitude (degrees) of a Yutu-2 station near Von Karman


def pcam_mission_area(yaw: float = -12.898743, pitch: float = -23.907715, focal_length_mm: float = 50.0,
                      pixel_size_um: float = 7.4,
                      location: tuple[float, float] | None = None) -> list[Element]:  # fmt: skip
    """The Mission_Area of a PCAM label: optics, rover location (longitude, latitude in degrees; by default
    :data:`ROVER_LOCATION`), pointing (mast yaw and pitch)."""
    longitude, latitude = ROVER_LOCATION if location is None else location
    return [
        (
            "Instrument_Parm",
            [
                ("focal_length", f"{focal_length_mm}", {"unit": "mm"}),
                ("pixel_size", f"{pixel_size_um}", {"unit": "micrometer"}),
                ("principle_point_coordinate", [("x0", "0.0"), ("y0", "0.0")]),
            ],
        ),
        (
            "Rover_Location",
            [
                ("reference_frame", "MOON_COORDINATE_SYSTEM"),
                ("longitude", f"{longitude:.6f}"),
                ("latitude", f"{latitude:.6f}"),
            ],
        ),
        ("Rover_LocationXYZ", [("x", "1.250000"), ("y", "-3.500000"), ("z", "0.020000")]),
        (
            "Vector_Cartesian_3_Pointing",
            [
                ("reference_frame", "ROVER_COORDINATE_SYSTEM"),
                _vector("center_point_observe_vector", (0.906308, -0.211309, 0.366025)),
            ],
        ),
        (
            "Exterior_Orientation_Elements",
            [
                ("camera_rotation_angle_roll", "0.000000"),
                ("camera_rotation_angle_pitch", f"{pitch:.6f}"),
                ("camera_rotation_angle_yaw", f"{yaw:.6f}"),
            ],
        ),
        (
            "Rotation_Angle",
            [
                ("pitch", f"{pitch:.6f}"),
                ("yawing", f"{yaw:.6f}"),
                ("description", "Mast_Pointing_Instrument"),
            ],
        ),
    ]


_LCAM_AREA: list[Element] = [
    (
        "Instrument_Parm",
        [
            ("focal_length", "8.55", {"unit": "mm"}),
            ("pixel_size", "6.7", {"unit": "micrometer"}),
            (
                "principle_point_coordinate",
                [("x0", "512.3", {"unit": "pixel"}), ("y0", "511.8", {"unit": "pixel"})],
            ),
        ],
    ),
]

_MSCAM_AREA: list[Element] = [
    ("exposure_time", "12.5", {"unit": "ms"}),
    ("MSCcam_temperature", "-3.25"),
    ("central_wavelength", "650", {"unit": "nm"}),
    ("full_width_half_max", "12", {"unit": "nm"}),
    ("absolute_radiation_calibration_parameter", "0.0213"),
    ("Mast_Rotation_Angle", [("roll", "0.5"), ("pitch", "-10.0"), ("yaw", "45.0")]),
]

_NATECAM_AREA: list[Element] = [
    (
        "Instrument_Parm",
        [
            ("focal_length", "13.0", {"unit": "mm"}),
            ("pixel_size", "5.5", {"unit": "micrometer"}),
            ("Principal_Point_Coordinate", [("x0", "1024.0"), ("y0", "1024.0")]),
        ],
    ),
    (
        "Vector_Cartesian_3_Pointing",
        [
            _vector("Up_Left_Point_Observe_Vector", (0.5, -0.5, 0.7)),
            _vector("Down_Left_Point_Observe_vector", (0.5, -0.5, -0.7)),
        ],
    ),
]

KINDS: dict[str, ProductKind] = {
    "ce4-pcam-c": ProductKind(
        "CE4", "GRAS", "PCAML-C-006", "2B", "B", (1728, 2352), "UnsignedLSB2", "ce4-pcam-colour",
        "PCAML", "Panoramic Camera", "CE4Ro", statistics=True, mission_area=pcam_mission_area(),
    ),
    "ce4-pcam-q": ProductKind(
        "CE4", "GRAS", "PCAMR-Q-013", "2B", "B", (864, 1176), "UnsignedLSB2", "ce4-pcam-pan",
        "PCAMR", "Panoramic Camera", "CE4Ro", statistics=True, mission_area=pcam_mission_area(),
    ),
    "ce4-tcam": ProductKind(
        "CE4", "GRAS", "TCAM-I-143", "2C", "A", (1728, 2352, 3), "UnsignedByte", "ce4-tcam",
        "TCAM", "Terrain Camera", "CE4La", sequence="0009", mission_area=_TCAM_AREA,
    ),
    "ce4-lcam": ProductKind(
        "CE4", "GRAS", "LCAM-1-0000", "2A", "A", (1024, 1024), "UnsignedByte", "ce4-lcam",
        "LCAM", "Landing Camera", "CE4La", mission_area=_LCAM_AREA,
    ),
    "ce5-pcam": ProductKind(
        "CE5-L", "GRAS", "PCAML-I-008", "2B", "A", (1728, 2352), "UnsignedLSB2", "ce5-pcam",
        "PCAML", "Panoramic Camera", "CE5La", sequence="0004", mission_area=pcam_mission_area(45.0, -15.0),
    ),
    "ce5-lcam": ProductKind(
        "CE5-L", "GRAS", "LCAM-1-0010", "2A", "A", (1728, 2352), "UnsignedByte", "ce5-lcam",
        "LCAM", "Landing Camera", "CE5La", mission_area=_LCAM_AREA,
    ),
    "hx1-natecam": ProductKind(
        "HX1-Ro", "GRAS", "NaTeCamA-F-005", "2C", "A", (2048, 2048, 3), "UnsignedByte", "hx1-natecam",
        "NaTeCamA", "Navigation and Terrain Camera", "HX1Ro", sequence="00325", mission_area=_NATECAM_AREA,
    ),
    "hx1-mscam-2b": ProductKind(
        "HX1-Ro", "GRAS", "MSCam-W-1-29-0001-05", "2B", "A", (2048, 2048), "UnsignedLSB2", "hx1-mscam",
        "MSCam", "Multispectral Camera", "HX1Ro", sequence="00256", mission_area=_MSCAM_AREA,
    ),
    "hx1-mscam-01": ProductKind(
        "HX1-Ro", "GRAS", "MSCam-W-1-29-0001-05", "01", "A", (2048, 2048), "UnsignedMSB2", "hx1-mscam",
        "MSCam", "Multispectral Camera", "HX1Ro", sequence="00256", mission_area=_MSCAM_AREA,
    ),
    "ce3-pcam-2b": ProductKind(
        "CE3", "BMYK", "PCAML-C-056", "2B", "A", (1728, 2352), "LSB_UNSIGNED_INTEGER", "ce3-pcam",
        "PCAML", "Panoramic Camera", "CE3Ro", sequence="0008", pds3_record_bytes=4704,
    ),
    "ce3-pcam-2c": ProductKind(
        "CE3", "BMYK", "PCAML-C-056", "2C", "A", (1728, 2352, 3), "UNSIGNED_INTEGER", "ce3-pcam-colour",
        "PCAML", "Panoramic Camera", "CE3Ro", sequence="0008", pds3_record_bytes=7056,
    ),
}  # fmt: skip


def product_name(kind: ProductKind, start: datetime, label: bool = False) -> str:
    stamp = start.strftime("%Y%m%d%H%M%S")
    name = (
        f"{kind.mission}_{kind.centre}_{kind.instrument_field}_SCI_N_{stamp}_{stamp}_"
        f"{kind.sequence}_{kind.version}.{kind.level}"
    )
    return name + ("L" if label else "")


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer on [0, 1] floats (IEC 61966-2-1)."""
    v = np.asarray(values, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def resize(scene: np.ndarray, lines: int, samples: int) -> np.ndarray:
    """Resize a scene: area averaging when shrinking, cubic interpolation when enlarging (area
    'enlargement' replicates pixels into blocks no camera records)."""
    shrinking = lines * samples <= scene.shape[0] * scene.shape[1]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(scene), (samples, lines), interpolation=method)


def scene_pixels(
    kind: ProductKind, scene: np.ndarray, shape: tuple[int, ...] | None = None, seed: int = 0
) -> np.ndarray:
    """Pixels for ``kind`` from an 8-bit RGB scene, as the kind's camera records them (see
    :meth:`SensorModel.for_kind`): resized to the sensor, blurred by the optics, with shot and read noise,
    mosaicked, grey or RGB, at the kind's bit depth and black level (display-encoded where it delivers so)."""
    shape = tuple(shape or kind.shape)
    model = SensorModel.for_kind(kind, bands=3 if len(shape) == 3 else 1)
    raw = record(scene, model, (shape[0], shape[1]), seed).raw
    dtype = np.dtype(PDS4_DTYPES.get(kind.data_type, "<u2" if kind.bit_depth > 8 else "u1"))
    return raw.astype(dtype)


def lunar_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An 8-bit sRGB test scene of the lunar surface: black sky, neutral grey regolith with texture and
    shading, a gold-foil panel (lander thermal blanket) and a few shadowed rocks.

    The regolith is neutral (equal R, G, B) and the foil is gold, so a pipeline's colour can be checked.
    """
    rng = np.random.default_rng(seed)
    horizon = height // 5
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 3)
    fine = rng.normal(0, 0.3, (height, width)).astype(np.float32)
    albedo = 0.11 + 0.02 * texture / (np.abs(texture).max() + 1e-6) + 0.005 * fine
    albedo *= 0.8 + 0.4 * (yy / height)  # brighter towards the camera
    scene = np.repeat(albedo[:, :, None], 3, axis=2)
    scene[:horizon] = 0.002
    for _ in range(6):
        cy, cx = rng.integers(horizon + 20, height - 10), rng.integers(10, width - 10)
        radius = rng.integers(4, max(5, height // 25))
        rock = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        scene[rock] *= 0.35
    gold = srgb_to_linear(np.array([212, 175, 55], np.float32) / 255.0)
    top, left = int(height * 0.35), int(width * 0.62)
    foil = (slice(top, top + height // 5), slice(left, left + width // 5))
    scene[foil] = gold * (0.55 + 0.1 * texture[foil][:, :, None] / (np.abs(texture).max() + 1e-6))
    encoded = np.where(
        scene <= 0.0031308, 12.92 * scene, 1.055 * np.power(np.clip(scene, 0, 1), 1 / 2.4) - 0.055
    )
    return np.clip(np.round(encoded * 255), 0, 255).astype(np.uint8)


def simulate_raw(
    scene: np.ndarray,
    shape: tuple[int, int],
    cfa: str = "RGGB",
    bit_depth: int = 10,
    sensitivity: Sequence[float] = (0.55, 1.0, 0.45),
    exposure: float = 0.9,
    black_level: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A raw mosaic (uint16) as a camera records an 8-bit sRGB scene: through the optics (PSF blur), in
    linear light with a per-channel sensitivity (a colour cast that white balance must remove), with shot and
    read noise, above a black level, quantised to ``bit_depth``. The camera is :class:`SensorModel`'s with
    no colour matrix, vignetting or defects."""
    model = SensorModel(
        cfa=cfa,
        bit_depth=bit_depth,
        black_level=black_level,
        matrix=_IDENTITY,
        sensitivity=(float(sensitivity[0]), float(sensitivity[1]), float(sensitivity[2])),
        exposure=exposure,
        read_noise=_read_noise(bit_depth),
        vignetting=0.0,
        hot_pixels=0,
    )
    return record(scene, model, shape, seed).raw


def _add(parent: etree._Element, element: Element) -> None:
    tag, value, *rest = element
    child = etree.SubElement(parent, f"{{{PDS_NS}}}{tag}", rest[0] if rest else {})
    if isinstance(value, list):
        for item in value:
            _add(child, item)
    elif value is not None:
        child.text = str(value)


def _tree(parent: etree._Element, items: Sequence[Element]) -> None:
    for item in items:
        _add(parent, item)


def pds4_label(
    kind: ProductKind,
    name: str,
    array: np.ndarray,
    start: datetime,
    *,
    file_size: int | None = None,
    mission_area: Sequence[Element] | None = None,
    data_type: str | None = None,
    title: str = "Chang'E 4(CE-4) mission",
) -> etree._Element:
    """A PDS4 label tree for ``array`` with GRAS's structure and quirks."""
    nsmap = {None: PDS_NS, "pds": PDS_NS, "sp": "http://pds.nasa.gov/pds4/sp/v1",
             "xsi": "http://www.w3.org/2001/XMLSchema-instance"}  # fmt: skip
    root = etree.Element(f"{{{PDS_NS}}}Product_Observational", nsmap=nsmap)
    root.set("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", SCHEMA_LOCATION)
    iso = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    _tree(
        root,
        [
            (
                "Identification_Area",
                [
                    ("logical_identifier", name),
                    ("version_id", "1.0"),
                    ("title", title),
                    ("information_model_version", "1.5.0.0"),
                    ("product_class", "Product_Observational"),
                ],
            ),
            ("Reference_List", "None"),
        ],
    )
    observation = etree.SubElement(root, f"{{{PDS_NS}}}Observation_Area")
    _tree(
        observation,
        [
            ("Time_Coordinates", [("start_date_time", iso), ("stop_date_time", iso)]),
            (
                "Primary_Result_Summary",
                [("purpose", "Science"), ("processing_level", "Calibrated")],
            ),
            ("Investigation_Area", [("name", kind.mission.split("-")[0]), ("type", "Mission")]),
            (
                "Observing_System",
                [
                    ("name", f"Observing System for {kind.spacecraft}"),
                    ("Observing_System_Component", [("name", kind.spacecraft), ("type", "Spacecraft")]),
                ],
            ),
            ("Target_Identification", [("name", "Lunar" if kind.mission[:2] == "CE" else "Mars")]),
        ],
    )
    block: list[Element] = [
        ("product_id", name),
        ("product_version", kind.version),
        ("product_level", kind.level),
        ("instrument_name", kind.instrument_name),
        ("instrument_id", kind.instrument_id),
        ("sequence_id", kind.sequence),
        *(kind.mission_area if mission_area is None else mission_area),
    ]
    _add(observation, ("Mission_Area", block))

    axis_names = ["Line", "Sample", "Band"][: array.ndim]
    axes: list[Element] = [
        ("Axis_Array", [("axis_name", n), ("elements", str(e)), ("sequence_number", str(i + 1))])
        for i, (n, e) in enumerate(zip(axis_names, array.shape, strict=True))
    ]
    array_items: list[Element] = [
        ("offset", "0", {"unit": "byte"}),
        ("axes", str(array.ndim)),
        ("axis_index_order", "Last Index Fastest"),
        ("Element_Array", [("data_type", data_type or kind.data_type), ("unit", "data number")]),
        *axes,
    ]
    if kind.statistics:
        stats = [
            ("maximum", f"{float(array.max()):.6f}"),
            ("minimum", f"{float(array.min()):.6f}"),
            ("mean", f"{float(array.mean()):.6f}"),
            ("standard_deviation", f"{float(array.std()):.6f}"),
        ]
        array_items.append(("Object_Statistics", stats))
    size = array.nbytes if file_size is None else file_size
    _add(
        root,
        (
            "File_Area_Observational",
            [
                (
                    "File",
                    [
                        ("file_name", name),
                        ("local_identifier", "None"),
                        ("creation_date_time", "2019-03-08T09:18:00.000Z"),
                        ("file_size", str(size), {"unit": "byte"}),
                        ("records", "1"),
                    ],
                ),
                (f"Array_{array.ndim}D_Image", array_items),
            ],
        ),
    )
    return root


def _atomic_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def write_product(
    kind: str | ProductKind,
    scene: np.ndarray | None,
    directory: str | os.PathLike[str],
    *,
    shape: tuple[int, ...] | None = None,
    pixels: np.ndarray | None = None,
    start: datetime | None = None,
    file_size: int | None = None,
    encoding: str = "utf-8",
    mission_area: Sequence[Element] | None = None,
) -> Path:
    """Write a product of ``kind`` (a key of :data:`KINDS` or a :class:`ProductKind`) into ``directory``.

    ``pixels`` gives the stored array directly; otherwise it is made from ``scene`` (8-bit RGB) by
    :func:`scene_pixels`. ``file_size`` writes a wrong ``<file_size>`` as real labels sometimes do;
    ``encoding="gb18030"`` writes the label's text in GB18030 under its UTF-8 declaration, as older labels
    do. Returns the label's path (for attached PDS3 labels, the data file's).
    """
    spec = KINDS[kind] if isinstance(kind, str) else kind
    start = start or datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    if pixels is None:
        if scene is None:
            raise ValueError("give a scene or the pixels")
        pixels = scene_pixels(spec, scene, shape)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = product_name(spec, start)
    if spec.pds3_record_bytes is not None:
        return _write_pds3(spec, name, pixels, directory, start)
    data_type = next((k for k, v in PDS4_DTYPES.items() if np.dtype(v) == pixels.dtype), spec.data_type)
    if np.dtype(PDS4_DTYPES.get(spec.data_type, "u1")) == pixels.dtype:
        data_type = spec.data_type
    title = f"{spec.mission} mission"
    if encoding != "utf-8":
        title = "嫦娥 " + title  # non-ASCII text, so the encoding matters
    root = pds4_label(
        spec,
        name,
        pixels,
        start,
        file_size=file_size,
        mission_area=mission_area,
        data_type=data_type,
        title=title,
    )
    text = etree.tostring(root, pretty_print=True, encoding="unicode")
    label_bytes = b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode(encoding)
    _atomic_bytes(directory / name, np.ascontiguousarray(pixels).tobytes())
    label_path = directory / (name + "L")
    _atomic_bytes(label_path, label_bytes)
    return label_path


def _write_pds3(kind: ProductKind, name: str, pixels: np.ndarray, directory: Path, start: datetime) -> Path:
    record = pixels.shape[1] * pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)
    # Chang'e-3 uses two label records for 2B and one for 2C; small test frames may need more.
    label_records = 2 if pixels.ndim == 2 else 1
    label_records = max(label_records, -(-1024 // record))
    lines, samples = pixels.shape[:2]
    bands = pixels.shape[2] if pixels.ndim == 3 else 1
    sample_type = "LSB_UNSIGNED_INTEGER" if pixels.itemsize > 1 else "UNSIGNED_INTEGER"
    text = "\r\n".join(
        [
            "PDS_VERSION_ID = PDS3",
            "RECORD_TYPE = FIXED_LENGTH",
            f"RECORD_BYTES = {record}",
            f"FILE_RECORDS = {lines + label_records}",
            f"LABEL_RECORDS = {label_records}",
            f"^IMAGE = {label_records + 1}",
            'DATA_SET_ID = "CE3-R-PCAM-2-V1.0"',
            f'PRODUCT_ID = "{name}"',
            'SPACECRAFT_NAME = "Chang\'E-3 Rover"',
            f'INSTRUMENT_NAME = "{kind.instrument_name}"',
            f'INSTRUMENT_ID = "{kind.instrument_id}"',
            f"START_TIME = {start:%Y-%m-%dT%H:%M:%S}.000Z",
            f"STOP_TIME = {start:%Y-%m-%dT%H:%M:%S}.000Z",
            "OBJECT = IMAGE",
            f"  LINES = {lines}",
            f"  LINE_SAMPLES = {samples}",
            f"  SAMPLE_TYPE = {sample_type}",
            f"  SAMPLE_BITS = {pixels.itemsize * 8}",
            f"  BANDS = {bands}",
            "  BAND_STORAGE_TYPE = SAMPLE_INTERLEAVED",
            "END_OBJECT = IMAGE",
            "END",
            "",
        ]
    ).encode("ascii")
    header = text.ljust(record * label_records, b" ")
    payload = header + np.ascontiguousarray(pixels.astype(pixels.dtype.newbyteorder("<"))).tobytes()
    path = directory / name
    _atomic_bytes(path, payload)
    return path


def sequence_start(index: int, origin: datetime | None = None, step_s: int = 7) -> datetime:
    """Start times for a run of products taken ``step_s`` seconds apart."""
    origin = origin or datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    return origin + timedelta(seconds=index * step_s)


_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
_LUMA = (0.2126, 0.7152, 0.0722)


def _read_noise(bit_depth: int) -> float:
    """Read noise in DN of a camera quantising to ``bit_depth``: 2 DN at 12 bits, the same electrons at other
    depths (quantisation dominates at 8 bits)."""
    return 2.0 * 2.0 ** (bit_depth - 12)


@dataclass(frozen=True)
class SensorModel:
    """A simple camera for ground-truth tests and sample products: the inverse of farside's calibration chain.

    ``cfa`` is the Bayer pattern, or None for a grey sensor (or one delivering RGB, ``bands=3``);
    ``matrix`` maps camera RGB to linear sRGB (what a profile's colour matrix holds); ``sensitivity`` is the
    camera's per-channel response (white balance must undo it); ``exposure`` the fraction of full scale a
    white surface reaches; ``full_well`` electrons at full scale (shot noise); ``read_noise`` in DN;
    ``vignetting`` the fall-off at the corners (a flat field must undo it); ``psf_sigma`` the optics'
    blur in pixels (lens and optical low-pass filter: every camera has one, so no real detail is narrower
    than a sample); ``encoding`` "srgb" for products delivered display-encoded (already processed on the
    ground). ``hot_pixels``, ``dead_pixels`` and ``stuck_pixels`` are how many defects of each kind
    :func:`record` plants.
    """

    cfa: str | None = "RGGB"
    bit_depth: int = 12
    black_level: float = 64.0
    matrix: tuple[tuple[float, float, float], ...] = ((1.6, -0.4, -0.2), (-0.3, 1.5, -0.2), (0.0, -0.5, 1.5))
    sensitivity: tuple[float, float, float] = (0.55, 1.0, 0.7)
    exposure: float = 0.8
    full_well: float = 20000.0
    read_noise: float = 2.0
    vignetting: float = 0.3
    hot_pixels: int = 40
    psf_sigma: float = 0.7
    dead_pixels: int = 0
    stuck_pixels: int = 0
    bands: int = 1
    encoding: str = "linear"

    @classmethod
    def for_kind(cls, kind: str | ProductKind, **changes: Any) -> SensorModel:
        """The camera of a product kind: CFA, bit depth, black level and encoding from its bundled profile;
        no colour matrix, cast or vignetting (the bundled profiles assume none); no defects unless
        ``changes`` asks for them."""
        spec = KINDS[kind] if isinstance(kind, str) else kind
        model = cls(
            cfa=spec.cfa,
            bit_depth=spec.bit_depth,
            black_level=spec.black_level,
            matrix=_IDENTITY,
            sensitivity=(1.0, 1.0, 1.0),
            exposure=1.0,
            read_noise=_read_noise(spec.bit_depth),
            vignetting=0.0,
            hot_pixels=0,
            bands=3 if len(spec.shape) == 3 else 1,
            encoding=spec.encoding,
        )
        return replace(model, **changes)

    @property
    def white_level(self) -> float:
        return float((1 << self.bit_depth) - 1)

    def gains(self) -> tuple[float, float, float]:
        """The white-balance gains that undo sensitivity and exposure (what a calibrated profile holds)."""
        return tuple(1.0 / (s * self.exposure) for s in self.sensitivity)  # type: ignore[return-value]

    def flat(self, shape: tuple[int, ...]) -> np.ndarray:
        """The vignetting as a flat field, scaled to mean 1 (farside's convention for flats)."""
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        r2 = ((yy - (shape[0] - 1) / 2) / (shape[0] / 2)) ** 2 + (
            (xx - (shape[1] - 1) / 2) / (shape[1] / 2)
        ) ** 2
        fall_off = 1.0 - self.vignetting * r2 / 2.0
        return (fall_off / fall_off.mean()).astype(np.float32)

    def encode(self, signal: np.ndarray) -> np.ndarray:
        """Stored values (float, unrounded) of a signal in fractions of full scale."""
        if self.encoding == "srgb":
            encoded = np.clip(np.asarray(signal, np.float32), 0.0, 1.0)
            encoded = np.where(encoded <= 0.0031308, 12.92 * encoded, 1.055 * encoded ** (1 / 2.4) - 0.055)
            return encoded * np.float32(self.white_level)
        return self.black_level + signal * (self.white_level - self.black_level)

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """Signal in fractions of full scale of stored values (the inverse of :meth:`encode`)."""
        stored = np.asarray(stored, np.float64)
        if self.encoding == "srgb":
            return srgb_to_linear(stored / self.white_level).astype(np.float64)
        return (stored - self.black_level) / (self.white_level - self.black_level)


def optics(scene: np.ndarray, model: SensorModel) -> np.ndarray:
    """The scene (8-bit sRGB) as the camera's optics deliver it to the sensor: linear light, blurred by the
    point-spread function. Returned as linear float64 RGB (the reference a perfect pipeline recovers)."""
    scene = np.asarray(scene)
    if scene.dtype == np.uint8:
        linear = srgb_to_linear(np.arange(256) / 255.0).astype(np.float64)[scene]
    else:
        linear = srgb_to_linear(scene / 255.0).astype(np.float64)
    if model.psf_sigma > 0:
        linear = cv2.GaussianBlur(linear, (0, 0), model.psf_sigma, borderType=cv2.BORDER_REFLECT_101)
    return linear


@dataclass(frozen=True)
class Recording:
    """What :func:`record` returns: the stored frame with its defects, the same frame (noise included)
    without them, and the (row, column[, band]) positions of each kind of defect planted."""

    raw: np.ndarray
    clean: np.ndarray
    hot: np.ndarray
    dead: np.ndarray
    stuck: np.ndarray

    @property
    def defects(self) -> np.ndarray:
        """Positions of every planted defect."""
        return np.concatenate([self.hot, self.dead, self.stuck])


_MARGIN = 3  # defects are planted this far from the edge and from each other


def _place(rng: np.random.Generator, eligible: np.ndarray, count: int, taken: np.ndarray) -> np.ndarray:
    """``count`` random positions where ``eligible`` holds, more than ``_MARGIN`` samples (in rows or
    columns) from the frame's edge and from every other defect (so each is a lone defective sample)."""
    inner = np.zeros(eligible.shape, bool)
    inner[_MARGIN:-_MARGIN, _MARGIN:-_MARGIN] = True
    candidates = np.flatnonzero(eligible & inner)
    chosen = [tuple(int(v) for v in p[:2]) for p in taken]
    out: list[tuple[int, ...]] = []
    for _ in range(100 * count + 100):
        if len(out) == count or candidates.size == 0:
            break
        position = tuple(int(v) for v in np.unravel_index(int(rng.choice(candidates)), eligible.shape))
        if all(max(abs(position[0] - y), abs(position[1] - x)) > _MARGIN for y, x in chosen):
            out.append(position)
            chosen.append(position[:2])
    if len(out) < count:
        raise ValueError(f"no room for {count} lone defects in a frame of shape {eligible.shape}")
    return np.array(out, dtype=np.intp).reshape(count, eligible.ndim)


def record(
    scene: np.ndarray,
    model: SensorModel,
    shape: tuple[int, int] | None = None,
    seed: int = 0,
) -> Recording:
    """The frame a :class:`SensorModel` records of an 8-bit sRGB scene (resized to ``shape`` first, if
    given): optics, vignetting, shot and read noise, quantisation; then its defects planted, each where it
    shows, judged by the darkest and brightest samples around it (5 x 5, in fractions of full scale):

    - hot pixels read 0.45 to 0.9 of full scale above the scene (where it is below 0.45);
    - dead pixels read no light (where the scene is above 0.35);
    - stuck pixels read a fixed value: full scale (where the scene is below half scale) or half scale
      (where the scene is below 0.15 or above 0.85).
    """
    rng = np.random.default_rng(seed)
    if shape is not None and tuple(shape) != scene.shape[:2]:
        scene = resize(scene, shape[0], shape[1])
    camera = optics(scene, model)
    if model.matrix != _IDENTITY:
        camera = np.clip(camera @ np.linalg.inv(np.asarray(model.matrix, np.float64)).T, 0.0, None)
    camera *= np.asarray(model.sensitivity) * model.exposure
    if model.bands == 3:
        signal = camera
    elif model.cfa:
        signal = mosaic(camera, model.cfa)
    else:
        signal = camera @ np.asarray(_LUMA)
    if model.vignetting:
        flat = model.flat(scene.shape)
        signal *= flat[:, :, None] if signal.ndim == 3 else flat
    # Shot noise: Poisson counts, drawn as their normal approximation where there are many (much faster).
    mean = np.clip(signal, 0, None) * model.full_well
    electrons = mean + np.sqrt(mean) * rng.standard_normal(mean.shape, np.float32)
    few = mean < 50
    electrons[few] = rng.poisson(mean[few])
    span = model.white_level - model.black_level
    noisy = electrons / model.full_well + rng.normal(0.0, model.read_noise / span, signal.shape)
    clean = np.clip(np.round(model.encode(noisy)), 0, model.white_level)
    level = model.decode(np.arange(int(model.white_level) + 1))[clean.astype(np.intp)]
    raw = clean.copy()
    # Where each kind of defect shows: judged by the darkest and brightest sample around it (5 x 5).
    box = np.ones((5, 5), np.uint8)
    darkest = cv2.erode(level.astype(np.float32), box, borderType=cv2.BORDER_REFLECT_101)
    brightest = cv2.dilate(level.astype(np.float32), box, borderType=cv2.BORDER_REFLECT_101)
    hot = _place(rng, brightest < 0.45, model.hot_pixels, np.empty((0, 2)))
    excess = rng.uniform(0.45, 0.9, model.hot_pixels)
    dead = _place(rng, darkest > 0.35, model.dead_pixels, hot)
    stuck_high = rng.random(model.stuck_pixels) < 0.5
    high = _place(rng, brightest < 0.5, int(stuck_high.sum()), np.concatenate([hot, dead]))
    mid = _place(
        rng,
        (brightest < 0.15) | (darkest > 0.85),
        int((~stuck_high).sum()),
        np.concatenate([hot, dead, high]),
    )
    stuck = np.concatenate([high, mid])
    for positions, values in (
        (hot, level[tuple(hot.T)] + excess),
        (dead, np.zeros(len(dead))),
        (high, np.ones(len(high))),
        (mid, np.full(len(mid), 0.5)),
    ):
        raw[tuple(positions.T)] = np.round(model.encode(np.minimum(values, 1.0)))
    return Recording(raw.astype(np.uint16), clean.astype(np.uint16), hot, dead, stuck)


def simulate_sensor(
    scene: np.ndarray, model: SensorModel, seed: int = 0, plant: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Raw frame (uint16 DN) a :class:`SensorModel` records of an 8-bit sRGB scene, and the positions of
    the defects planted in it (chosen, but left out with ``plant=False``: the same frame, noise included,
    without its defects). See :func:`record`."""
    recording = record(scene, model, seed=seed)
    return (recording.raw if plant else recording.clean), recording.defects


def render_view(world: np.ndarray, world_grid: Any, camera: Any, rotation: np.ndarray) -> np.ndarray:
    """What a pinhole ``camera`` at ``rotation`` sees of a ``world`` image laid out on the azimuth/elevation
    grid ``world_grid`` (:class:`farside.scenes.geometry.Equirectangular`): each pixel's centre is traced to
    its direction and the world sampled there (bilinear; azimuth wraps round if the world is a full circle).
    """
    from farside.scenes.geometry import pixel_directions

    u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    azimuth, elevation = pixel_directions(camera, rotation, u, v)
    azimuth = (azimuth - world_grid.azimuth_left_deg) % 360.0 + world_grid.azimuth_left_deg
    x, y = world_grid.pixel_of(azimuth, elevation)
    return cv2.remap(world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT_101)  # fmt: skip


def write_sweep(
    world: np.ndarray,
    world_grid: Any,
    camera: Any,
    pointings: Sequence[tuple[float, float]],
    directory: str | os.PathLike[str],
    label_errors: Sequence[tuple[float, float]] | None = None,
    pixel_size_um: float = 7.4,
    gains: Sequence[float] | None = None,
    location: tuple[float, float] | None = None,
    start_index: int = 0,
    sequence_id: str | None = None,
    camera_eye: str | None = None,
) -> list[Path]:
    """A PCAM colour sweep of ``world``: a frame rendered at each (yaw, pitch) with ``camera``
    (:func:`render_view`), recorded through the sensor model and written as a product whose label gives the
    pointing plus ``label_errors`` (degrees), the focal length and ``pixel_size_um`` such that the label's
    optics are the camera's. Returns the labels' paths.

    ``gains`` scale each frame's scene brightness (in linear light, before recording) while every label
    states the same exposure: the differences a panorama must even out. ``location`` is the rover's
    (longitude, latitude) for the labels (:func:`pcam_mission_area`). Frame ``i`` starts at
    :func:`sequence_start` ``(start_index + i)``, so two sweeps written into one folder differ in time and
    name. ``sequence_id`` (four digits) and ``camera_eye`` ("L" or "R") change the product name's sequence
    and instrument fields (and the label's ``sequence_id`` and ``instrument_id``), which is what sorts frames
    into panorama sets.
    """
    from farside.scenes.geometry import orientation

    kind = KINDS["ce4-pcam-c"]
    if sequence_id is not None:
        kind = replace(kind, sequence=sequence_id)
    if camera_eye is not None:
        if camera_eye not in ("L", "R"):
            raise ValueError(f"camera_eye is 'L' or 'R', not {camera_eye!r}")
        kind = replace(kind, instrument_field=f"PCAM{camera_eye}-C-006", instrument_id=f"PCAM{camera_eye}")
    focal_mm = camera.focal_px * pixel_size_um * 1e-3
    exposure = 0.9  # simulate_raw's: a white surface at 90 % of full scale
    labels = []
    for index, (yaw, pitch) in enumerate(pointings):
        view = render_view(world, world_grid, camera, orientation(yaw, pitch))
        error = label_errors[index] if label_errors is not None else (0.0, 0.0)
        area = pcam_mission_area(yaw + error[0], pitch + error[1], focal_mm, pixel_size_um, location)
        gain = 1.0 if gains is None else float(gains[index])
        raw = simulate_raw(view, (camera.height, camera.width), exposure=exposure * gain, seed=index)
        start = sequence_start(start_index + index)
        labels.append(write_product(kind, None, directory, pixels=raw, start=start, mission_area=area))
    return labels


# ---------------------------------------------------------------------------------------------------------
# Stereo pairs: a scene of known depth seen by the two panoramic cameras
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StereoScene:
    """A scene of known depth for stereo ground truth: flat regolith (the plane z = 0) strewn with rocks
    (spheres sunk partly into it), lit by one sun. Coordinates in metres, in the frame of
    :mod:`farside.scenes.geometry` (x to azimuth 90, y to azimuth 0, z up); the rover's mast stands at the
    origin."""

    rocks: tuple[tuple[float, float, float, float], ...]  # centre x, y, z and radius of each rock
    sun_azimuth_deg: float = 60.0
    sun_elevation_deg: float = 25.0
    seed: int = 0


def stereo_scene(
    seed: int = 0, azimuth_deg: float = 0.0, count: int = 30, near_m: float = 2.2, far_m: float = 9.0,
    spread_deg: float = 11.0,
) -> StereoScene:  # fmt: skip
    """Rocks of 3 to 16 cm radius scattered ``near_m`` to ``far_m`` from the mast, within ``spread_deg`` of
    ``azimuth_deg``, each sunk by a third of its radius; the sun 20 to 30 degrees high, off to one side.

    >>> scene = stereo_scene(seed=1, count=5)
    >>> len(scene.rocks), all(z < r for _, _, z, r in scene.rocks)
    (5, True)
    """
    rng = np.random.default_rng([seed, 23])
    rocks = []
    for _ in range(count):
        azimuth = np.radians(azimuth_deg + rng.uniform(-spread_deg, spread_deg))
        distance = float(np.exp(rng.uniform(np.log(near_m), np.log(far_m))))
        radius = float(np.exp(rng.uniform(np.log(0.03), np.log(0.16))))
        rocks.append((distance * np.sin(azimuth), distance * np.cos(azimuth), radius / 3.0, radius))
    sun_azimuth = azimuth_deg + rng.choice([-1.0, 1.0]) * rng.uniform(50.0, 120.0)
    return StereoScene(tuple(rocks), float(sun_azimuth), float(rng.uniform(20.0, 30.0)), seed)


def _sun_vector(scene: StereoScene) -> np.ndarray:
    a, e = np.radians(scene.sun_azimuth_deg), np.radians(scene.sun_elevation_deg)
    return np.array([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)])


def _camera_rays(camera: Any, rotation: np.ndarray, factor: int = 1) -> np.ndarray:
    """Unit rays (world frame) through the centres of a camera's pixels, each pixel split into ``factor``
    x ``factor`` samples: (height * factor, width * factor, 3)."""
    cx, cy = camera.centre
    u = (np.arange(camera.width * factor) + 0.5) / factor
    v = (np.arange(camera.height * factor) + 0.5) / factor
    x, y = np.meshgrid((u - cx) / camera.focal_px, (v - cy) / camera.focal_px)
    rays = np.stack([x, y, np.ones_like(x)], axis=-1) @ np.asarray(rotation).T
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _sphere_hit(origin: np.ndarray, rays: np.ndarray, centre: Sequence[float], radius: float) -> np.ndarray:
    """Distance along each unit ray (from ``origin``, one point or one per ray) to the first point of a
    sphere in front of it; infinity where the ray misses it."""
    offset = np.asarray(origin, np.float64) - np.asarray(centre, np.float64)
    b = np.sum(rays * offset, axis=-1)
    c = np.sum(offset * offset, axis=-1) - radius**2
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc >= 0) & (t > 1e-9), t, np.inf)


def _pixel_box(
    corners: np.ndarray, camera: Any, rotation: np.ndarray, origin: np.ndarray, factor: int
) -> tuple[slice, slice] | None:
    """The rows and columns (of a grid of ``factor`` x ``factor`` samples a pixel) within which anything
    inside the convex hull of world ``corners`` can appear; None where some corner lies behind the camera
    (then anywhere may show it)."""
    local = (np.asarray(corners, np.float64) - origin) @ np.asarray(rotation)
    if np.any(local[:, 2] <= 1e-6):
        return None
    cx, cy = camera.centre
    u = (cx + camera.focal_px * local[:, 0] / local[:, 2]) * factor
    v = (cy + camera.focal_px * local[:, 1] / local[:, 2]) * factor
    columns = slice(max(0, int(np.floor(u.min()))), max(0, int(np.ceil(u.max())) + 1))
    rows = slice(max(0, int(np.floor(v.min()))), max(0, int(np.ceil(v.max())) + 1))
    return rows, columns


def _cube(centre: Sequence[float], half: float) -> np.ndarray:
    return np.asarray(centre, np.float64) + half * np.array(
        [[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64
    )


def scene_hits(
    scene: StereoScene, camera: Any, rotation: np.ndarray, position: Sequence[float], factor: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each pixel of a camera at ``position`` (metres) and ``rotation`` (``world_from_camera``) sees of
    the scene: the distance along its ray (infinity for the sky), the index of what it hits (-1 the sky, 0
    the ground, k + 1 rock k) and the rays themselves (unit vectors, world frame). Pixels are split into
    ``factor`` x ``factor`` samples."""
    rays = _camera_rays(camera, rotation, factor)
    origin = np.asarray(position, np.float64)
    down = rays[..., 2] < -1e-9
    distance = np.where(down, -origin[2] / np.where(down, rays[..., 2], -1.0), np.inf)
    which = np.where(down, 0, -1)
    for index, (x, y, z, radius) in enumerate(scene.rocks):
        # Only the rays that can meet the rock: those within the image of a cube round it.
        box = _pixel_box(_cube((x, y, z), radius), camera, rotation, origin, factor) or (slice(None),) * 2
        t = _sphere_hit(origin, rays[box], (x, y, z), radius)
        nearer = t < distance[box]
        distance[box][nearer], which[box][nearer] = t[nearer], index + 1
    return distance, which, rays


def scene_points(
    scene: StereoScene, camera: Any, rotation: np.ndarray, position: Sequence[float]
) -> np.ndarray:
    """The point of the scene (metres, world frame) each pixel's centre looks at: (height, width, 3), NaN
    where it looks at the sky. The scene's depth map, for checking stereo geometry."""
    distance, _, rays = scene_hits(scene, camera, rotation, position)
    points = np.asarray(position, np.float64) + distance[..., None] * rays
    points[~np.isfinite(distance)] = np.nan
    return points


def _stereo_texture(u: np.ndarray, v: np.ndarray, footprint: np.ndarray, seed: int) -> np.ndarray:
    """Log-albedo of regolith at surface coordinates (u, v) in metres: the octaves of :func:`lunar_world`'s
    texture (wavelengths of 2**k mm), each faded out where it would be finer than 2 to 4 samples of
    ``footprint`` metres (so nothing aliases)."""
    out = np.zeros(u.shape, np.float32)
    finest = float(np.nanmin(footprint)) if footprint.size else 1.0
    for k in range(max(0, int(np.floor(np.log2(max(finest, 1e-4) / 1e-3)))), 13):
        wavelength = 1e-3 * 2.0**k
        weight = _smoothstep(np.log2(wavelength / footprint) - 1.0) * _octave_strength(wavelength)
        if not np.any(weight > 1e-3):
            continue
        tile, turn, x0, y0 = _octave(seed, k)
        scale = _TILE_WAVELENGTH / wavelength
        x = (scale * (u * np.cos(turn) - v * np.sin(turn))).astype(np.float32)
        y = (scale * (u * np.sin(turn) + v * np.cos(turn))).astype(np.float32)
        scratch = np.empty_like(x)
        _wrapped(x, x0, scratch)
        _wrapped(y, y0, scratch)
        out += (0.25 * weight).astype(np.float32) * _sample_tile(tile, x, y)
    return out


def _sample_tile(tile: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``tile`` sampled (bilinear, wrapping round) at coordinates of any shape: OpenCV's remap takes maps
    of at most 32,767 a side, so they go through it as rows of 1024."""
    count = x.size
    rows = -(-count // 1024)
    maps = []
    for coordinate in (x, y):
        flat = np.zeros(rows * 1024, np.float32)
        flat[:count] = coordinate.ravel()
        maps.append(flat.reshape(rows, 1024))
    sampled = cv2.remap(tile, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return sampled.ravel()[:count].reshape(x.shape)


def render_scene(
    scene: StereoScene, camera: Any, rotation: np.ndarray, position: Sequence[float], supersample: int = 2
) -> np.ndarray:
    """The scene as a pinhole ``camera`` at ``position`` and ``rotation`` sees it: 8-bit sRGB, each pixel the
    mean of ``supersample`` x ``supersample`` rays (so rock outlines do not alias). Regolith of albedo 0.16
    with texture at many scales, rocks a little brighter and shaded by the sun, shadows cast by the rocks
    onto the ground, black sky."""
    distance, which, rays = scene_hits(scene, camera, rotation, position, supersample)
    origin = np.asarray(position, np.float64)
    hit = np.isfinite(distance)
    points = origin + np.where(hit, distance, 0.0)[..., None] * rays
    sun = _sun_vector(scene)
    pixel = 1.0 / (camera.focal_px * supersample)  # radians a sample spans
    linear = np.zeros(distance.shape, np.float32)
    ground = which == 0
    if ground.any():
        p = points[ground]
        grazing = np.maximum(-rays[ground][:, 2], 0.02)
        footprint = distance[ground] * pixel / grazing
        albedo = _REGOLITH * np.exp(_stereo_texture(p[:, 0], p[:, 1], footprint, scene.seed))
        light = np.ones(distance.shape, np.float32)
        for x, y, z, radius in scene.rocks:
            # A rock's shadow lies within a square round where its centre's shadow falls, r / sin(sun) wide.
            foot = np.array([x, y, z]) - z / sun[2] * sun
            reach = radius / sun[2]
            square = foot + reach * np.array([[-1, -1, 0], [-1, 1, 0], [1, -1, 0], [1, 1, 0]], np.float64)
            box = _pixel_box(square, camera, rotation, origin, supersample) or (slice(None),) * 2
            shadowed = ground[box].copy()
            shadowed[shadowed] = np.isfinite(_sphere_hit(points[box][shadowed], sun, (x, y, z), radius))
            light[box][shadowed] = _SHADOW
        linear[ground] = albedo * light[ground]
    for index, (x, y, z, radius) in enumerate(scene.rocks):
        on = which == index + 1
        if not on.any():
            continue
        p = points[on]
        normal = (p - (x, y, z)) / radius
        facing = np.maximum(np.sum(-rays[on] * normal, axis=-1), 0.05)
        footprint = distance[on] * pixel / facing
        texture = _stereo_texture(
            p[:, 0] + 0.7 * p[:, 2] + 10 * index, p[:, 1] - 0.7 * p[:, 2], footprint, scene.seed
        )
        lit = np.maximum(normal @ sun / sun[2], _SHADOW)
        linear[on] = 1.2 * _REGOLITH * np.exp(texture) * lit
    if supersample > 1:
        size = (camera.width, camera.height)
        linear = cv2.resize(linear, size, interpolation=cv2.INTER_AREA)
    levels = 4096
    grey = _srgb_lut(levels)[np.clip(linear * (levels - 1), 0, levels - 1).astype(np.uint16)]
    return cv2.merge([grey, grey, grey])


@dataclass(frozen=True)
class StereoTruth:
    """What :func:`write_stereo_pair` made: the two products' labels, the camera they share, each eye's pose
    (``world_from_camera`` rotation, centre in metres) and where it planted a mark in each eye alone
    (x0, y0, x1, y1 in frame pixels; None without marks)."""

    left_label: Path
    right_label: Path
    camera: Any
    left_rotation: np.ndarray
    right_rotation: np.ndarray
    left_position: np.ndarray
    right_position: np.ndarray
    left_mark: tuple[int, int, int, int] | None = None
    right_mark: tuple[int, int, int, int] | None = None


def _turn(axis: int, degrees: float) -> np.ndarray:
    """A rotation by ``degrees`` about axis 0, 1 or 2 of the camera frame (x right, y down, z forward)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    turn = np.eye(3)
    turn[i, i], turn[i, j], turn[j, i], turn[j, j] = c, -s, s, c
    return turn


def write_stereo_pair(
    scene: StereoScene,
    camera: Any,
    directory: str | os.PathLike[str],
    *,
    yaw: float = 0.0,
    pitch: float = -20.0,
    baseline_m: float = 0.27,
    height_m: float = 1.5,
    right_shift_px: float = 0.0,
    right_roll_deg: float = 0.0,
    mode: str = "C",
    serial: str = "006",
    sequence_id: str = "0001",
    start: datetime | None = None,
    left_lag_s: int | None = None,
    pixel_size_um: float = 7.4,
    marks: bool = False,
    seed: int = 0,
) -> StereoTruth:
    """Both eyes of a PCAM stereo pair of ``scene``, written as products into ``directory``.

    The eyes sit ``baseline_m`` apart along the camera's x axis, centred ``height_m`` above the ground at
    the origin, both at the mast pointing (``yaw``, ``pitch``) that their labels state; the right eye is
    then turned about its own x axis by as much as moves the middle of its frame ``right_shift_px`` pixels
    down and rolled about its optical axis by ``right_roll_deg``, as a camera mounted a little askew
    would be. Each frame is rendered (:func:`render_scene`) and recorded through the sensor of
    its kind (colour mode ``C``: RGGB mosaic; panchromatic ``Q``: grey), named as the release names them:
    ``PCAMR-{mode}-{serial}`` at ``start``, ``PCAML-{mode}-{serial}`` ``left_lag_s`` later (by default 15 s
    in colour mode, 5 s in panchromatic), both in sequence ``sequence_id``. The labels' optics are the
    camera's (focal length through ``pixel_size_um``). With ``marks`` each eye gets a bright square in a
    place of its own that the other eye does not see (which eye feeds which channel of an anaglyph can be
    seen there).
    """
    from farside.scenes.geometry import orientation

    if mode not in ("C", "Q"):
        raise ValueError(f"mode is 'C' or 'Q', not {mode!r}")
    base = KINDS["ce4-pcam-c" if mode == "C" else "ce4-pcam-q"]
    start = start or datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    lag = left_lag_s if left_lag_s is not None else (15 if mode == "C" else 5)
    mast = orientation(yaw, pitch)
    across = mast[:, 0]  # the camera's x axis in the world: the baseline's direction
    centre = np.array([0.0, 0.0, height_m])
    left_position, right_position = centre - across * baseline_m / 2, centre + across * baseline_m / 2
    tilt = -np.degrees(np.arctan2(right_shift_px, camera.focal_px))
    right_rotation = mast @ _turn(0, tilt) @ _turn(2, -right_roll_deg)
    focal_mm = camera.focal_px * pixel_size_um * 1e-3
    area = pcam_mission_area(yaw, pitch, focal_mm, pixel_size_um)
    side = max(4, camera.width // 64)
    marks_at = {
        "L": (int(0.32 * camera.width), int(0.42 * camera.height)),
        "R": (int(0.62 * camera.width), int(0.58 * camera.height)),
    }
    labels, boxes = {}, {}
    for eye, rotation, position, when in (
        ("R", right_rotation, right_position, start),
        ("L", mast, left_position, start + timedelta(seconds=lag)),
    ):
        view = render_scene(scene, camera, rotation, position)
        if marks:
            x, y = marks_at[eye]
            view[y : y + side, x : x + side] = 255
            boxes[eye] = (x, y, x + side, y + side)
        kind = replace(base, instrument_field=f"PCAM{eye}-{mode}-{serial}", instrument_id=f"PCAM{eye}",
                       sequence=sequence_id)  # fmt: skip
        model = SensorModel.for_kind(kind)
        raw = record(view, model, seed=seed * 2 + (eye == "L")).raw
        dtype = np.dtype(PDS4_DTYPES.get(kind.data_type, "<u2"))
        labels[eye] = write_product(kind, None, directory, pixels=raw.astype(dtype), start=when,
                                    mission_area=area)  # fmt: skip
    return StereoTruth(labels["L"], labels["R"], camera, mast, right_rotation, left_position, right_position,
                       boxes.get("L"), boxes.get("R"))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# (end of the stereo pairs' section)
# ---------------------------------------------------------------------------------------------------------


def world_seen_by(world: np.ndarray, world_grid: Any, grid: Any) -> np.ndarray:
    """The ``world`` (laid out on ``world_grid``) at the direction ``grid`` gives each of its pixels: what a
    perfect panorama on ``grid`` would show."""
    out = np.zeros((grid.height, grid.width, *world.shape[2:]), world.dtype)
    # In blocks: OpenCV's remap takes no image over 32,767 pixels a side, and a site's panorama is larger.
    block = 4096
    for top in range(0, grid.height, block):
        for left in range(0, grid.width, block):
            ys, xs = np.mgrid[top : min(grid.height, top + block), left : min(grid.width, left + block)]
            azimuth, elevation = grid.angles_of(xs, ys)
            if world_grid.full_circle:  # the world goes all the way round: any azimuth is on it
                azimuth = (azimuth - world_grid.azimuth_left_deg) % 360.0 + world_grid.azimuth_left_deg
            x, y = world_grid.pixel_of(azimuth, elevation)
            border = cv2.BORDER_WRAP if world_grid.full_circle else cv2.BORDER_CONSTANT
            out[top : top + ys.shape[0], left : left + ys.shape[1]] = cv2.remap(
                world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR, borderMode=border
            )
    return out


def tile_offsets(made: np.ndarray, truth: np.ndarray, covered: np.ndarray, tile: int = 64) -> list[float]:
    """How far (pixels, by phase correlation) ``made`` is from ``truth`` in every fully ``covered`` tile with
    some texture: local alignment, measured tile by tile."""
    grey_made = cv2.cvtColor(made, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_truth = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((tile, tile), cv2.CV_32F)
    offsets = []
    for y in range(0, made.shape[0] - tile, tile):
        for x in range(0, made.shape[1] - tile, tile):
            cell = (slice(y, y + tile), slice(x, x + tile))
            if covered[cell].all() and grey_truth[cell].std() >= 8:
                (dx, dy), _ = cv2.phaseCorrelate(grey_made[cell], grey_truth[cell], window)
                offsets.append(float(np.hypot(dx, dy)))
    return offsets


def tile_shifts(
    made: np.ndarray, truth: np.ndarray, covered: np.ndarray, tile: int = 64, texture: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Shifts (pixels, by phase correlation) of ``truth`` from ``made`` in every fully ``covered`` tile
    textured both ways: the (x, y) of each tile's top-left pixel and its (dx, dy), both (N, 2); positive
    where ``truth`` lies right of or below ``made``.

    Unlike :func:`tile_offsets` it keeps the direction, which tells a common shift of the whole panorama
    (every tile alike) from frames that disagree. It measures only tiles whose truth changes by at least
    ``texture`` grey levels a pixel (root mean square) in its least textured direction, since a tile of
    streaks (ground near the horizon) fixes no shift along them; and it takes each tile's mean out before
    the window, which otherwise draws a weakly textured tile toward no shift at all.
    """
    grey_made = cv2.cvtColor(made, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_truth = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey_truth, cv2.CV_32F, 1, 0) / 8
    gy = cv2.Sobel(grey_truth, cv2.CV_32F, 0, 1) / 8
    window = cv2.createHanningWindow((tile, tile), cv2.CV_32F)
    corners, shifts = [], []
    for y in range(0, made.shape[0] - tile, tile):
        for x in range(0, made.shape[1] - tile, tile):
            cell = (slice(y, y + tile), slice(x, x + tile))
            if not covered[cell].all():
                continue
            xx, xy, yy = (gx[cell] ** 2).mean(), (gx[cell] * gy[cell]).mean(), (gy[cell] ** 2).mean()
            weakest = (xx + yy) / 2 - np.sqrt(((xx - yy) / 2) ** 2 + xy**2)  # the structure tensor's
            if weakest < texture**2:
                continue
            a, b = grey_made[cell], grey_truth[cell]
            (dx, dy), _ = cv2.phaseCorrelate(a - a.mean(), b - b.mean(), window)
            corners.append((x, y))
            shifts.append((dx, dy))
    return np.array(corners, np.intp).reshape(-1, 2), np.array(shifts, np.float64).reshape(-1, 2)


# A lunar world for panorama ground truth


@dataclass(frozen=True)
class Region:
    """A box of the world as the rover sees it: centre azimuth and elevation, full width and height, all in
    degrees (azimuth as :mod:`farside.scenes.geometry` measures it)."""

    azimuth_deg: float
    elevation_deg: float
    width_deg: float
    height_deg: float

    def contains(self, azimuth: Any, elevation: Any, margin_deg: float = 0.0) -> np.ndarray:
        """Whether directions lie inside the box shrunk by ``margin_deg`` (grown where negative); azimuths
        are compared round the circle."""
        across = (np.asarray(azimuth, np.float64) - self.azimuth_deg + 180.0) % 360.0 - 180.0
        up = np.asarray(elevation, np.float64) - self.elevation_deg
        return (np.abs(across) <= self.width_deg / 2 - margin_deg) & (
            np.abs(up) <= self.height_deg / 2 - margin_deg
        )

    def bounds(self, margin_deg: float = 0.0) -> tuple[float, float, float, float]:
        """Azimuths (left, right) and elevations (low, high) of the box grown by ``margin_deg``."""
        half_width, half_height = self.width_deg / 2 + margin_deg, self.height_deg / 2 + margin_deg
        return (self.azimuth_deg - half_width, self.azimuth_deg + half_width,
                self.elevation_deg - half_height, self.elevation_deg + half_height)  # fmt: skip

    def mask(self, grid: Any, margin_deg: float = 0.0) -> np.ndarray:
        """Pixels of ``grid`` (an :class:`~farside.scenes.geometry.Equirectangular`) whose centres lie inside
        the box shrunk by ``margin_deg``."""
        azimuth, elevation = grid.angles_of(np.arange(grid.width)[None, :], np.arange(grid.height)[:, None])
        return self.contains(azimuth, elevation, margin_deg)


@dataclass(frozen=True)
class LunarLayout:
    """What :func:`lunar_world` draws, and where: the sun's direction (degrees), the camera's height above
    the ground (metres), the coloured objects and the smooth, almost featureless patch (:class:`Region`; the
    patch fills its box but for rounded corners), and craters and rocks as (azimuth, elevation, radius in
    metres) of their centres on the ground."""

    sun_azimuth_deg: float
    sun_elevation_deg: float
    foil: Region
    panel: Region
    marker: Region
    smooth: Region
    craters: tuple[tuple[float, float, float], ...] = ()
    rocks: tuple[tuple[float, float, float], ...] = ()
    camera_height_m: float = 1.5  # PCAM sits about 1.5 m above the ground

    @property
    def objects(self) -> dict[str, Region]:
        """The coloured objects by name (their colours are :data:`LUNAR_COLOURS`)."""
        return {"foil": self.foil, "panel": self.panel, "marker": self.marker}


# Mean colours (8-bit sRGB) of the coloured objects: lander thermal foil, a solar panel's cells, a marker. Not
# much brighter than sunlit regolith, so that a stretch set by the ground leaves them unclipped and their hue
# can be checked.
LUNAR_COLOURS = {"foil": (150, 122, 42), "panel": (40, 62, 150), "marker": (165, 30, 26)}
_REGOLITH = 0.16  # linear albedo of the neutral grey regolith in full sun
_SHADOW = 0.12  # what is left of the light in a cast shadow (light scattered from the sunlit ground)


def _full_circle(grid: Any) -> bool:
    """Whether a grid goes all the way round in azimuth (its ends then meet)."""
    return bool(grid.width * grid.degrees_per_pixel >= 360.0 - 1e-6 * grid.degrees_per_pixel)


def _ground_band(grid: Any) -> tuple[float, float]:
    """The elevations (low, high) of the ground the grid shows, away from the horizon and the rover's
    feet, where :func:`lunar_layout` puts things."""
    top = grid.elevation_top_deg
    bottom = top - grid.height * grid.degrees_per_pixel
    return max(bottom, -70.0), min(top, -2.0)


def lunar_layout(
    grid: Any,
    seed: int = 0,
    *,
    foil: Region | None = None,
    panel: Region | None = None,
    marker: Region | None = None,
    smooth: Region | None = None,
) -> LunarLayout:
    """Where :func:`lunar_world` puts things on ``grid``: the coloured objects and the smooth patch where
    given, else at fixed fractions of the grid's extent (so the same extent at another resolution shows the
    same world); craters and rocks scattered over the ground it shows, clear of those; all drawn from
    ``seed``.

    >>> from farside.scenes.geometry import Equirectangular
    >>> grid = Equirectangular(0.05, -30.0, 0.0, 1200, 720)
    >>> layout = lunar_layout(grid, smooth=Region(0.0, -10.0, 5.0, 8.0))
    >>> bool(layout.smooth.contains(1.0, -12.0)), len(layout.craters) > 10
    (True, True)
    """
    rng = np.random.default_rng([seed, 7])
    left = grid.azimuth_left_deg
    span = min(grid.width * grid.degrees_per_pixel, 360.0)
    low, high = _ground_band(grid)
    band = max(high - low, 0.0)

    def region(across: float, up: float, width: float, height: float) -> Region:
        jitter = rng.uniform(-0.02, 0.02, 2)
        return Region(float(left + (across + jitter[0]) * span), float(low + (up + jitter[1]) * band),
                      float(min(width, 0.12 * span)), float(min(height, 0.25 * band)))  # fmt: skip

    # Drawn from the generator whether given or not, so that giving one leaves the others where they were.
    default = region(0.22, 0.55, 4.0, 2.6), region(0.66, 0.30, 3.2, 2.0), region(0.84, 0.62, 0.8, 1.4)
    foil, panel, marker = (given or made for given, made in zip((foil, panel, marker), default, strict=True))
    placed = region(0.44, 0.50, 9.0, 10.0)
    placed = replace(placed, width_deg=min(9.0, 0.2 * span), height_deg=min(10.0, 0.4 * band))
    smooth = smooth or placed
    keep_clear = [foil, panel, marker, smooth]
    height = LunarLayout.camera_height_m

    def scatter(count: int, smallest: float, largest: float) -> tuple[tuple[float, float, float], ...]:
        """``count`` features of apparent radius between ``smallest`` and ``largest`` degrees, clear of the
        objects and the smooth patch."""
        out = []
        for _ in range(count):
            azimuth, elevation = left + rng.uniform(0, span), rng.uniform(low, high)
            angular = float(np.exp(rng.uniform(np.log(smallest), np.log(largest))))
            clear = not any(r.contains(azimuth, elevation, -2.0 * angular - 0.5) for r in keep_clear)
            if clear:
                distance = height / np.tan(np.radians(-elevation))
                out.append((float(azimuth), float(elevation), float(distance * np.tan(np.radians(angular)))))
        return tuple(out)

    area = span * band
    craters = scatter(int(area / 30), 0.35, 2.6)
    rocks = scatter(int(area / 5), 0.05, 0.35)
    return LunarLayout(float(rng.uniform(-180, 180)), float(rng.uniform(18, 28)), foil, panel, marker,
                       smooth, craters, rocks, height)  # fmt: skip


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


_TILE = 256  # side of an octave's periodic noise tile, in tile pixels
_TILE_WAVELENGTH = 8.0  # tile pixels per wavelength of an octave's noise


@lru_cache(maxsize=64)
def _octave(seed: int, k: int) -> tuple[np.ndarray, float, float, float]:
    """Octave ``k`` of the regolith (wavelength 2**k mm on the ground): a periodic band-pass noise tile of
    unit spread, and the turn (radians) and offsets (tile pixels) it is laid at."""
    rng = np.random.default_rng([seed, 11, k + 64])
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(_TILE), np.fft.fftfreq(_TILE)))
    # One octave wide around the tile's wavelength: the octaves add up without piling onto one scale.
    band = np.exp(-0.5 * (np.log2(np.maximum(frequency, 1e-9) * _TILE_WAVELENGTH) / 0.5) ** 2)
    tile = np.fft.ifft2(np.fft.fft2(rng.standard_normal((_TILE, _TILE))) * band).real
    tile = (tile / tile.std()).astype(np.float32)
    turn, x0, y0 = rng.uniform(0, 2 * np.pi), rng.uniform(0, _TILE), rng.uniform(0, _TILE)
    return tile, float(turn), float(x0), float(y0)


def _wrapped(coordinate: np.ndarray, offset: float, scratch: np.ndarray) -> None:
    """Tile coordinates (float32) moved by ``offset`` and wrapped onto the tile, in place: cv2.remap wraps
    coordinates off the tile itself, but several times slower than this."""
    coordinate += np.float32(offset)
    np.multiply(coordinate, np.float32(1.0 / _TILE), out=scratch)
    np.floor(scratch, out=scratch)
    scratch *= np.float32(_TILE)
    coordinate -= scratch


def _octave_strength(wavelength_m: float) -> float:
    """How strong the regolith's texture is at a wavelength on the ground: strongest for clods and small pits
    of 2 to 30 cm, weaker for finer dust and for broad swells. Ground with a scale of its own, unlike noise
    that looks alike at every scale, looks finer with distance."""
    return float(min(np.sqrt(wavelength_m / 0.02), 1.0, np.sqrt(0.3 / wavelength_m)))


def _regolith_texture(grid: Any, seed: int, height_m: float, amplitude: float = 0.16) -> np.ndarray:
    """Log-albedo of the regolith on ``grid`` (float32): noise laid on the ground plane in octaves of 2**k
    mm (:func:`_octave_strength`), so its apparent scale shrinks toward the horizon as on real ground.

    Each octave is drawn only where it shows: faded out where its apparent wavelength falls below 2-4
    pixels (no aliasing) or grows beyond 8-16 degrees, and drawn on a coarser copy of the grid where it is
    wide (an image pyramid, collapsed at the end), so the cost stays a few passes over the full grid. The
    texture is a function of direction on the ground, so it wraps round a full circle without a seam.
    """
    radian = np.radians(grid.degrees_per_pixel)
    top_level = int(np.clip(np.floor(np.log2(max(min(grid.height, grid.width), 16) / 16)), 0, 7))
    pad = 2
    # Octaves on the ground that can show anywhere on the grid.
    steepest = np.radians(
        min(85.0, max(1e-3, -(grid.elevation_top_deg - grid.height * grid.degrees_per_pixel)))
    )
    finest = 2.0 * height_m * radian / np.sin(steepest) ** 2
    k_lo, k_hi = int(np.floor(np.log2(finest / 1e-3))), 20
    field = None
    for level in range(top_level, -1, -1):
        factor = 2**level
        rows, cols = -(-grid.height // factor) + 2 * pad, -(-grid.width // factor) + 2 * pad
        step = grid.degrees_per_pixel * factor
        elevation = grid.elevation_top_deg + pad * step - (np.arange(rows) + 0.5) * step
        azimuth = grid.azimuth_left_deg - pad * step + (np.arange(cols) + 0.5) * step
        below = np.radians(np.clip(-elevation, 1e-4, 85.0))
        ground = elevation < 0
        distance = (height_m / np.tan(below)).astype(np.float64)
        here = np.zeros((rows, cols), np.float32)
        # Work arrays for one octave at a time, reused: fresh memory costs more than the arithmetic.
        x_buffer, y_buffer, sampled_buffer = (np.empty((rows, cols), np.float32) for _ in range(3))
        for k in range(k_lo, k_hi + 1):
            wavelength = 1e-3 * 2.0**k
            apparent = wavelength * np.sin(below) ** 2 / height_m  # vertical wavelength, radians
            q = np.log2(apparent / radian)  # in full-resolution pixels, log 2
            weight = _smoothstep(q - 1.0) * (1.0 - _smoothstep(np.log2(np.degrees(apparent) / 8.0)))
            if level == 0:
                weight *= np.clip(3.0 - q, 0.0, 1.0)
            elif level == top_level:
                weight *= np.clip(q - level - 1.0, 0.0, 1.0)
            else:
                weight *= np.clip(1.0 - np.abs(q - level - 2.0), 0.0, 1.0)
            weight = np.where(ground, weight, 0.0)
            active = np.flatnonzero(weight > 1e-3)
            if active.size == 0:
                continue
            r0, r1 = active[0], active[-1] + 1
            tile, turn, x0, y0 = _octave(seed, k)
            scale = _TILE_WAVELENGTH / wavelength
            radial = (distance[r0:r1] * scale).astype(np.float32)
            x, y, sampled = x_buffer[: r1 - r0], y_buffer[: r1 - r0], sampled_buffer[: r1 - r0]
            np.multiply.outer(radial, np.sin(np.radians(azimuth) + turn).astype(np.float32), out=x)
            np.multiply.outer(radial, np.cos(np.radians(azimuth) + turn).astype(np.float32), out=y)
            _wrapped(x, x0, sampled)
            _wrapped(y, y0, sampled)
            cv2.remap(tile, x, y, cv2.INTER_LINEAR, dst=sampled, borderMode=cv2.BORDER_WRAP)
            sampled *= (amplitude * _octave_strength(wavelength) * weight[r0:r1, None]).astype(np.float32)
            here[r0:r1] += sampled
        if field is not None:
            # The coarser level, resized onto this one exactly (pixel centres line up), then added.
            grown = cv2.resize(field, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            here += grown[pad : pad + rows, pad : pad + cols]
        field = here
    assert field is not None
    return field[pad : pad + grid.height, pad : pad + grid.width]


@dataclass(frozen=True)
class _Block:
    """The pixels of a grid round one thing: rows (a slice), columns (a slice, or indices that wrap round a
    full circle), and their centres' azimuths (unwrapped, continuous across ±180) and elevations."""

    rows: slice
    cols: slice | np.ndarray
    azimuth: np.ndarray  # (1, w)
    elevation: np.ndarray  # (h, 1)

    @property
    def index(self) -> tuple[slice, slice | np.ndarray]:
        return self.rows, self.cols


def _block(
    grid: Any, azimuth_lo: float, azimuth_hi: float, elevation_lo: float, elevation_hi: float
) -> _Block | None:
    """The grid's pixels whose centres may lie in an azimuth/elevation box; None where it shows none."""
    d = grid.degrees_per_pixel
    full = _full_circle(grid)
    if full:
        shift = (azimuth_lo - grid.azimuth_left_deg) % 360.0 + grid.azimuth_left_deg - azimuth_lo
        azimuth_lo, azimuth_hi = azimuth_lo + shift, azimuth_hi + shift
    x0, x1 = (
        int(np.floor((azimuth_lo - grid.azimuth_left_deg) / d)),
        int(np.ceil((azimuth_hi - grid.azimuth_left_deg) / d)),
    )
    y0 = int(np.floor((grid.elevation_top_deg - elevation_hi) / d))
    y1 = int(np.ceil((grid.elevation_top_deg - elevation_lo) / d))
    y0, y1 = max(y0, 0), min(y1, grid.height)
    if not full:
        x0, x1 = max(x0, 0), min(x1, grid.width)
    x1 = min(x1, x0 + grid.width)
    if x1 <= x0 or y1 <= y0:
        return None
    columns = np.arange(x0, x1)
    cols: slice | np.ndarray = slice(x0, x1) if x0 >= 0 and x1 <= grid.width else columns % grid.width
    azimuth = grid.azimuth_left_deg + (columns[None, :] + 0.5) * d
    elevation = grid.elevation_top_deg - (np.arange(y0, y1)[:, None] + 0.5) * d
    return _Block(slice(y0, y1), cols, azimuth, elevation)


def _on_ground(block: _Block, height_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground coordinates (metres: x to azimuth 90, y to azimuth 0) of a block's pixels, and which of them
    look at the ground at all."""
    below = np.radians(np.clip(-block.elevation, 1e-4, 89.9))
    distance = height_m / np.tan(below)
    azimuth = np.radians(block.azimuth)
    return (
        distance * np.sin(azimuth),
        distance * np.cos(azimuth),
        np.broadcast_to(block.elevation < 0, (block.elevation.shape[0], block.azimuth.shape[1])),
    )


def _sun(layout: LunarLayout) -> np.ndarray:
    a, e = np.radians(layout.sun_azimuth_deg), np.radians(layout.sun_elevation_deg)
    return np.array([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)])


def _ground_box(
    layout: LunarLayout, x: np.ndarray, y: np.ndarray
) -> tuple[float, float, float, float] | None:
    """The azimuth/elevation box round ground points (metres); None where one lies under the camera."""
    distance = np.hypot(x, y)
    if distance.min() < 0.3:
        return None
    azimuth = np.degrees(np.arctan2(x, y))
    centre = azimuth[0]
    azimuth = (azimuth - centre + 180.0) % 360.0 - 180.0 + centre
    elevation = -np.degrees(np.arctan2(layout.camera_height_m, distance))
    return float(azimuth.min()), float(azimuth.max()), float(elevation.min()), float(elevation.max())


def _craters(log_albedo: np.ndarray, grid: Any, layout: LunarLayout, seed: int) -> None:
    """Shade ``log_albedo`` (in place) with bowl-shaped craters with raised rims, lit by the layout's sun: the
    wall turned to the sun bright, the other dark, shadowed where it turns away further than the sun is high.
    """
    sun = _sun(layout)
    rng = np.random.default_rng([seed, 13])
    circle = np.linspace(0, 2 * np.pi, 33)
    for azimuth, elevation, radius in layout.craters:
        centre_distance = layout.camera_height_m / np.tan(np.radians(-elevation))
        cx, cy = centre_distance * np.sin(np.radians(azimuth)), centre_distance * np.cos(np.radians(azimuth))
        reach = 1.7 * radius
        box = _ground_box(layout, cx + reach * np.cos(circle), cy + reach * np.sin(circle))
        block = None if box is None else _block(grid, *box)
        if block is None:
            continue
        x, y, ground = _on_ground(block, layout.camera_height_m)
        dx, dy = (x - cx) / radius, (y - cy) / radius
        rho = np.maximum(np.hypot(dx, dy), 1e-6)
        depth, rim = rng.uniform(0.12, 0.22), rng.uniform(0.03, 0.06)
        # Height (in radii) against the distance from the centre: a parabolic bowl inside, a rim decaying
        # outside; only its slope matters for the shading.
        slope = np.where(rho < 1.0, 2.0 * depth * rho, -4.0 * rim * rho**-5)
        gx, gy = slope * dx / rho, slope * dy / rho
        lit = (-gx * sun[0] - gy * sun[1] + sun[2]) / (np.sqrt(1 + gx**2 + gy**2) * sun[2])
        factor = np.where(rho < reach / radius, np.maximum(lit, _SHADOW), 1.0)
        # Fresh craters are a little brighter inside (less weathered regolith).
        factor *= 1.0 + rng.uniform(0.0, 0.12) * np.exp(-(rho**2))
        log_albedo[block.index] += np.log(np.where(ground, factor, 1.0)).astype(np.float32)


def _rocks(
    log_albedo: np.ndarray, grid: Any, layout: LunarLayout, seed: int
) -> list[tuple[_Block, np.ndarray, np.ndarray]]:
    """Cast the rocks' shadows onto ``log_albedo`` (in place); returns each rock's body to draw over the
    ground (its block, coverage 0..1 and brightness relative to flat sunlit regolith)."""
    sun = _sun(layout)
    away = -sun[:2] / np.hypot(*sun[:2])
    across = np.array([-away[1], away[0]])
    rng = np.random.default_rng([seed, 17])
    bodies = []
    for azimuth, elevation, radius in layout.rocks:
        distance = layout.camera_height_m / np.tan(np.radians(-elevation))
        bx, by = distance * np.sin(np.radians(azimuth)), distance * np.cos(np.radians(azimuth))
        tall = radius * rng.uniform(0.6, 1.0)
        length = radius + tall / np.tan(np.radians(layout.sun_elevation_deg))
        corners = np.array([[-radius, -radius], [-radius, radius], [length, -radius], [length, radius]])
        gx = bx + corners[:, 0] * away[0] + corners[:, 1] * across[0]
        gy = by + corners[:, 0] * away[1] + corners[:, 1] * across[1]
        box = _ground_box(layout, gx, gy)
        block = None if box is None else _block(grid, *box)
        if block is not None:
            x, y, ground = _on_ground(block, layout.camera_height_m)
            t = (x - bx) * away[0] + (y - by) * away[1]
            w = (x - bx) * across[0] + (y - by) * across[1]
            half = length / 2
            inside = ((t - half) / half) ** 2 + (w / radius) ** 2
            edge = np.clip((1.0 - inside) * 4.0, 0.0, 1.0)  # a soft penumbra
            light = np.where(ground, 1.0 - (1.0 - _SHADOW) * edge, 1.0)
            log_albedo[block.index] += np.log(light).astype(np.float32)
        # The rock itself: a half-ellipsoid seen from the side, standing on the ground.
        wide = np.degrees(np.arctan2(radius, distance))
        high = np.degrees(np.arctan2(tall, distance)) * 0.9
        body = _block(grid, azimuth - wide, azimuth + wide, elevation, elevation + high)
        if body is None:
            continue
        u = ((body.azimuth - azimuth + 180.0) % 360.0 - 180.0) / wide
        v = (body.elevation - elevation) / high
        r2 = u**2 + v**2
        pixel = grid.degrees_per_pixel
        coverage = np.clip((1.0 - np.sqrt(r2)) * min(wide, high) / pixel + 0.5, 0.0, 1.0) * (v >= 0)
        if not coverage.any():
            continue
        n_up = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        a = np.radians(body.azimuth)
        right = np.stack([np.cos(a), -np.sin(a), np.zeros_like(a)], -1)
        toward = np.stack([-np.sin(a), -np.cos(a), np.zeros_like(a)], -1)
        normal = u[..., None] * right + v[..., None] * np.array([0.0, 0.0, 1.0]) + n_up[..., None] * toward
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
        lit = np.maximum(normal @ sun, 0.0) / sun[2]
        brightness = rng.uniform(0.9, 1.3) * (_SHADOW + lit)
        bodies.append((body, coverage.astype(np.float32), brightness.astype(np.float32)))
    return bodies


def _soft_box(block: _Block, region: Region, soft_deg: float) -> np.ndarray:
    """Coverage (0..1) of a region's box over a block's pixels, with edges ``soft_deg`` wide."""
    across = np.abs((block.azimuth - region.azimuth_deg + 180.0) % 360.0 - 180.0) - region.width_deg / 2
    up = np.abs(block.elevation - region.elevation_deg) - region.height_deg / 2
    return (_smoothstep(0.5 - across / soft_deg) * _smoothstep(0.5 - up / soft_deg)).astype(np.float32)


def _soft_blob(block: _Block, region: Region, soft_deg: float) -> np.ndarray:
    """Coverage (0..1) of a rounded patch filling a region's box but for its corners (a superellipse),
    with an edge ``soft_deg`` wide."""
    across = ((block.azimuth - region.azimuth_deg + 180.0) % 360.0 - 180.0) / (region.width_deg / 2)
    up = (block.elevation - region.elevation_deg) / (region.height_deg / 2)
    radius = (across**4 + up**4) ** 0.25
    return _smoothstep(0.5 - (radius - 1.0) * min(region.width_deg, region.height_deg) / 2 / soft_deg).astype(
        np.float32
    )


def _painted(name: str, block: _Block, region: Region, grid: Any, rng: np.random.Generator) -> np.ndarray:
    """Linear RGB of a coloured object over its block: crinkled gold foil, a panel of blue cells in a
    silver frame, or a red marker with a white band."""
    colour = srgb_to_linear(np.array(LUNAR_COLOURS[name], np.float32) / 255.0)
    shape = (block.elevation.shape[0], block.azimuth.shape[1])
    u = ((block.azimuth - region.azimuth_deg + 180.0) % 360.0 - 180.0) / region.width_deg + 0.5
    v = (region.elevation_deg - block.elevation) / region.height_deg + 0.5
    u, v = np.broadcast_to(u, shape), np.broadcast_to(v, shape)
    if name == "foil":
        # Crinkles: facets at two scales, the finer about 0.06 degrees (never under three world pixels),
        # bright where they face the sun and dark where they do not, with sharp folds between.
        light = np.ones(shape, np.float32)
        for size, weight in ((max(0.06, 3 * grid.degrees_per_pixel), 0.35), (0.2, 0.25)):
            cells = max(2, int(region.width_deg / size)), max(2, int(region.height_deg / size))
            noise = rng.standard_normal((cells[1] + 3, cells[0] + 3)).astype(np.float32)
            xs = ((u * cells[0] + 1) * 8).astype(np.float32)
            ys = ((v * cells[1] + 1) * 8).astype(np.float32)
            fine = cv2.resize(noise, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
            sampled = cv2.remap(fine, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            light += weight * np.tanh(2.0 * sampled)
        light = np.clip(light, 0.35, 1.6)
    elif name == "panel":
        # Cells about 0.4 degrees across in a frame; the cell borders thin and pale.
        cells_x, cells_y = max(2, round(region.width_deg / 0.4)), max(2, round(region.height_deg / 0.4))
        edge = np.minimum(np.abs((u * cells_x) % 1 - 0.5), np.abs((v * cells_y) % 1 - 0.5))
        line = np.clip((edge - 0.42) / 0.08, 0.0, 1.0)
        framed = np.minimum.reduce([u, 1 - u, v, 1 - v]) < 0.04
        grid_line = np.maximum(line, framed)
        light = 1.0 - 0.15 * v
        pale = srgb_to_linear(np.array([170, 170, 175], np.float32) / 255.0)
        return ((1 - grid_line)[..., None] * colour * light[..., None] + grid_line[..., None] * pale).astype(
            np.float32
        )
    else:
        band = np.abs(v - 0.3) < 0.06
        light = 1.05 - 0.25 * u
        white = srgb_to_linear(np.array([225, 225, 220], np.float32) / 255.0)
        return np.where(band[..., None], white, colour * light[..., None]).astype(np.float32)
    return (colour * light[..., None]).astype(np.float32)


def _srgb_lut(levels: int = 4096) -> np.ndarray:
    """8-bit sRGB of ``levels`` linear values evenly spread over [0, 1]."""
    linear = np.linspace(0.0, 1.0, levels)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8)


def lunar_world(grid: Any, seed: int = 0, *, layout: LunarLayout | None = None) -> np.ndarray:
    """A ground-truth world as the rover's mast camera sees it, laid out on ``grid`` (an
    :class:`~farside.scenes.geometry.Equirectangular`): 8-bit sRGB, (height, width, 3).

    Neutral grey regolith textured at many scales, strongest at the size of clods and small pits, laid on
    the ground plane (the camera the layout's ``camera_height_m`` above it), so its apparent scale shrinks
    toward the horizon and grows toward the rover's feet; craters (bowls with raised rims) and rocks with
    cast shadows, lit from one sun; gold foil, a blue solar panel and a red marker; one smooth patch of
    almost featureless regolith, where feature matching has nothing to hold on to; black sky above the
    horizon (elevation above 0). What goes where is ``layout`` (by default :func:`lunar_layout` of the grid
    and seed).

    The same seed and grid give the same world; the regolith is a function of direction, so a grid round the
    full circle wraps without a seam, and a grid of the same extent at another resolution shows the same
    world. A 20000 x 3000 grid takes a few seconds.

    >>> from farside.scenes.geometry import Equirectangular
    >>> grid = Equirectangular(0.05, -180.0, 10.0, 7200, 1000)  # the full circle, +10 to -40 degrees
    >>> world = lunar_world(grid, seed=3)
    >>> world.shape, world.dtype, int(world[:190].max())  # the sky is black
    ((1000, 7200, 3), dtype('uint8'), 0)
    >>> bool(np.array_equal(world, lunar_world(grid, seed=3)))
    True
    """
    layout = layout or lunar_layout(grid, seed)
    height = layout.camera_height_m
    texture = _regolith_texture(grid, seed, height)  # log albedo
    smooth = layout.smooth
    block = _block(grid, *smooth.bounds(1.0)) if smooth.width_deg > 0 and smooth.height_deg > 0 else None
    if block is not None:
        # Smooth regolith: the texture all but gone (what is left is about as strong as a sensor's noise).
        texture[block.index] *= 1.0 - 0.96 * _soft_blob(block, smooth, 1.0)
    _craters(texture, grid, layout, seed)
    bodies = _rocks(texture, grid, layout, seed)
    linear = np.exp(texture, out=texture)
    linear *= np.float32(_REGOLITH)
    for body, coverage, brightness in bodies:
        ground = linear[body.index]
        linear[body.index] = ground + coverage * (np.float32(_REGOLITH) * brightness - ground)
    sky_rows = int(np.clip(np.ceil(grid.elevation_top_deg / grid.degrees_per_pixel - 0.5), 0, grid.height))
    linear[:sky_rows] = 0.0
    painted = []
    rng = np.random.default_rng([seed, 19])
    for name, region in layout.objects.items():
        soft = grid.degrees_per_pixel
        block = _block(grid, *region.bounds(soft)) if region.width_deg > 0 and region.height_deg > 0 else None
        if block is None:
            continue
        coverage = _soft_box(block, region, soft)[..., None]
        ground = linear[block.index][..., None]
        colour = ground + coverage * (_painted(name, block, region, grid, rng) - ground)
        painted.append((block, colour))
    levels = 4096
    linear *= np.float32(levels - 1)
    np.clip(linear, 0, levels - 1, out=linear)
    grey = _srgb_lut(levels)[linear.astype(np.uint16)]
    world = cv2.merge([grey, grey, grey])
    for block, colour in painted:
        index = np.clip(colour * (levels - 1), 0, levels - 1).astype(np.uint16)
        world[block.index] = _srgb_lut(levels)[index]
    return world


# ------------------------------------------------------------------------------------------------------------
# A landing descent for movie ground truth
# ------------------------------------------------------------------------------------------------------------
#
# The Chang'e-4 landing camera took its frames from 02:20:09 UTC on 2019-01-03, about 9.8 a second, numbered
# LCAM-1-0000 onwards (docs/gras-products.md, "Scenes: ... the descent"). A synthetic descent is a zoom into
# a cratered ground, each frame recorded through the LCAM's sensor model with its own exposure (the
# automatic exposure's flicker) and, optionally, block-transform compression noise; each carries its index
# as a code of bright and dark blocks in its top-left corner, so a movie's frames can be told apart after
# lossy encoding.

DESCENT_ORIGIN = datetime(2019, 1, 3, 2, 20, 9, tzinfo=UTC)
DESCENT_RATE = 9.8  # frames per second
MARKER_BITS = 14  # frame indices up to 16,383
_MARKER_PAIRS_PER_ROW = 7
# Dark and bright blocks, 8-bit sRGB: within the ground's range, so no frame's stretch is set by them.
_MARKER_LEVELS = (40, 150)


def descent_ground(size: int, seed: int = 0) -> np.ndarray:
    """A square patch of cratered regolith seen from above, (size, size) 8-bit sRGB grey.

    Texture at every scale (noise whose amplitude grows with its wavelength, as on a fractal surface) and
    craters from a hundredth to a twelfth of the patch across, lit from the left: each bowl is dark on the
    side toward the sun and bright on the far wall, with a brighter rim. Mean linear albedo about 0.12.
    A 4096-pixel patch takes about two seconds.
    """
    rng = np.random.default_rng([seed, 23])
    log_albedo = np.zeros((size, size), np.float32)
    wavelength = size / 2.0
    while wavelength >= 2.0:
        cells = max(2, int(np.ceil(size / wavelength)) + 1)
        coarse = rng.standard_normal((cells, cells)).astype(np.float32)
        layer = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        log_albedo += layer * np.float32(0.15 * (wavelength / size) ** 0.25)
        wavelength /= 2.0
    count = max(8, size // 12)
    smallest, largest = max(2.0, size / 400.0), size / 10.0
    radii = smallest * (largest / smallest) ** (rng.random(count) ** 2)  # small craters far more common
    for radius in np.sort(radii)[::-1]:
        cy, cx = rng.uniform(0, size, 2)
        reach = int(np.ceil(1.4 * radius))
        y0, y1 = max(0, int(cy) - reach), min(size, int(cy) + reach + 1)
        x0, x1 = max(0, int(cx) - reach), min(size, int(cx) + reach + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = (xx - cx) / np.float32(radius), (yy - cy) / np.float32(radius)
        d = np.sqrt(dx * dx + dy * dy)
        bowl = np.clip(1.0 - d, 0.0, 1.0)
        rim = np.exp(-(((d - 1.05) / 0.12) ** 2))
        log_albedo[y0:y1, x0:x1] += 0.9 * dx * np.sqrt(bowl) - 0.15 * bowl + 0.25 * rim
    linear = np.float32(0.12) * np.exp(log_albedo - np.float32(log_albedo.mean()))
    encoded = tone_encode(np.clip(linear, 0.0, 1.0))
    return np.round(encoded * 255.0).astype(np.uint8)


def tone_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve on linear values in [0, 1] (float32 out)."""
    v = np.asarray(linear, np.float32)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055).astype(np.float32)


def descent_view(ground: np.ndarray, index: int, count: int, size: int, zoom: float = 4.0) -> np.ndarray:
    """Frame ``index`` of ``count`` of a descent onto ``ground``: the whole patch at first, a ``zoom`` times
    smaller part of it at the end (the camera's height falling geometrically), drifting sideways a little;
    (size, size) like ``ground``'s pixels."""
    side = ground.shape[0]
    t = index / max(1, count - 1)
    crop = side / zoom**t
    spare = (side - crop) / 2.0
    cy = side / 2.0 + 0.4 * spare * np.sin(1.3 * np.pi * t)
    cx = side / 2.0 + 0.4 * spare * np.sin(2.1 * np.pi * t + 0.5)
    y0, x0 = round(cy - crop / 2), round(cx - crop / 2)
    c = max(1, round(crop))
    y0, x0 = min(max(0, y0), side - c), min(max(0, x0), side - c)
    return resize(ground[y0 : y0 + c, x0 : x0 + c], size, size)


def marker_block(size: int) -> int:
    """Side of a marker block in a frame ``size`` pixels across: 8 pixels, or a 64th of the frame."""
    return max(8, size // 64)


def paint_marker(view: np.ndarray, index: int) -> np.ndarray:
    """``view`` with ``index`` written in its top-left corner, :data:`MARKER_BITS` bits in two rows.

    Each bit is a pair of blocks, bright-dark for 1 and dark-bright for 0 (Manchester code): every frame
    holds as many bright blocks as dark ones whatever its index, so the marker adds no brightness change from
    frame to frame, and a bit is read by comparing its two blocks, whatever the exposure or stretch."""
    if not 0 <= index < 1 << MARKER_BITS:
        raise ValueError(f"a marker holds 0 to {(1 << MARKER_BITS) - 1}, not {index}")
    out = view.copy()
    block = marker_block(view.shape[1])
    dark, bright = _MARKER_LEVELS
    for bit in range(MARKER_BITS):
        row, pair = divmod(bit, _MARKER_PAIRS_PER_ROW)
        first, second = (bright, dark) if (index >> bit) & 1 else (dark, bright)
        top, left = (1 + row) * block, (1 + 2 * pair) * block
        out[top : top + block, left : left + block] = first
        out[top : top + block, left + block : left + 2 * block] = second
    return out


def marker_rows(size: int) -> int:
    """Rows from the top of a frame ``size`` pixels across that the marker and its margin take."""
    return 4 * marker_block(size)


def read_marker(image: np.ndarray, block: int | None = None) -> int:
    """The index :func:`paint_marker` wrote into a frame (grey or RGB, any bit depth), read from the middle
    half of each block. ``block`` is the marker's block size in this image (default: as painted on a frame
    of this width)."""
    grey = image if image.ndim == 2 else image.mean(axis=2)
    block = block or marker_block(grey.shape[1])
    inner = slice(block // 4, block - block // 4)
    value = 0
    for bit in range(MARKER_BITS):
        row, pair = divmod(bit, _MARKER_PAIRS_PER_ROW)
        top, left = (1 + row) * block, (1 + 2 * pair) * block
        cells = grey[top : top + block, left : left + 2 * block].astype(np.float64)
        first, second = cells[inner, :block][:, inner].mean(), cells[inner, block:][:, inner].mean()
        value |= int(first > second) << bit
    return value


def descent_kind(serial: int) -> ProductKind:
    """The CE-4 LCAM product kind of frame ``serial`` of the descent (``LCAM-1-0000`` onwards)."""
    return replace(KINDS["ce4-lcam"], instrument_field=f"LCAM-1-{serial:04d}")


def descent_start(serial: int, rate: float = DESCENT_RATE) -> datetime:
    """The start time of descent frame ``serial`` as names give it: whole seconds, so about ten frames share
    each."""
    return DESCENT_ORIGIN + timedelta(seconds=int(serial // rate))


def descent_gains(count: int, flicker: float = 0.15, seed: int = 0) -> np.ndarray:
    """Each frame's exposure relative to the mean: uniform within +-``flicker``, independent from frame to
    frame."""
    return np.random.default_rng([seed, 29]).uniform(1.0 - flicker, 1.0 + flicker, count)


def write_descent_frame(
    ground: np.ndarray,
    index: int,
    count: int,
    directory: str | os.PathLike[str],
    *,
    size: int = 1024,
    gain: float = 1.0,
    zoom: float = 4.0,
    level: float = 0.25,
    compression: int | None = 80,
    seed: int = 0,
) -> Path:
    """Write frame ``index`` of ``count`` of a descent onto ``ground`` (:func:`descent_ground`) as a CE-4
    LCAM product (serial ``index``, named by :func:`descent_start`); returns the label's path.

    The view (:func:`descent_view`) with its marker (:func:`paint_marker`) is recorded by the LCAM's sensor
    model at an exposure that puts the ground's mean at ``level`` of full scale, times ``gain``; with
    ``compression`` (a JPEG quality) the stored frame is then put through a block-transform codec, as the
    camera's 8:1 compression does."""
    view = paint_marker(descent_view(ground, index, count, size, zoom), index)
    mean = float(srgb_to_linear(np.arange(256) / 255.0)[ground].mean())
    model = SensorModel.for_kind("ce4-lcam", exposure=level / mean * gain)
    raw = record(cv2.merge([view, view, view]), model, seed=seed * 100_003 + index).raw.astype(np.uint8)
    if compression is not None:
        ok, packed = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, int(compression)])
        raw = cv2.imdecode(packed, cv2.IMREAD_GRAYSCALE) if ok else raw
    kind = descent_kind(index)
    return write_product(kind, None, directory, pixels=raw, start=descent_start(index))


def write_descent(
    directory: str | os.PathLike[str],
    count: int,
    *,
    size: int = 1024,
    flicker: float = 0.15,
    zoom: float = 4.0,
    compression: int | None = 80,
    corrupt: Sequence[int] = (),
    seed: int = 0,
) -> list[Path]:
    """A descent of ``count`` LCAM frames (:func:`write_descent_frame`) written into ``directory``, each
    ``size`` pixels square, with exposures flickering by up to +-``flicker`` (:func:`descent_gains`); the
    data files of the frames in ``corrupt`` are cut short (truncated products). Returns the labels' paths in
    frame order."""
    ground = descent_ground(min(4096, max(size, int(size * zoom))), seed)
    gains = descent_gains(count, flicker, seed)
    labels = []
    for index in range(count):
        label = write_descent_frame(ground, index, count, directory, size=size, gain=float(gains[index]),
                                    zoom=zoom, compression=compression, seed=seed)  # fmt: skip
        if index in corrupt:
            data = label.with_name(label.name[:-1])
            data.write_bytes(data.read_bytes()[: size * size // 3])
        labels.append(label)
    return labels
