"""Quirk-tolerant PDS4 label parsing.

GRAS labels are PDS4 XML with quirks the strict tools stumble on: a malformed, comma-separated
``xsi:schemaLocation``; a mission block in the default namespace; misspelt element names; optional ``unit``
attributes; GB18030 text under a UTF-8 declaration (older missions); a ``<file_size>`` that is wrong. This
module never validates against a schema: it reads elements by local name, case-insensitively, ignoring
namespaces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from farside.errors import AxesError, DataTypeError, LabelError
from farside.products.datatypes import numpy_dtype

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True)
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")

# A single array larger than this is not a camera frame; treat it as a label error, not an allocation.
MAX_ARRAY_BYTES = 1 << 36


def local_name(element: etree._Element) -> str:
    """Local (namespace-free) name of an element, lower-cased."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def parse_xml(raw: bytes, path: str | os.PathLike[str]) -> etree._Element:
    """Parse label bytes into an lxml element, accepting GB18030 text under a UTF-8 declaration."""
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        if not _is_encoding_problem(exc):
            raise LabelError(path, f"malformed XML label: {_one_line(exc)}") from None
    # Older labels declare UTF-8 (or nothing) but hold GB18030 text: decode it ourselves.
    try:
        text = _DECLARATION.sub(b"", raw, count=1).decode("gb18030")
        return etree.fromstring(text, _PARSER)
    except (UnicodeDecodeError, etree.XMLSyntaxError) as exc:
        raise LabelError(path, f"malformed XML label: {_one_line(exc)}") from None


def _is_encoding_problem(exc: etree.XMLSyntaxError) -> bool:
    message = str(exc).lower()
    return "encoding" in message or "utf-8" in message or ("char" in message and "range" in message)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def iter_named(element: etree._Element, *names: str) -> Iterator[etree._Element]:
    """Descendants (and the element itself) whose local name is one of ``names`` (case-insensitive)."""
    wanted = {name.lower() for name in names}
    for child in element.iter():
        if local_name(child) in wanted:
            yield child


def find_named(element: etree._Element | None, *names: str) -> etree._Element | None:
    """First descendant whose local name is one of ``names`` (case-insensitive), or None."""
    if element is None:
        return None
    return next(iter_named(element, *names), None)


def text_of(element: etree._Element | None) -> str | None:
    """Stripped text of an element, None when absent or empty."""
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def to_dict(element: etree._Element) -> Any:
    """The label as nested dicts and lists.

    A leaf without attributes becomes its text; an element with attributes keeps them under ``@name`` and
    its text under ``#text``; repeated children become lists. Namespaces are dropped; names keep their case.
    """
    children = [c for c in element if isinstance(c.tag, str)]
    attributes = {f"@{etree.QName(k).localname}": v for k, v in element.attrib.items()}
    text = (element.text or "").strip()
    if not children:
        if not attributes:
            return text
        return {**attributes, "#text": text}
    out: dict[str, Any] = dict(attributes)
    for child in children:
        name = etree.QName(child).localname
        value = to_dict(child)
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class ArraySpec:
    """Where and how an array lies in its data file, as the label describes it.

    Attributes
    ----------
    kind : str
        The PDS4 class, e.g. ``Array_2D_Image``.
    data_type : str
        The PDS4 ``data_type``, e.g. ``UnsignedLSB2``.
    dtype : str
        The numpy dtype string with explicit byte order, e.g. ``<u2``.
    offset : int
        Byte offset of the first element in the data file.
    shape : tuple of int
        Elements per axis in storage order (``Last Index Fastest``).
    axis_names : tuple of str
        ``Line``, ``Sample``, ``Band``... in the same order as ``shape``.
    file_name : str or None
        The data file named by the label.
    scaling_factor, value_offset : float or None
        PDS4 ``Element_Array`` scaling; recorded, not applied.
    """

    kind: str
    data_type: str
    dtype: str
    offset: int
    shape: tuple[int, ...]
    axis_names: tuple[str, ...]
    file_name: str | None
    scaling_factor: float | None = None
    value_offset: float | None = None

    @property
    def nbytes(self) -> int:
        count = 1
        for n in self.shape:
            count *= n
        return count * int(numpy_dtype_itemsize(self.dtype))


def numpy_dtype_itemsize(dtype: str) -> int:
    return int(dtype[-1]) if dtype[-1].isdigit() else 1


def _integer(element: etree._Element | None, what: str, path: str | os.PathLike[str]) -> int:
    text = text_of(element)
    if text is None:
        raise LabelError(path, f"label lacks {what}")
    try:
        value = float(text)
    except ValueError:
        raise AxesError(path, f"{what} is {text!r}, not a number") from None
    if value != int(value):
        raise AxesError(path, f"{what} is {text!r}, not a whole number")
    return int(value)


def _optional_float(element: etree._Element | None) -> float | None:
    text = text_of(element)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def array_spec(root: etree._Element, path: str | os.PathLike[str]) -> ArraySpec:
    """Describe the first image array of a PDS4 label's ``File_Area_Observational``."""
    file_area = find_named(root, "File_Area_Observational")
    if file_area is None:
        raise LabelError(path, "label has no File_Area_Observational")
    array = next((el for el in file_area.iter() if local_name(el).startswith("array")), None)
    if array is None:
        raise LabelError(path, "label describes no array in File_Area_Observational")
    kind = etree.QName(array).localname
    data_type = text_of(find_named(array, "data_type"))
    if data_type is None:
        raise LabelError(path, f"{kind} has no Element_Array/data_type")
    try:
        dtype = numpy_dtype(data_type)
    except KeyError:
        raise DataTypeError(path, f"unknown data type {data_type!r}") from None

    axes = []
    for axis in iter_named(array, "Axis_Array"):
        name = text_of(find_named(axis, "axis_name")) or "?"
        elements = _integer(find_named(axis, "elements"), f"elements of axis {name}", path)
        sequence = _integer(find_named(axis, "sequence_number"), f"sequence_number of axis {name}", path)
        if elements <= 0:
            raise AxesError(path, f"axis {name} has {elements} elements")
        axes.append((sequence, name, elements))
    if not axes:
        raise LabelError(path, f"{kind} has no Axis_Array")
    declared = text_of(find_named(array, "axes"))
    if declared is not None and declared.isdigit() and int(declared) != len(axes):
        raise AxesError(path, f"label says {declared} axes but describes {len(axes)}")
    order = (text_of(find_named(array, "axis_index_order")) or "Last Index Fastest").lower()
    if order != "last index fastest":
        raise AxesError(path, f"axis_index_order {order!r} is not supported (only 'Last Index Fastest')")
    axes.sort()
    offset = _integer(find_named(array, "offset"), "array offset", path)
    if offset < 0:
        raise AxesError(path, f"array offset is {offset}")

    spec = ArraySpec(
        kind=kind,
        data_type=data_type,
        dtype=dtype,
        offset=offset,
        shape=tuple(n for _, _, n in axes),
        axis_names=tuple(name for _, name, _ in axes),
        file_name=text_of(find_named(file_area, "file_name")),
        scaling_factor=_optional_float(find_named(array, "scaling_factor")),
        value_offset=_optional_float(find_named(array, "value_offset")),
    )
    if spec.nbytes > MAX_ARRAY_BYTES:
        raise AxesError(path, f"axes {spec.shape} of {data_type} need {spec.nbytes:,} bytes: not an image")
    return spec
