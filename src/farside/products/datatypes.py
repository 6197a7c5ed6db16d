"""PDS data types and the numpy dtypes (with explicit byte order) that hold them."""

from __future__ import annotations

import numpy as np

# PDS4 Element_Array/data_type values for binary arrays.
PDS4_DTYPES: dict[str, str] = {
    "UnsignedByte": "u1",
    "SignedByte": "i1",
    "UnsignedLSB2": "<u2",
    "SignedLSB2": "<i2",
    "UnsignedMSB2": ">u2",
    "SignedMSB2": ">i2",
    "UnsignedLSB4": "<u4",
    "SignedLSB4": "<i4",
    "UnsignedMSB4": ">u4",
    "SignedMSB4": ">i4",
    "UnsignedLSB8": "<u8",
    "SignedLSB8": "<i8",
    "UnsignedMSB8": ">u8",
    "SignedMSB8": ">i8",
    "IEEE754LSBSingle": "<f4",
    "IEEE754MSBSingle": ">f4",
    "IEEE754LSBDouble": "<f8",
    "IEEE754MSBDouble": ">f8",
}

# PDS3 SAMPLE_TYPE values (with SAMPLE_BITS deciding the width).
PDS3_KINDS: dict[str, tuple[str, str]] = {
    "UNSIGNED_INTEGER": (">", "u"),
    "MSB_UNSIGNED_INTEGER": (">", "u"),
    "SUN_UNSIGNED_INTEGER": (">", "u"),
    "MAC_UNSIGNED_INTEGER": (">", "u"),
    "LSB_UNSIGNED_INTEGER": ("<", "u"),
    "PC_UNSIGNED_INTEGER": ("<", "u"),
    "VAX_UNSIGNED_INTEGER": ("<", "u"),
    "INTEGER": (">", "i"),
    "MSB_INTEGER": (">", "i"),
    "SUN_INTEGER": (">", "i"),
    "MAC_INTEGER": (">", "i"),
    "LSB_INTEGER": ("<", "i"),
    "PC_INTEGER": ("<", "i"),
    "VAX_INTEGER": ("<", "i"),
    "IEEE_REAL": (">", "f"),
    "FLOAT": (">", "f"),
    "REAL": (">", "f"),
    "PC_REAL": ("<", "f"),
}


def numpy_dtype(data_type: str) -> str:
    """numpy dtype string for a PDS4 data type; raises KeyError for an unknown one.

    >>> numpy_dtype("UnsignedMSB2")
    '>u2'
    """
    return PDS4_DTYPES[data_type.strip()]


def pds3_dtype(sample_type: str, sample_bits: int) -> str:
    """numpy dtype string for a PDS3 SAMPLE_TYPE and SAMPLE_BITS; raises KeyError if unknown.

    Only widths numpy stores natively are accepted: 8, 16, 32 and 64-bit integers, 32 and 64-bit reals.

    >>> pds3_dtype("LSB_UNSIGNED_INTEGER", 16)
    '<u2'
    """
    order, kind = PDS3_KINDS[sample_type.strip().upper().replace(" ", "_")]
    widths = (32, 64) if kind == "f" else (8, 16, 32, 64)
    if isinstance(sample_bits, bool) or sample_bits not in widths:
        raise KeyError(sample_bits)
    size = sample_bits // 8
    if size == 1:
        return f"{kind}1"
    return f"{order}{kind}{size}"


def itemsize(dtype: str) -> int:
    """Bytes per element of a numpy dtype string.

    >>> itemsize("<u2"), itemsize("u1"), itemsize(">f8")
    (2, 1, 8)
    """
    return np.dtype(dtype).itemsize
