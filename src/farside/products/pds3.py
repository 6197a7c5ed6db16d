"""Chang'e-3 products: PDS3 labels ATTACHED at the start of the data file.

The label is ODL text (``KEY = VALUE`` lines, ``OBJECT``/``END_OBJECT`` blocks, ``END``), followed, at the
record named by ``^IMAGE``, by the image.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from farside.errors import AxesError, DataTypeError, LabelError
from farside.products.datatypes import pds3_dtype
from farside.products.label import MAX_ARRAY_BYTES, MAX_DEPTH, ArraySpec, shown

PDS3_SIGNATURE = b"PDS_VERSION_ID"
_HEAD_BYTES = 1 << 16
# One line holding only END (a ``\s*`` here would let a run of blank lines cost quadratic time).
_END = re.compile(rb"^[ \t]*END[ \t]*\r?$", re.MULTILINE)
_UNIT = re.compile(r"<[^>]*>")
# ODL numbers in ASCII digits only (int() and float() accept any Unicode digit, "inf" and "nan").
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)
_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)


def looks_like_pds3(head: bytes) -> bool:
    """Whether a file starts with an attached PDS3 label."""
    return head.lstrip()[: len(PDS3_SIGNATURE)] == PDS3_SIGNATURE


def _number(text: str) -> int | float | None:
    if _INTEGER.fullmatch(text):
        return int(text)
    if len(text) <= 64 and _REAL.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else None
    return None


def _value(raw: str, path: str | os.PathLike[str], depth: int = 1) -> Any:
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"') and len(raw) > 1:
        return " ".join(raw[1:-1].split())
    if raw.startswith("(") and raw.endswith(")"):
        if depth >= MAX_DEPTH:
            raise LabelError(path, f"PDS3 label nests lists over {MAX_DEPTH} deep")
        return [_value(part, path, depth + 1) for part in raw[1:-1].split(",")]
    unit = _UNIT.search(raw)
    bare = _UNIT.sub("", raw).strip()
    number = _number(bare)
    if number is not None:
        return {"value": number, "unit": unit.group()[1:-1]} if unit else number
    return bare.strip("'")


def parse_odl(text: str, path: str | os.PathLike[str] = "PDS3 label") -> dict[str, Any]:
    """Parse ODL text into nested dicts (``OBJECT`` blocks become sub-dicts under their name).

    Numbers are ASCII and finite; lists and objects nest at most :data:`MAX_DEPTH` deep (else
    :class:`LabelError` naming ``path``).
    """
    root: dict[str, Any] = {}
    stack = [root]
    for key, raw in _statements(text):
        if key == "END":
            break
        if key in ("OBJECT", "GROUP"):
            if len(stack) >= MAX_DEPTH:
                raise LabelError(path, f"PDS3 label nests objects over {MAX_DEPTH} deep")
            block: dict[str, Any] = {}
            stack[-1][str(_value(raw, path))] = block
            stack.append(block)
        elif key in ("END_OBJECT", "END_GROUP"):
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = _value(raw, path)
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
        # A quoted value or list may run over several lines (counted incrementally: linear time).
        parts = [raw]
        quotes, opened, closed = raw.count('"'), raw.count("("), raw.count(")")
        while quotes % 2 or opened > closed:
            more = next(lines, None)
            if more is None:
                break
            more = more.strip()
            parts.append(more)
            quotes, opened, closed = (
                quotes + more.count('"'),
                opened + more.count("("),
                closed + more.count(")"),
            )
        out.append((key.upper(), " ".join(parts)))
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
    return parse_odl(text, path), text


def _int(keywords: dict[str, Any], key: str, path: str | os.PathLike[str], default: int | None = None) -> int:
    value = keywords.get(key, default)
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, int) or isinstance(value, bool):
        raise LabelError(path, f"PDS3 label lacks an integer {key}")
    return value


def _real(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def pds3_array_spec(keywords: dict[str, Any], path: str | os.PathLike[str]) -> ArraySpec:
    """Locate the IMAGE object of an attached PDS3 label."""
    image = keywords.get("IMAGE")
    if not isinstance(image, dict):
        raise LabelError(path, "PDS3 label has no IMAGE object")
    pointer = keywords.get("^IMAGE")
    if isinstance(pointer, list):
        pointer = pointer[-1] if pointer else None
    if isinstance(pointer, dict) and str(pointer.get("unit", "")).upper() == "BYTES":
        pointer = pointer.get("value")
        if not isinstance(pointer, int) or isinstance(pointer, bool):
            raise LabelError(path, "PDS3 label has no usable ^IMAGE pointer")
        offset = pointer - 1
    elif isinstance(pointer, int) and not isinstance(pointer, bool):
        offset = (pointer - 1) * _int(keywords, "RECORD_BYTES", path)
    else:
        raise LabelError(path, "PDS3 label has no usable ^IMAGE pointer")
    lines = _int(image, "LINES", path)
    samples = _int(image, "LINE_SAMPLES", path)
    bands = _int(image, "BANDS", path, default=1)
    bits = _int(image, "SAMPLE_BITS", path)
    sample_type = str(image.get("SAMPLE_TYPE", ""))
    try:
        dtype = pds3_dtype(sample_type, bits)
    except KeyError:
        raise DataTypeError(path, f"unknown PDS3 sample type {shown(sample_type)} of {bits} bits") from None
    if min(lines, samples, bands) <= 0 or offset < 0:
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
        scaling_factor=_real(image.get("SCALING_FACTOR")),
        value_offset=_real(image.get("OFFSET")),
    )
    if spec.nbytes > MAX_ARRAY_BYTES:
        need = f"{spec.nbytes:,} bytes" if spec.nbytes < 10**24 else "over 10^24 bytes"
        raise AxesError(path, f"image of {lines} x {samples} x {bands} needs {need}: not an image")
    return spec


def flat_keywords(keywords: dict[str, Any]) -> dict[str, Any]:
    """Top-level keywords plus those of the IMAGE object, for metadata look-ups."""
    flat = {k: v for k, v in keywords.items() if not isinstance(v, dict) or "value" in v}
    return flat
