"""Quirk-tolerant PDS4 label parsing.

GRAS labels are PDS4 XML with quirks the strict tools stumble on: a malformed, comma-separated
``xsi:schemaLocation``; a mission block in the default namespace; misspelt element names; optional ``unit``
attributes; GB18030 text under a UTF-8 declaration (older missions); a ``<file_size>`` that is wrong. This
module never validates against a schema: it reads elements by local name, case-insensitively, ignoring
namespaces.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from farside.errors import AxesError, DataTypeError, LabelError
from farside.products.datatypes import itemsize, numpy_dtype

# No ``huge_tree``: libxml2 then refuses nesting over 256 deep and text nodes over 10 MB. Entities are never
# expanded, nothing is fetched, and a label declaring a DTD is refused outright (real labels have none).
_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "remove_comments": True}
_PARSER = etree.XMLParser(**_OPTIONS)
_UTF8_PARSER = etree.XMLParser(encoding="utf-8", **_OPTIONS)
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)

# A single array larger than this is not a camera frame; treat it as a label error, not an allocation.
MAX_ARRAY_BYTES = 1 << 36
# Real labels are a few kB with a few hundred elements, nested about 8 deep.
MAX_LABEL_BYTES = 4 << 20
MAX_TAGS = 1 << 16
MAX_DEPTH = 64
# numpy allows at most 64 dimensions; an image has two or three.
MAX_AXES = 16
# Integers in labels: ASCII digits only (str.isdigit and int() accept any Unicode digit), at most 19 of them.
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}(?:\.0*)?", re.ASCII)
_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
_MAX_NAME_BYTES = 255


def local_name(element: etree._Element) -> str:
    """Local (namespace-free) name of an element, lower-cased."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def shown(text: str, limit: int = 40) -> str:
    """``repr`` of label text for a one-line message, shortened when long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def parse_xml(raw: bytes, path: str | os.PathLike[str]) -> etree._Element:
    """Parse label bytes into an lxml element, accepting GB18030 text under a UTF-8 declaration.

    Refuses, as :class:`LabelError`, labels over :data:`MAX_LABEL_BYTES`, with over :data:`MAX_TAGS` tags,
    nested over :data:`MAX_DEPTH` deep, or declaring a DTD; so parsing time and memory stay proportional to
    a label's few kB.
    """
    if len(raw) > MAX_LABEL_BYTES:
        raise LabelError(path, f"label of {len(raw):,} bytes is too large to be a label")
    tags = raw.count(b"<")
    if tags > MAX_TAGS:
        raise LabelError(path, f"label has {tags:,} tags: too many to be a label")
    if _DOCTYPE.search(raw):
        raise LabelError(path, "label declares a DTD (refused)")
    try:
        root = etree.fromstring(raw, _PARSER)
    except (etree.LxmlError, ValueError) as exc:
        if "excessive depth" in str(exc).lower():
            raise LabelError(path, f"label nests elements over {MAX_DEPTH} deep") from None
        if not (isinstance(exc, etree.XMLSyntaxError) and _is_encoding_problem(exc)):
            raise LabelError(path, f"malformed XML label: {_one_line(exc)}") from None
        # Older labels declare UTF-8 (or nothing) but hold GB18030 text: decode it ourselves, and hand
        # lxml UTF-8 bytes with the encoding forced (a str would be refused if it declared an encoding).
        try:
            text = _DECLARATION.sub(b"", raw, count=1).decode("gb18030")
            root = etree.fromstring(text.encode("utf-8"), _UTF8_PARSER)
        except (etree.LxmlError, ValueError) as exc:
            if "excessive depth" in str(exc).lower():
                raise LabelError(path, f"label nests elements over {MAX_DEPTH} deep") from None
            raise LabelError(path, f"malformed XML label: {_one_line(exc)}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise LabelError(path, "label declares a DTD (refused)")
    _check_depth(root, path)
    return root


# An element MAX_DEPTH + 1 levels down (root = level 1), found by libxml2 in one pass over the tree.
_TOO_DEEP = etree.XPath("boolean(/" + "/".join(["*"] * (MAX_DEPTH + 1)) + ")")


def _check_depth(root: etree._Element, path: str | os.PathLike[str]) -> None:
    if _TOO_DEEP(root):
        raise LabelError(path, f"label nests elements over {MAX_DEPTH} deep")


def _is_encoding_problem(exc: etree.XMLSyntaxError) -> bool:
    message = str(exc).lower()
    return "encoding" in message or "utf-8" in message or ("char" in message and "range" in message)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class _NameIndex:
    """Every element of a label by lower-cased local name, in document order, with each element's position
    and the position of the last element inside it: a look-up is two binary searches, not a walk of the
    tree (labels may hold tens of thousands of elements, and metadata takes ~60 look-ups per label)."""

    __slots__ = ("_elements", "by_name", "end", "position")

    def __init__(self, root: etree._Element) -> None:
        elements = list(root.iter(etree.Element))
        self.position = {element: number for number, element in enumerate(elements)}
        self.by_name: dict[str, list[int]] = {}
        for number, element in enumerate(elements):
            self.by_name.setdefault(local_name(element), []).append(number)
        self.end = {}
        for element in reversed(elements):  # children come after their parent in document order
            last = next((c for c in reversed(element) if isinstance(c.tag, str)), None)
            self.end[element] = self.end[last] if last is not None else self.position[element]
        self._elements = elements

    def within(self, element: etree._Element, names: tuple[str, ...]) -> list[etree._Element]:
        """Elements named one of ``names`` at or below ``element``, in document order."""
        first, last = self.position[element], self.end[element]
        found: list[int] = []
        for name in names:
            numbers = self.by_name.get(name.lower(), ())
            found.extend(numbers[bisect.bisect_left(numbers, first) : bisect.bisect_right(numbers, last)])
        return [self._elements[n] for n in sorted(found)]


_INDEXES: dict[etree._Element, _NameIndex] = {}
_INDEXES_KEPT = 8
_INDEX_LOCK = threading.Lock()


def _index(element: etree._Element) -> _NameIndex:
    root = element.getroottree().getroot()
    with _INDEX_LOCK:
        index = _INDEXES.get(root)
        if index is None or element not in index.position:
            index = _NameIndex(root)
            if len(_INDEXES) >= _INDEXES_KEPT:
                _INDEXES.pop(next(iter(_INDEXES)))
            _INDEXES[root] = index
        return index


def iter_named(element: etree._Element, *names: str) -> Iterator[etree._Element]:
    """Descendants (and the element itself) whose local name is one of ``names`` (case-insensitive)."""
    yield from _index(element).within(element, names)


def find_named(element: etree._Element | None, *names: str) -> etree._Element | None:
    """First descendant whose local name is one of ``names`` (case-insensitive), or None."""
    if element is None:
        return None
    found = _index(element).within(element, names)
    return found[0] if found else None


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
        return count * itemsize(self.dtype)


def parse_integer(text: str) -> int | None:
    """A label's whole number (ASCII digits, optional sign, optional ``.0``), or None.

    >>> parse_integer("64"), parse_integer("-1"), parse_integer("64.0")
    (64, -1, 64)
    >>> parse_integer("²"), parse_integer("1e308"), parse_integer("inf"), parse_integer("6.5")
    (None, None, None, None)
    """
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        return None
    return int(text.split(".", 1)[0])


def parse_real(text: str | None) -> float | None:
    """A label's finite real number (ASCII digits), or None.

    >>> parse_real("-0.248344"), parse_real("1e3"), parse_real("nan"), parse_real("1e999"), parse_real("٣")
    (-0.248344, 1000.0, None, None, None)
    """
    if text is None:
        return None
    text = text.strip()
    if len(text) > 64 or not _REAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _integer(element: etree._Element | None, what: str, path: str | os.PathLike[str]) -> int:
    text = text_of(element)
    if text is None:
        raise LabelError(path, f"label lacks {what}")
    value = parse_integer(text)
    if value is None:
        raise AxesError(path, f"{what} is {shown(text)}, not a whole number")
    return value


def _optional_float(element: etree._Element | None) -> float | None:
    return parse_real(text_of(element))


def plain_file_name(name: str | None, path: str | os.PathLike[str]) -> str | None:
    """The data file name a label gives, checked to be a plain name in the label's folder."""
    if name is None:
        return None
    problem = None
    if name in (".", "..") or "/" in name or "\\" in name:
        problem = "is not a plain file name"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "holds control characters"
    else:
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            size = None
        if size is None or size > _MAX_NAME_BYTES:
            problem = "is not a usable file name"
    if problem:
        raise LabelError(path, f"data file name {shown(name)} {problem}")
    return name


