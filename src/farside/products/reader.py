"""Read a product: label + data file (PDS4) or a data file with an attached label (PDS3)."""

from __future__ import annotations

import errno
import os
import stat
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
from farside.products.label import MAX_LABEL_BYTES, ArraySpec, array_spec, parse_xml, to_dict
from farside.products.meta import Meta, meta_from_pds3, meta_from_pds4
from farside.products.pds3 import (
    flat_keywords,
    looks_like_pds3,
    pds3_array_spec,
    read_attached_label,
)

_HEAD_BYTES = 1 << 16
# Never block on open (a FIFO or a device named as a product): only regular files are read, and they are
# opened non-blocking in case one is swapped for something else between the check and the open.
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


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
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return MissingFileError(path, "no such file")
    if exc.errno == errno.EISDIR:
        return UnreadableFileError(path, "is a directory, not a product")
    reason = " ".join((exc.strerror or str(exc)).split())
    return UnreadableFileError(path, f"cannot read: {reason}")


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device")):  # fmt: skip
        if test(mode):
            return kind
    return "not a regular file"


def _check_regular(path: Path, info: os.stat_result, what: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFileError(path, f"is a directory, not {what}")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFileError(path, f"is {_file_kind(info.st_mode)}, not {what}")


def _stat(path: Path, what: str = "a product") -> os.stat_result:
    """``os.stat`` of a path that must be a regular file; every failure a :class:`ProductError`."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    except ValueError:  # an embedded NUL
        raise UnreadableFileError(path, "cannot read: not a usable file name") from None
    _check_regular(path, info, what)
    return info


def _opener(path: str, flags: int) -> int:
    return os.open(path, _OPEN_FLAGS)


def read_regular(path: Path, limit: int, what: str = "a product") -> tuple[bytes, int]:
    """At most ``limit`` bytes from the start of a regular file, and the file's size."""
    _stat(path, what)
    try:
        with open(path, "rb", opener=_opener) as handle:
            info = os.fstat(handle.fileno())
            _check_regular(path, info, what)
            return handle.read(limit), info.st_size
    except OSError as exc:
        raise _open_error(path, exc) from None


def _head(path: Path) -> tuple[bytes, int]:
    head, size = read_regular(path, _HEAD_BYTES)
    if not head:
        raise EmptyFileError(path, "file is empty")
    return head, size


def _exists(path: Path) -> bool:
    """Whether something is at ``path``: what is there, and whether it can be read, is for the reader."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)
    except ValueError:
        return False
    return True


def _is_label_name(path: Path) -> bool:
    """GRAS labels are named like their data file plus ``L`` (``.2BL``, ``.2CL``, ``.01L``); or ``.xml``."""
    suffix = path.suffix
    return suffix.lower() == ".xml" or (len(suffix) > 2 and suffix[-1] in "Ll")


def _looks_like_xml(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"<")


def _label_for_data(data_path: Path) -> Path | None:
    for suffix in ("L", "l"):
        candidate = data_path.with_name(data_path.name + suffix)
        if _exists(candidate):
            return candidate
    return None


def _data_for_label(label_path: Path, spec: ArraySpec) -> Path:
    candidates = []
    if spec.file_name:
        candidates.append(label_path.with_name(spec.file_name))
    if label_path.name[-1:] in ("L", "l") and len(label_path.name) > 1:
        candidates.append(label_path.with_name(label_path.name[:-1]))
    for candidate in candidates:
        if _exists(candidate):
            return candidate
    expected = candidates[0].name if candidates else "its data file"
    raise MissingFileError(label_path, f"data file {expected} not found beside the label")


def _map(data_path: Path, spec: ArraySpec) -> np.ndarray:
    size = _stat(data_path, "a data file").st_size
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
        with open(data_path, "rb", opener=_opener) as handle:
            info = os.fstat(handle.fileno())
            _check_regular(data_path, info, "a data file")
            if info.st_size < need:
                raise TruncatedDataError(data_path, f"data file shrank to {info.st_size:,} bytes while read")
            return np.memmap(
                handle, dtype=np.dtype(spec.dtype), mode="r", offset=spec.offset, shape=spec.shape
            )
    except OSError as exc:
        raise _open_error(data_path, exc) from None


def _read_pds4(label_path: Path, head: bytes, size: int) -> Product:
    if size > MAX_LABEL_BYTES:
        raise LabelError(label_path, f"label of {size:,} bytes is too large to be a label")
    raw = head if size <= len(head) else read_regular(label_path, MAX_LABEL_BYTES + 1)[0]
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
        it), or a Chang'e-3 data file with an attached PDS3 label. The kind is decided by name first: a
        name ending in ``L`` (or ``.xml``) is a PDS4 label, a file with such a label beside it is its data
        file; otherwise a file starting with a PDS3 label is read as one, and a file of XML as a label.

    Returns
    -------
    Product
        ``image`` is a read-only memory map with the label's exact dtype, byte order, offset and shape.

    Raises
    ------
    ProductError
        A subclass naming the file and the problem in one line: missing partner, empty or unreadable
        file (a directory, a FIFO, a link loop, no permission), malformed or oversized label, unknown data
        type, impossible axes, truncated data. Nothing but regular files is ever opened.

    Examples
    --------
    >>> name = "CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL"
    >>> product = read(name)  # doctest: +SKIP
    >>> product.image.shape, product.image.dtype, product.meta.camera  # doctest: +SKIP
    ((1728, 2352), dtype('uint16'), 'L')
    """
    path = Path(path)
    head, size = _head(path)
    if _is_label_name(path):
        return _read_pds4(path, head, size)
    label_path = _label_for_data(path)
    if label_path is not None:
        return _read_pds4(label_path, *_head(label_path))
    if looks_like_pds3(head):
        return _read_pds3(path, head)
    if _looks_like_xml(head):  # a label under another name
        return _read_pds4(path, head, size)
    raise MissingFileError(path, f"no label found (expected {path.name}L beside it)")
