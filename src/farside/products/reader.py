"""Read a product: label + data file (PDS4) or a data file with an attached label (PDS3)."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from farside.errors import (
    EmptyFileError,
    LabelError,
    MissingFileError,
    ProductError,
    TruncatedDataError,
    UnreadableFileError,
)
from farside.products.label import ArraySpec, array_spec, parse_xml, to_dict
from farside.products.meta import Meta, meta_from_pds3, meta_from_pds4
from farside.products.pds3 import (
    flat_keywords,
    looks_like_pds3,
    pds3_array_spec,
    read_attached_label,
)

_HEAD_BYTES = 1 << 16
_MAX_LABEL_BYTES = 1 << 24


@dataclass(frozen=True, eq=False)
class Product:
    """One product, read.

    Attributes
    ----------
    image : numpy.ndarray
        The array exactly as stored: memory-mapped, with the label's dtype and byte order, shape in storage
        order (``array.axis_names``; for GRAS images ``(lines, samples[, bands])``).
    meta : Meta
        Typed metadata.
    label : dict
        The whole label as nested dicts and lists (PDS4) or ODL keywords (PDS3).
    array : ArraySpec
        Where the array lies and how the label describes it.
    label_path, data_path : Path
        The two files (the same file for an attached PDS3 label).
    format : str
        ``"PDS4"`` or ``"PDS3"``.
    """

    image: np.ndarray
    meta: Meta
    label: dict[str, Any]
    array: ArraySpec
    label_path: Path
    data_path: Path
    format: str

    @property
    def name(self) -> str:
        """The product id, or the data file's name where the label gives none."""
        return self.meta.product_id or self.data_path.name

    def __repr__(self) -> str:
        shape = "x".join(str(n) for n in self.image.shape)
        return f"<Product {self.name} {shape} {self.array.data_type}>"


def _open_error(path: Path, exc: OSError) -> ProductError:
    if exc.errno == errno.ENOENT:
        return MissingFileError(path, "no such file")
    if exc.errno == errno.EISDIR:
        return UnreadableFileError(path, "is a directory, not a product")
    return UnreadableFileError(path, f"cannot read: {exc.strerror or exc}")


def _head(path: Path) -> bytes:
    if path.is_dir():
        raise UnreadableFileError(path, "is a directory, not a product")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if not head:
        raise EmptyFileError(path, "file is empty")
    return head


def _looks_like_xml(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"<")


def _label_for_data(data_path: Path) -> Path:
    for suffix in ("L", "l"):
        candidate = data_path.with_name(data_path.name + suffix)
        if candidate.exists():
            return candidate
    raise MissingFileError(data_path, f"no label found (expected {data_path.name}L beside it)")


def _data_for_label(label_path: Path, spec: ArraySpec) -> Path:
    candidates = []
    if spec.file_name:
        candidates.append(label_path.with_name(spec.file_name))
    if label_path.name[-1:] in ("L", "l"):
        candidates.append(label_path.with_name(label_path.name[:-1]))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    expected = candidates[0].name if candidates else "its data file"
    raise MissingFileError(label_path, f"data file {expected} not found beside the label")


def _map(data_path: Path, spec: ArraySpec) -> np.ndarray:
    try:
        size = data_path.stat().st_size
    except OSError as exc:
        raise _open_error(data_path, exc) from None
    if data_path.is_dir():
        raise UnreadableFileError(data_path, "is a directory, not a data file")
    if size == 0:
        raise EmptyFileError(data_path, "data file is empty")
    need = spec.offset + spec.nbytes
    if size < need:
        dims = " x ".join(str(n) for n in spec.shape)
        raise TruncatedDataError(
            data_path,
            f"data file has {size:,} bytes but the label's {dims} {spec.data_type} array "
            f"from byte {spec.offset:,} needs {need:,} (truncated data or wrong axes)",
        )
    try:
        return np.memmap(
            data_path, dtype=np.dtype(spec.dtype), mode="r", offset=spec.offset, shape=spec.shape
        )
    except OSError as exc:
        raise _open_error(data_path, exc) from None


def _read_pds4(label_path: Path, head: bytes) -> Product:
    try:
        size = label_path.stat().st_size
        if size > _MAX_LABEL_BYTES:
            raise LabelError(label_path, f"label of {size:,} bytes is too large to be a label")
        raw = head if size <= len(head) else label_path.read_bytes()
    except OSError as exc:
        raise _open_error(label_path, exc) from None
    root = parse_xml(raw, label_path)
    spec = array_spec(root, label_path)
    data_path = _data_for_label(label_path, spec)
    image = _map(data_path, spec)
    meta = meta_from_pds4(root, label_path.name)
    label = {etree.QName(root).localname: to_dict(root)}
    return Product(image, meta, label, spec, label_path, data_path, "PDS4")


def _read_pds3(path: Path, head: bytes) -> Product:
    keywords, _ = read_attached_label(path, head)
    spec = pds3_array_spec(keywords, path)
    image = _map(path, spec)
    meta = meta_from_pds3(flat_keywords(keywords), path.name)
    return Product(image, meta, keywords, spec, path, path, "PDS3")


def read(path: str | os.PathLike[str]) -> Product:
    """Read a GRAS camera product.

    Parameters
    ----------
    path : str or path-like
        A PDS4 label (``.2BL``, ``.2CL``, ``.2AL``, ``.01L``...), its data file (the label is found beside
        it), or a Chang'e-3 data file with an attached PDS3 label. The kind is decided by content.

    Returns
    -------
    Product
        ``image`` is a read-only memory map with the label's exact dtype, byte order, offset and shape.

    Raises
    ------
    ProductError
        A subclass naming the file and the problem in one line: missing partner, empty or unreadable
        file, malformed label, unknown data type, impossible axes, truncated data.

    Examples
    --------
    >>> name = "CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL"
    >>> product = read(name)  # doctest: +SKIP
    >>> product.image.shape, product.image.dtype, product.meta.camera  # doctest: +SKIP
    ((1728, 2352), dtype('uint16'), 'L')
    """
    path = Path(path)
    head = _head(path)
    if looks_like_pds3(head):
        return _read_pds3(path, head)
    if _looks_like_xml(head):
        return _read_pds4(path, head)
    label_path = _label_for_data(path)
    return _read_pds4(label_path, _head(label_path))
