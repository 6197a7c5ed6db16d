"""Chang'e-3 products: PDS3 labels ATTACHED at the start of the data file.

The label is ODL text (``KEY = VALUE`` lines, ``OBJECT``/``END_OBJECT`` blocks, ``END``), followed, at the
record named by ``^IMAGE``, by the image.
"""

from __future__ import annotations

import os
import re
from typing import Any

from farside.errors import AxesError, DataTypeError, LabelError
from farside.products.datatypes import pds3_dtype
from farside.products.label import MAX_ARRAY_BYTES, ArraySpec

PDS3_SIGNATURE = b"PDS_VERSION_ID"
_HEAD_BYTES = 1 << 16
_END = re.compile(rb"^\s*END\s*$", re.MULTILINE)
_UNIT = re.compile(r"<[^>]*>")


def looks_like_pds3(head: bytes) -> bool:
    """Whether a file starts with an attached PDS3 label."""
    return head.lstrip()[: len(PDS3_SIGNATURE)] == PDS3_SIGNATURE


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"'):
        return " ".join(raw[1:-1].split())
    if raw.startswith("(") and raw.endswith(")"):
        return [_value(part) for part in raw[1:-1].split(",")]
    unit = _UNIT.search(raw)
    bare = _UNIT.sub("", raw).strip()
    for cast in (int, float):
        try:
            number = cast(bare)
        except ValueError:
            continue
        return {"value": number, "unit": unit.group()[1:-1]} if unit else number
    return bare.strip("'")


def parse_odl(text: str) -> dict[str, Any]:
    """Parse ODL text into nested dicts (``OBJECT`` blocks become sub-dicts under their name)."""
    root: dict[str, Any] = {}
    stack = [root]
    statements = _statements(text)
    for key, raw in statements:
        if key == "END":
            break
        if key in ("OBJECT", "GROUP"):
            block: dict[str, Any] = {}
            stack[-1][str(_value(raw))] = block
            stack.append(block)
        elif key in ("END_OBJECT", "END_GROUP"):
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = _value(raw)
    return root


def _statements(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        line = line.split("/*", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.strip() == "END":
            out.append(("END", ""))
            break
        if "=" not in line:
            continue
        key, raw = (part.strip() for part in line.split("=", 1))
        # A quoted value or list may run over several lines.
        while (raw.count('"') % 2) or (raw.count("(") > raw.count(")")):
            try:
                raw += " " + next(lines).strip()
            except StopIteration:
                break
        out.append((key.upper(), raw))
    return out


def read_attached_label(path: str | os.PathLike[str], head: bytes) -> tuple[dict[str, Any], str]:
    """The ODL dict and decoded text of an attached label, given the file's first bytes."""
    end = _END.search(head[:_HEAD_BYTES])
    if end is None:
        raise LabelError(path, "attached PDS3 label has no END line")
    raw = head[: end.end()]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    return parse_odl(text), text


def _int(keywords: dict[str, Any], key: str, path: str | os.PathLike[str]) -> int:
    value = keywords.get(key)
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, int):
        raise LabelError(path, f"PDS3 label lacks an integer {key}")
    return value


def pds3_array_spec(keywords: dict[str, Any], path: str | os.PathLike[str]) -> ArraySpec:
    """Locate the IMAGE object of an attached PDS3 label."""
    image = keywords.get("IMAGE")
    if not isinstance(image, dict):
        raise LabelError(path, "PDS3 label has no IMAGE object")
    pointer = keywords.get("^IMAGE")
    if isinstance(pointer, list):
        pointer = pointer[-1]
    if isinstance(pointer, dict) and str(pointer.get("unit", "")).upper() == "BYTES":
        offset = int(pointer["value"]) - 1
    elif isinstance(pointer, int):
        offset = (pointer - 1) * _int(keywords, "RECORD_BYTES", path)
    else:
        raise LabelError(path, "PDS3 label has no usable ^IMAGE pointer")
    lines = _int(image, "LINES", path)
    samples = _int(image, "LINE_SAMPLES", path)
    bands = image.get("BANDS", 1)
    bits = _int(image, "SAMPLE_BITS", path)
    sample_type = str(image.get("SAMPLE_TYPE", ""))
    try:
        dtype = pds3_dtype(sample_type, bits)
    except KeyError:
        raise DataTypeError(path, f"unknown PDS3 sample type {sample_type!r} of {bits} bits") from None
    if min(lines, samples, bands if isinstance(bands, int) else 0) <= 0 or offset < 0:
        raise AxesError(path, f"impossible image size {lines} x {samples} x {bands} at byte {offset}")
    storage = str(image.get("BAND_STORAGE_TYPE", "BAND_SEQUENTIAL")).upper()
    if bands == 1:
        shape, names = (lines, samples), ("Line", "Sample")
    elif storage == "SAMPLE_INTERLEAVED":
        shape, names = (lines, samples, bands), ("Line", "Sample", "Band")
    elif storage == "LINE_INTERLEAVED":
        shape, names = (lines, bands, samples), ("Line", "Band", "Sample")
    else:
        shape, names = (bands, lines, samples), ("Band", "Line", "Sample")
    spec = ArraySpec(
        kind="IMAGE",
        data_type=f"{sample_type} {bits}",
        dtype=dtype,
        offset=offset,
        shape=shape,
        axis_names=names,
        file_name=None,
        scaling_factor=image.get("SCALING_FACTOR"),
        value_offset=image.get("OFFSET"),
    )
    if spec.nbytes > MAX_ARRAY_BYTES:
        raise AxesError(path, f"image of {shape} needs {spec.nbytes:,} bytes: not an image")
    return spec


def flat_keywords(keywords: dict[str, Any]) -> dict[str, Any]:
    """Top-level keywords plus those of the IMAGE object, for metadata look-ups."""
    flat = {k: v for k, v in keywords.items() if not isinstance(v, dict) or "value" in v}
    return flat
