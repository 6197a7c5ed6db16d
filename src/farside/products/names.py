"""The GRAS product file-name grammar.

``{mission}_{centre}_{instrument}[-{mode}]-{serial}_SCI_{N|R|P}_{start}_{stop}_{sequence}_{version}.{level}[L]``

for example ``CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL``.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from farside.errors import ProductNameError

# Instrument tokens as they appear in names, longest first so that "NaTeCam" wins over a shorter prefix.
# A trailing letter after the base name identifies the camera of a pair (PCAML/PCAMR, NaTeCamA/B).
_INSTRUMENTS = ("NaTeCam", "MSCam", "PCAM", "TCAM", "LCAM")

_NAME = re.compile(
    r"""^
    (?P<mission>CE\d(?:-[A-Z])?|HX\d-[A-Za-z]+)_
    (?P<centre>[A-Z]+)_
    (?P<instrument_field>[A-Za-z]+[A-Za-z0-9]*(?:-[A-Za-z0-9]+)+)_
    (?P<product_type>SCI)_
    (?P<data_flag>[NRP])_
    (?P<start>\d{14})_
    (?P<stop>\d{14})_
    (?P<sequence>\d{4,5})_
    (?P<version>[A-Z])
    \.(?P<level>[0-9][0-9A-Z])
    (?P<label_suffix>L)?
    $""",
    re.VERBOSE | re.ASCII,
)


@dataclass(frozen=True)
class ProductName:
    """The identifying fields of a GRAS product file name.

    Attributes
    ----------
    product_id : str
        The name without the label's trailing ``L`` (the data file's name).
    mission : str
        ``CE3``, ``CE4``, ``CE5-L``, ``CE6-L``, ``HX1-Ro``...
    centre : str
        Producing centre, ``GRAS`` (``BMYK`` for Chang'e-3).
    instrument : str
        Instrument without the camera letter: ``PCAM``, ``TCAM``, ``LCAM``, ``NaTeCam``, ``MSCam``...
    camera : str or None
        The camera of a pair as the name gives it (``L``/``R`` for PCAM, ``A``/``B`` for NaTeCam), else None.
    mode : str or None
        The mode field (PCAM ``C`` colour / ``Q`` panchromatic, TCAM ``I``/``A``, LCAM ``1``/``2``...);
        None where the instrument field has no mode (Chang'e-3 ``LCAM-4531``).
    serial : str
        The serial field(s) after the mode, joined by ``-``.
    data_flag : str
        ``N`` mixed, ``R`` real-time or ``P`` playback data.
    start_time, stop_time : datetime
        UTC times of the observation.
    sequence_id : str
        The sequence (4 digits; 5 on Tianwen-1, where it is the sol).
    version : str
        Product version letter.
    level : str
        Processing level: ``2A``, ``2B``, ``2C``, ``01``...
    is_label : bool
        Whether the name is a label's (ends in ``L``).
    """

    product_id: str
    mission: str
    centre: str
    instrument: str
    camera: str | None
    mode: str | None
    serial: str
    data_flag: str
    start_time: datetime
    stop_time: datetime
    sequence_id: str
    version: str
    level: str
    is_label: bool

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_time"] = self.start_time.isoformat()
        out["stop_time"] = self.stop_time.isoformat()
        return out


def split_instrument(token: str) -> tuple[str, str | None]:
    for base in sorted(_INSTRUMENTS, key=len, reverse=True):
        if token == base:
            return base, None
        if token.startswith(base) and len(token) == len(base) + 1 and token[-1].isupper():
            return base, token[-1]
    return token, None


def _utc(stamp: str, name: str) -> datetime:
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ProductNameError(f"{name}: {stamp!r} is not a valid UTC time ({exc})") from None


def parse_name(name: str | os.PathLike[str]) -> ProductName:
    """Parse a GRAS product file name (a path is fine: only its last component is read).

    Parameters
    ----------
    name : str or path-like
        A data file or label name (a path is fine), e.g.
        ``CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL``.

    Returns
    -------
    ProductName

    Raises
    ------
    ProductNameError
        If the name does not follow the grammar; the message says so in one line.

    Examples
    --------
    >>> n = parse_name("CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL")
    >>> n.instrument, n.camera, n.mode, n.level, n.is_label
    ('PCAM', 'L', 'C', '2B', True)
    """
    base = os.path.basename(os.fspath(name))
    match = _NAME.match(base)
    if match is None:
        raise ProductNameError(f"{base}: not a GRAS product name (expected e.g. {_EXAMPLE})")
    fields = match.groupdict()
    instrument_token, *rest = fields["instrument_field"].split("-")
    instrument, camera = split_instrument(instrument_token)
    if len(rest) == 1:
        mode, serial = None, rest[0]
    else:
        mode, serial = rest[0], "-".join(rest[1:])
    is_label = fields["label_suffix"] is not None
    return ProductName(
        product_id=base[:-1] if is_label else base,
        mission=fields["mission"],
        centre=fields["centre"],
        instrument=instrument,
        camera=camera,
        mode=mode,
        serial=serial,
        data_flag=fields["data_flag"],
        start_time=_utc(fields["start"], base),
        stop_time=_utc(fields["stop"], base),
        sequence_id=fields["sequence"],
        version=fields["version"],
        level=fields["level"],
        is_label=is_label,
    )


_EXAMPLE = "CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL"
