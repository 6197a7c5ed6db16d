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
from functools import cache
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


def pcam_mission_area(yaw: float = -12.898743, pitch: float = -23.907715, focal_length_mm: float = 50.0,
                      pixel_size_um: float = 7.4) -> list[Element]:  # fmt: skip
    """The Mission_Area of a PCAM label: optics, rover location, pointing (mast yaw and pitch)."""
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
                ("longitude", "177.588000"),
                ("latitude", "-45.457000"),
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
) -> list[Path]:
    """A PCAM colour sweep of ``world``: a frame rendered at each (yaw, pitch) with ``camera``
    (:func:`render_view`), recorded through the sensor model and written as a product whose label gives the
    pointing plus ``label_errors`` (degrees), the focal length and ``pixel_size_um`` such that the label's
    optics are the camera's. Returns the labels' paths."""
    from farside.scenes.geometry import orientation

    focal_mm = camera.focal_px * pixel_size_um * 1e-3
    labels = []
    for index, (yaw, pitch) in enumerate(pointings):
        view = render_view(world, world_grid, camera, orientation(yaw, pitch))
        error = label_errors[index] if label_errors is not None else (0.0, 0.0)
        area = pcam_mission_area(yaw + error[0], pitch + error[1], focal_mm, pixel_size_um)
        raw = simulate_raw(view, (camera.height, camera.width), seed=index)
        labels.append(write_product("ce4-pcam-c", None, directory, pixels=raw, start=sequence_start(index),
                                    mission_area=area))  # fmt: skip
    return labels


def world_seen_by(world: np.ndarray, world_grid: Any, grid: Any) -> np.ndarray:
    """The ``world`` (laid out on ``world_grid``) at the direction ``grid`` gives each of its pixels: what a
    perfect panorama on ``grid`` would show."""
    xs, ys = np.meshgrid(np.arange(grid.width), np.arange(grid.height))
    x, y = world_grid.pixel_of(*grid.angles_of(xs, ys))
    return cv2.remap(world, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR)


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