def _dims(shape: tuple[int, ...]) -> str:
    text = " x ".join(str(n) for n in shape)
    return text if len(text) <= 80 else text[:80] + "..."


def _bytes(count: int) -> str:
    return f"{count:,} bytes" if count < 10**24 else "over 10^24 bytes"


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
        raise DataTypeError(path, f"unknown data type {shown(data_type)}") from None

    axes = []
    for axis in iter_named(array, "Axis_Array"):
        if len(axes) == MAX_AXES:
            raise AxesError(path, f"{kind} has over {MAX_AXES} axes: not an image")
        name = text_of(find_named(axis, "axis_name")) or "?"
        elements = _integer(find_named(axis, "elements"), f"elements of axis {shown(name)}", path)
        sequence = _integer(
            find_named(axis, "sequence_number"), f"sequence_number of axis {shown(name)}", path
        )
        if elements <= 0:
            raise AxesError(path, f"axis {shown(name)} has {elements} elements")
        axes.append((sequence, name, elements))
    if not axes:
        raise LabelError(path, f"{kind} has no Axis_Array")
    declared_text = text_of(find_named(array, "axes"))
    if declared_text is not None:
        declared = parse_integer(declared_text)
        if declared is None:
            raise AxesError(path, f"axes is {shown(declared_text)}, not a whole number")
        if declared != len(axes):
            raise AxesError(path, f"label says {declared} axes but describes {len(axes)}")
    order = (text_of(find_named(array, "axis_index_order")) or "Last Index Fastest").lower()
    if order != "last index fastest":
        raise AxesError(path, f"axis_index_order {shown(order)} is not supported (only 'Last Index Fastest')")
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
        file_name=plain_file_name(text_of(find_named(file_area, "file_name")), path),
        scaling_factor=_optional_float(find_named(array, "scaling_factor")),
        value_offset=_optional_float(find_named(array, "value_offset")),
    )
    if spec.nbytes > MAX_ARRAY_BYTES:
        raise AxesError(
            path, f"axes {_dims(spec.shape)} of {data_type} need {_bytes(spec.nbytes)}: not an image"
        )
    return spec
