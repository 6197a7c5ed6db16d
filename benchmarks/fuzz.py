"""Mutation fuzzing of ``farside.read`` and of the portal download-list parser.

From small valid synthetic products of every kind (``farside.synthetic.KINDS``, 16 x 16 pixels), each case
applies one to three seeded-random mutations: flipped bytes, truncation, deleted or duplicated elements,
numbers replaced by ``NaN``/``inf``/``-1``/``1e308``/``0``/Unicode digits, huge axes and offsets, unknown data
types, hostile XML (billion laughs, external entities, DTDs), odd ``<file_name>`` values, deep nesting,
oversized labels, odd encodings, PDS3 keyword damage, and FIFOs, directories, devices and symlink loops in
place of the label or the data file. One case in ten fuzzes ``farside.fetch.read_download_list`` instead.

Every case must give a ``Product`` (whose image can be summed) or a ``FarsideError``: anything else is an
*escape*. Each case runs under an alarm (a case still running then is a *hang*) and ``tracemalloc`` (a peak
over 4 x the input's bytes + 8 MiB is a *memory* failure). Case ``i`` of seed ``s`` is the same on every run.

Usage: python benchmarks/fuzz.py --count N [--seed S] [--processes P] [--timeout S] [--list-timeout S]
Prints a summary and writes benchmarks/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "fuzz.json"

MEMORY_SLACK = 8 << 20


# --------------------------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """A valid small product: the bytes of its files and their names."""

    kind: str
    pds3: bool
    label_name: str
    data_name: str
    label: bytes  # PDS3: the attached label (up to and including END)
    data: bytes  # PDS3: what follows the label


def build_templates(folder: Path) -> dict[str, Template]:
    """One small valid product of each kind, written under ``folder`` and read back as bytes."""
    from farside.synthetic import KINDS, write_product

    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = {}
    for kind, spec in KINDS.items():
        shape = (16, 16, 3) if len(spec.shape) == 3 else (16, 16)
        path = write_product(kind, scene, folder / kind, shape=shape)
        if spec.pds3_record_bytes is not None:
            raw = path.read_bytes()
            end = re.search(rb"^END\r?$", raw, re.MULTILINE)
            assert end is not None
            split = end.end()
            out[kind] = Template(kind, True, path.name, path.name, raw[:split], raw[split:])
        else:
            data = path.with_name(path.name[:-1])
            out[kind] = Template(kind, False, path.name, data.name, path.read_bytes(), data.read_bytes())
    return out


# --------------------------------------------------------------------------------------------- values

NUMBERS = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-1",
    "0",
    "-0",
    "1e308",
    "1e309",
    "-1e308",
    "1e-308",
    "²",
    "٣",
    "٣٢",
    "१६",
    "１６",
    "16.5",
    "16.0",
    "1e3",
    "0x10",
    "1_6",
    " 16 ",
    "+16",
    "",
    "9" * 25,
    "9" * 5000,
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-0.0",
    "16e0",
    ".5",
    "1.",
    "--1",
    "+",
    "e5",
    "16 16",
]
HUGE = [
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "1000000000000000000",
    "10000000000000000000",
    "1" + "0" * 30,
    "1" + "0" * 100,
    "68719476736",
]
DATA_TYPES = [
    "ComplexMSB16",
    "UnsignedLSB3",
    "",
    "unsignedbyte",
    "UnsignedByte ",
    "IEEE754LSBSingle",
    "IEEE754MSBDouble",
    "SignedMSB8",
    "UnsignedBitString",
    "UTF8_String",
    "²",
    "UnsignedLSB2" * 100,
    "<![CDATA[UnsignedByte]]>",
    "Unsigned&amp;Byte",
    "UnsignedLSB24",
    "SignedLSB2",
    "UnsignedMSB4",
]
FILE_NAMES = [
    "../x",
    "/etc/passwd",
    "a" * 300,
    "ü" * 200,
    ".",
    "..",
    "sub/x",
    "x\\y",
    " ",
    "CON",
    "name with space",
    "nonexistent.2B",
    "&#9;tab",
    "&#x1F;",
    "a" * 255,
    "a" * 256,
    "%2e%2e",
    "~",
    "-",
    "/",
    "//",
    "x/",
    "&#xFFFF;",
]
TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:30:00+23:59",
    "2019-13-01T00:00:00Z",
    "",
    "٢٠١٩-01-01T00:00:00Z",
    "2019-01-04T08:45:59+25:00",
    "2019-01-04T08:45:59.000Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2019-01-04T08:45:59+00:00:01",
]
PDS3_VALUES = [
    "24",
    "12",
    "0",
    "-8",
    "7",
    "128",
    "(FILE, inf <BYTES>)",
    '("x", 3)',
    "3 <BYTES>",
    "1025 <BYTES>",
    "(F, nan <BYTES>)",
    "(F, -5 <BYTES>)",
    "(F, 1e308 <BYTES>)",
    "(F, 99999999999999999999999 <BYTES>)",
    "inf",
    "nan",
    "-inf",
    "1e308",
    "²",
    "٣",
    "(" * 200 + "1" + ")" * 200,
    '"unterminated',
    "(1,2",
    "()",
    "(,)",
    '"',
    "''",
    "16#FF#",
    "<BYTES>",
    "99999999999999999999999999999",
    "-99999999999999999999",
    "1_6",
    "COMPLEX",
    "IEEE_REAL",
    "PC_REAL",
    "MSB_INTEGER",
    "VAX_REAL",
    "BAND_SEQUENTIAL",
    "LINE_INTERLEAVED",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "N/A",
    "NULL",
    "(1, (2, (3)))",
]
PDS3_KEYS = [
    "RECORD_BYTES",
    "^IMAGE",
    "LINES",
    "LINE_SAMPLES",
    "SAMPLE_BITS",
    "SAMPLE_TYPE",
    "BANDS",
    "BAND_STORAGE_TYPE",
    "START_TIME",
    "STOP_TIME",
    "LABEL_RECORDS",
    "PRODUCT_ID",
    "INSTRUMENT_ID",
    "INSTRUMENT_NAME",
    "SCALING_FACTOR",
    "OFFSET",
    "OBJECT",
]
UNICODE_DIGITS = ["٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "०१२३४५६७८९", "⁰¹²³⁴⁵⁶⁷⁸⁹", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"]

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
HOSTILE = {
    "billion-laughs": (BILLION_LAUGHS, "&lol9;"),
    "external-entity": ('<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
    "external-dtd": ('<!DOCTYPE p SYSTEM "http://127.0.0.1:9/evil.dtd">', ""),
    "parameter-entity": ('<!DOCTYPE p [<!ENTITY % pe SYSTEM "file:///etc/passwd"> %pe;]>', ""),
    "quadratic-blowup": (f'<!DOCTYPE p [<!ENTITY a "{"x" * 5000}">]>', "&a;" * 2000),
    "lowercase-doctype": ('<!doctype p [<!ENTITY a "b">]>', "&a;"),
    "xinclude": (
        "",
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>',
    ),
    "undefined-entity": ("", "&undefined;"),
    "char-refs": ("", "&#0;&#xD800;&#1114112;"),
}
FILESYSTEM = [
    "fifo-label",
    "fifo-data",
    "dir-label",
    "dir-data",
    "loop-label",
    "loop-data",
    "dangling-data",
    "devnull-data",
    "devzero-data",
    "fifo-partner",
    "dir-partner",
    "file_name-dir",
    "file_name-fifo",
    "missing-data",
    "missing-label",
    "empty-data",
    "empty-label",
    "self-link",
]


# --------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One fuzz input: files to create (bytes, or a special object) and the path to read."""

    index: int
    api: str  # "read" or "download_list"
    kind: str
    mutations: list[str] = field(default_factory=list)
    files: dict[str, bytes | str] = field(default_factory=dict)  # str: "fifo", "dir", "loop", "->target"
    target: str = ""

    def input_bytes(self) -> int:
        return sum(len(v) for v in self.files.values() if isinstance(v, bytes))


_LEAF = re.compile(r"<([A-Za-z_][\w.:-]*)((?:\s[^<>]*)?)>([^<]*)</\1>")
_START = re.compile(r"<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?>")


def _leaves(text: str, names: tuple[str, ...] | None = None) -> list[re.Match[str]]:
    found = list(_LEAF.finditer(text))
    if names:
        found = [m for m in found if m.group(1).lower() in names]
    return found


def _replace_leaf(text: str, match: re.Match[str], value: str) -> str:
    return text[: match.start(3)] + value + text[match.end(3) :]


def _block(text: str, rng: random.Random) -> tuple[int, int] | None:
    starts = list(_START.finditer(text))
    if not starts:
        return None
    start = rng.choice(starts)
    end = text.find(f"</{start.group(1)}>", start.end())
    if end < 0:
        return None
    return start.start(), end + len(start.group(1)) + 3


def _flip(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 32))):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def mutate_pds4_label(text: str, rng: random.Random) -> tuple[str, str]:
    """One text mutation of a PDS4 label; returns (text, name of the mutation)."""
    op = rng.choice(
        [
            "delete-element",
            "duplicate-element",
            "delete-block",
            "duplicate-block",
            "number",
            "number",
            "axis-number",
            "axis-number",
            "huge",
            "data_type",
            "hostile",
            "file_name",
            "nesting",
            "unicode-digits",
            "axes-count",
            "time",
            "attribute",
            "bloat",
            "swap-elements",
        ]
    )
    if op in ("delete-element", "duplicate-element", "nesting", "attribute", "swap-elements") and (
        len(_leaves(text)) < 2
    ):
        return text, f"{op}-skipped"  # earlier mutations left too few elements
    if op in ("delete-element", "duplicate-element"):
        leaves = _leaves(text)
        m = rng.choice(leaves)
        piece = "" if op == "delete-element" else m.group(0) * rng.choice((2, 3, 50))
        return text[: m.start()] + piece + text[m.end() :], op
    if op in ("delete-block", "duplicate-block"):
        span = _block(text, rng)
        if span is None:
            return text, op
        a, b = span
        piece = "" if op == "delete-block" else text[a:b] * rng.choice((2, 3, 20))
        return text[:a] + piece + text[b:], op
    if op in ("number", "axis-number", "huge"):
        names = ("elements", "offset", "sequence_number", "axes") if op != "number" else None
        leaves = [m for m in _leaves(text, names) if re.fullmatch(r"\s*[-+]?[0-9.]+\s*", m.group(3))]
        if not leaves:
            return text, op
        value = rng.choice(HUGE if op == "huge" else NUMBERS)
        if op == "huge" and rng.random() < 0.3:
            value = "-" + value
        m = rng.choice(leaves)
        return _replace_leaf(text, m, value), f"{op}:{m.group(1)}={value[:12]}"
    if op == "data_type":
        value = rng.choice(DATA_TYPES)
        for m in _leaves(text, ("data_type",)):
            return _replace_leaf(text, m, value), f"{op}={value[:16]}"
        return text, op
    if op == "hostile":
        name = rng.choice(sorted(HOSTILE))
        doctype, reference = HOSTILE[name]
        at = text.index("?>") + 2 if text.startswith("<?xml") else 0
        text = text[:at] + doctype + text[at:]
        leaves = _leaves(text, ("title", "product_id", "data_type", "elements", "file_name"))
        if leaves and reference:
            m = rng.choice(leaves)
            text = _replace_leaf(text, m, reference)
        return text, f"{op}:{name}"
    if op == "file_name":
        value = rng.choice(FILE_NAMES)
        for m in _leaves(text, ("file_name",)):
            return _replace_leaf(text, m, value), f"{op}={value[:12]}"
        return text, op
    if op == "nesting":
        depth = rng.choice((10, 63, 64, 65, 100, 255, 256, 257, 1000, 3000))
        leaves = _leaves(text)
        m = rng.choice(leaves)
        wrapped = "<x>" * depth + m.group(0) + "</x>" * depth
        return text[: m.start()] + wrapped + text[m.end() :], f"{op}:{depth}"
    if op == "unicode-digits":
        leaves = [m for m in _leaves(text) if re.search(r"[0-9]", m.group(3))]
        if not leaves:
            return text, op
        m = rng.choice(leaves)
        digits = rng.choice(UNICODE_DIGITS)
        value = re.sub(r"[0-9]", lambda d: digits[int(d.group())], m.group(3))
        return _replace_leaf(text, m, value), f"{op}:{m.group(1)}"
    if op == "axes-count":
        count = rng.choice((3, 16, 17, 33, 65, 100))
        axes = "".join(
            f"<Axis_Array><axis_name>A{i}</axis_name><elements>1</elements><sequence_number>{i + 3}"
            "</sequence_number></Axis_Array>"
            for i in range(count)
        )
        at = text.rfind("</Axis_Array>")
        if at < 0:
            return text, op
        at += len("</Axis_Array>")
        text = text[:at] + axes + text[at:]
        if rng.random() < 0.5:
            text = re.sub(r"<axes>\s*\d+\s*</axes>", f"<axes>{count + 2}</axes>", text)
        return text, f"{op}:{count}"
    if op == "time":
        value = rng.choice(TIMES)
        leaves = _leaves(text, ("start_date_time", "stop_date_time"))
        if not leaves:
            return text, op
        return _replace_leaf(text, rng.choice(leaves), value), f"{op}={value}"
    if op == "attribute":
        value = rng.choice(
            ['unit="rad"', 'unit="m"', 'unit=""', 'xmlns="urn:x"', 'unit="&#x1F;"', "unit='μm'"]
        )
        leaves = _leaves(text)
        m = rng.choice(leaves)
        return text[: m.start(2)] + " " + value + text[m.start(2) :], f"{op}={value}"
    if op == "bloat":
        count = rng.choice((1000, 20000, 70000))
        at = text.find("<Mission_Area>")
        at = at if at >= 0 else len(text) // 2
        return text[:at] + "<a/>" * count + text[at:], f"{op}:{count}"
    if op == "swap-elements":
        leaves = _leaves(text)
        a, b = sorted(rng.sample(leaves, 2), key=lambda m: m.start())
        return text[: a.start(3)] + b.group(3) + text[a.end(3) : b.start(3)] + a.group(3) + text[
            b.end(3) :
        ], op
    raise AssertionError(op)


def encode_label(text: str, rng: random.Random) -> tuple[bytes, str]:
    """The label's bytes, usually UTF-8, sometimes in another (declared or undeclared) encoding."""
    roll = rng.random()
    if roll < 0.9:
        return text.encode("utf-8"), ""
    choice = rng.choice(
        [
            "gb18030",
            "gb18030-second-declaration",
            "utf-16",
            "bom",
            "declared-utf16",
            "bogus",
            "latin1-declared",
            "gb18030-bom",
        ]
    )
    chinese = text.replace("<title>", "<title>嫦娥 ", 1)
    if choice == "gb18030":
        return chinese.encode("gb18030"), choice
    if choice == "gb18030-second-declaration":
        body = chinese.replace("?>", '?><?xml version="1.0" encoding="GB18030"?>', 1)
        return body.encode("gb18030"), choice
    if choice == "utf-16":
        return chinese.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"), choice
    if choice == "bom":
        return b"\xef\xbb\xbf" + chinese.encode("utf-8"), choice
    if choice == "declared-utf16":
        return chinese.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-8"), choice
    if choice == "bogus":
        return chinese.replace('encoding="UTF-8"', 'encoding="x-bogus-42"').encode("utf-8"), choice
    if choice == "latin1-declared":
        return chinese.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("gb18030"), choice
    return b"\xef\xbb\xbf" + chinese.encode("gb18030"), choice


def mutate_pds3_label(text: str, rng: random.Random) -> tuple[str, str]:
    """One text mutation of an attached PDS3 label (``text`` runs up to and including END)."""
    op = rng.choice(
        [
            "keyword",
            "keyword",
            "keyword",
            "delete-line",
            "duplicate-line",
            "nest-objects",
            "nest-parens",
            "no-end",
            "blank-lines",
            "unterminated",
            "unicode-digits",
            "long-line",
        ]
    )
    lines = text.split("\r\n")
    if op == "keyword":
        key = rng.choice(PDS3_KEYS)
        value = rng.choice(PDS3_VALUES + NUMBERS)
        for i, line in enumerate(lines):
            if line.strip().startswith(key + " ") or line.strip().startswith(key + "="):
                lines[i] = line.split("=", 1)[0] + "= " + value
                return "\r\n".join(lines), f"{op}:{key}={value[:12]}"
        lines.insert(len(lines) - 3, f"  {key} = {value}")
        return "\r\n".join(lines), f"{op}+{key}={value[:12]}"
    if op in ("delete-line", "duplicate-line"):
        i = rng.randrange(len(lines))
        if op == "delete-line":
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return "\r\n".join(lines), op
    end = text.rfind("END")
    if op == "nest-objects":
        depth = rng.choice((10, 63, 64, 65, 200, 1000, 3000))
        block = "".join(f"OBJECT = O{i}\r\n" for i in range(depth)) + "X = 1\r\n"
        block += "".join(f"END_OBJECT = O{i}\r\n" for i in reversed(range(depth)))
        return text[:end] + block + text[end:], f"{op}:{depth}"
    if op == "nest-parens":
        depth = rng.choice((10, 63, 64, 65, 200, 1000, 3000))
        return text[:end] + "DEEP = " + "(" * depth + "1" + ")" * depth + "\r\n" + text[end:], f"{op}:{depth}"
    if op == "no-end":
        return text[:end] + text[end + 3 :], op
    if op == "blank-lines":
        count = rng.choice((1000, 30000, 60000))
        return text[:end] + "\n" * count + text[end:], f"{op}:{count}"
    if op == "unterminated":
        count = rng.choice((10, 5000, 20000))
        return text[:end] + 'NOTE = "open\r\n' + "x\r\n" * count + text[end:], f"{op}:{count}"
    if op == "unicode-digits":
        digits = rng.choice(UNICODE_DIGITS)
        numeric = [i for i, line in enumerate(lines) if re.search(r"= *[0-9]", line)]
        if not numeric:
            return text, f"{op}-skipped"
        i = rng.choice(numeric)
        lines[i] = re.sub(r"[0-9]", lambda d: digits[int(d.group())], lines[i])
        return "\r\n".join(lines), op
    if op == "long-line":
        return text[:end] + "LONG = " + "9" * rng.choice((5000, 60000)) + "\r\n" + text[end:], op
    raise AssertionError(op)


def make_read_case(index: int, rng: random.Random, templates: dict[str, Template]) -> Case:
    kind = rng.choice(sorted(templates))
    t = templates[kind]
    case = Case(index, "read", kind)
    label_text = t.label.decode("utf-8")
    data = t.data
    steps = rng.choice((1, 1, 1, 2, 2, 3))
    filesystem = None
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.55:
            if t.pds3:
                label_text, name = mutate_pds3_label(label_text, rng)
            else:
                label_text, name = mutate_pds4_label(label_text, rng)
        elif roll < 0.7:  # byte-level mutations apply to the encoded label below
            name = rng.choice(["flip", "truncate-label", "flip"])
        elif roll < 0.85:
            name = rng.choice(["truncate-data", "data-lt", "data-xml", "data-pds3", "flip-data", "grow-data"])
            if name == "truncate-data":
                data = data[: rng.randrange(len(data) + 1)]
            elif name == "data-lt":
                data = b"<" + data[1:]
            elif name == "data-xml":
                data = (b'<?xml version="1.0"?><Product_Observational>' + data)[: len(data)]
            elif name == "data-pds3":
                data = (b"PDS_VERSION_ID = PDS3\r\nEND\r\n" + data)[: max(len(data), 30)]
            elif name == "flip-data":
                data = _flip(data, rng)
            else:
                data = data + bytes(rng.randrange(1, 4096))
        else:
            filesystem = rng.choice(FILESYSTEM)
            name = filesystem
        case.mutations.append(name)
    if t.pds3:
        label_bytes = label_text.encode("utf-8", "surrogatepass")
    else:
        label_bytes, encoding = encode_label(label_text, rng)
        if encoding:
            case.mutations.append(f"encoding:{encoding}")
    for name in case.mutations:
        if name == "flip":
            label_bytes = _flip(label_bytes, rng)
        elif name == "truncate-label":
            label_bytes = label_bytes[: rng.randrange(len(label_bytes) + 1)]
    if rng.random() < 0.003 and not t.pds3:
        # An oversized label: a few MiB of padding (rare: costly to write).
        label_bytes += b" " * rng.choice((3 << 20, (4 << 20) + 1, 5 << 20))
        case.mutations.append("oversized-label")

    if t.pds3:
        case.files[t.data_name] = label_bytes + data
        case.target = t.data_name
    else:
        case.files[t.label_name] = label_bytes
        case.files[t.data_name] = data
        case.target = t.label_name if rng.random() < 0.7 else t.data_name
    if filesystem:
        _filesystem(case, t, filesystem)
    return case


def _filesystem(case: Case, t: Template, what: str) -> None:
    label, data = t.label_name, t.data_name
    if what == "fifo-label":
        case.files[label] = "fifo"
        case.target = label
    elif what == "fifo-data":
        case.files[data] = "fifo"
    elif what == "dir-label":
        case.files[label] = "dir"
        case.target = label
    elif what == "dir-data":
        case.files[data] = "dir"
    elif what == "loop-label":
        case.files[label] = "loop"
        case.target = label
    elif what == "loop-data":
        case.files[data] = "loop"
    elif what == "dangling-data":
        case.files[data] = "->does-not-exist"
    elif what == "devnull-data":
        case.files[data] = "->/dev/null"
    elif what == "devzero-data":
        case.files[data] = "->/dev/zero"
    elif what == "fifo-partner" and not t.pds3:
        case.files[label] = "fifo"
        case.target = data
    elif what == "dir-partner" and not t.pds3:
        case.files[label] = "dir"
        case.target = data
    elif what in ("file_name-dir", "file_name-fifo") and not t.pds3:
        text = case.files[label]
        if isinstance(text, bytes):
            case.files[label] = re.sub(
                rb"<file_name>[^<]*</file_name>", b"<file_name>other</file_name>", text
            )
        case.files["other"] = "dir" if what == "file_name-dir" else "fifo"
        del case.files[data]
        case.target = label
    elif what == "missing-data":
        case.files.pop(data, None)
    elif what == "missing-label":
        case.files.pop(label, None)
    elif what == "empty-data":
        case.files[data] = b""
    elif what == "empty-label":
        case.files[label] = b""
    elif what == "self-link":
        case.files[case.target] = f"->{case.target}"


DOWNLOAD_HEADER = "数据下载结果\n共 2 个产品\n请在有效期内下载\n"


def make_download_case(index: int, rng: random.Random, templates: dict[str, Template]) -> Case:
    names = [t.label_name for t in templates.values()] + [t.data_name for t in templates.values()]
    urls = [f"https://moon.bao.ac.cn/dataDownload/{n}" for n in rng.sample(names, 4)]
    text = DOWNLOAD_HEADER + "\n".join(urls + urls[:1]) + "\n"
    case = Case(index, "download_list", "download-list")
    op = rng.choice(
        [
            "valid",
            "flip",
            "truncate",
            "gb18030",
            "utf-16",
            "empty",
            "no-urls",
            "long-line",
            "nul",
            "fifo",
            "dir",
            "loop",
            "missing",
            "lone-surrogate",
            "bom",
            "crlf",
            "binary",
        ]
    )
    case.mutations.append(op)
    raw = text.encode("utf-8")
    name = "downloadResult.txt"
    if op == "flip":
        raw = _flip(raw, rng)
    elif op == "truncate":
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif op == "gb18030":
        raw = text.encode("gb18030")
    elif op == "utf-16":
        raw = text.encode("utf-16")
    elif op == "empty":
        raw = b""
    elif op == "no-urls":
        raw = DOWNLOAD_HEADER.encode("utf-8")
    elif op == "long-line":
        raw = raw + b"https://" + b"x" * rng.choice((10_000, 1_000_000)) + b"\n"
    elif op == "nul":
        raw = raw.replace(b"\n", b"\x00\n")
    elif op == "lone-surrogate":
        raw = raw + b"https://x/\xed\xa0\x80\n"
    elif op == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif op == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif op == "binary":
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    if op in ("fifo", "dir", "loop"):
        case.files[name] = op
    elif op != "missing":
        case.files[name] = raw
    case.target = name
    return case


def make_case(seed: int, index: int, templates: dict[str, Template], download_share: float = 0.1) -> Case:
    """Case ``index`` of run ``seed``: the same on every run and machine."""
    rng = random.Random(f"farside-fuzz/{seed}/{index}")
    if rng.random() < download_share:
        return make_download_case(index, rng, templates)
    return make_read_case(index, rng, templates)


def label_mutations(seed: int, count: int, templates: dict[str, Template]) -> list[tuple[str, bytes, bool]]:
    """``count`` mutated label texts (kind, bytes, whether PDS3), for fuzzing the parsers without files."""
    out = []
    for index in range(count):
        rng = random.Random(f"farside-labels/{seed}/{index}")
        t = templates[rng.choice(sorted(templates))]
        text = t.label.decode("utf-8")
        for _ in range(rng.choice((1, 2, 3))):
            text, _name = (mutate_pds3_label if t.pds3 else mutate_pds4_label)(text, rng)
        raw = text.encode("utf-8") if t.pds3 else encode_label(text, rng)[0]
        if rng.random() < 0.3:
            raw = _flip(raw, rng)
        out.append((t.kind, raw, t.pds3))
    return out


# --------------------------------------------------------------------------------------------- running


def materialize(case: Case, folder: Path) -> Path:
    """Create the case's files under ``folder`` (empty); returns the path to read."""
    for name, content in case.files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content == "fifo":
            os.mkfifo(path)
        elif content == "dir":
            path.mkdir()
        elif content == "loop":
            os.symlink(path, path)
        elif content.startswith("->"):
            os.symlink(content[2:], path)
        else:
            raise AssertionError(content)
    return folder / case.target


class CaseTimeout(BaseException):
    """Raised by the alarm in a case that runs too long (a BaseException: no ``except Exception`` eats it)."""


def _alarm(signum, frame):
    raise CaseTimeout


def _location(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}farside{os.sep}" in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    parts = Path(frame.filename).parts
    short = "/".join(parts[parts.index("farside") :]) if "farside" in parts else Path(frame.filename).name
    return f"{short}:{frame.lineno} in {frame.name}"


@dataclass
class Outcome:
    index: int
    api: str
    kind: str
    mutations: list[str]
    result: str  # "read", "error", "escape", "hang", "memory"
    error: str = ""  # error class name (FarsideError subclass or escaped type)
    location: str = ""
    message: str = ""
    seconds: float = 0.0
    peak_bytes: int = 0
    input_bytes: int = 0

    def failed(self) -> bool:
        return self.result in ("escape", "hang", "memory")

    def describe(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return (
            f"case {self.index} ({self.api} {self.kind}; {', '.join(self.mutations)}): {self.result} "
            f"{self.error}{where}: {self.message[:200]}"
        )


def _consume(value: object) -> None:
    from farside.products import Product

    if isinstance(value, Product):
        float(value.image.sum())
        value.meta.to_dict()
        json.dumps(value.label, default=str)
        repr(value)


def run_case(case: Case, workdir: Path, timeout: float = 10.0) -> Outcome:
    """Run one case in a fresh folder under ``workdir``; never raises (but for KeyboardInterrupt)."""
    from farside import read
    from farside.errors import FarsideError
    from farside.fetch import read_download_list

    folder = Path(tempfile.mkdtemp(prefix=f"c{case.index}-", dir=workdir))
    outcome = Outcome(case.index, case.api, case.kind, list(case.mutations), "read")
    outcome.input_bytes = case.input_bytes()
    call = read if case.api == "read" else read_download_list
    try:
        target = materialize(case, folder)
        previous = signal.signal(signal.SIGALRM, _alarm)
        tracemalloc.start()
        start = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                value = call(target)
                _consume(value)
                del value
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CaseTimeout:
            outcome.result, outcome.message = "hang", f"still running after {timeout:g} s"
        except FarsideError as exc:
            outcome.result, outcome.error, outcome.message = "error", type(exc).__name__, str(exc)
            if "\n" in str(exc):
                outcome.result, outcome.message = (
                    "escape",
                    "FarsideError message is not one line: " + str(exc),
                )
        except Exception as exc:
            outcome.result, outcome.error = "escape", type(exc).__name__
            outcome.location, outcome.message = _location(exc), " ".join(str(exc).split())
        finally:
            outcome.seconds = time.perf_counter() - start
            outcome.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            signal.signal(signal.SIGALRM, previous)
        limit = 4 * outcome.input_bytes + MEMORY_SLACK
        if outcome.result in ("read", "error") and outcome.peak_bytes > limit:
            outcome.result = "memory"
            outcome.message = f"peak {outcome.peak_bytes:,} bytes > {limit:,} ({outcome.error or 'read'})"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome


# --------------------------------------------------------------------------------------------- driver

_STATE: dict[str, object] = {}


def _init(seed: int, timeouts: dict[str, float], root: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="worker-", dir=root))
    _STATE.update(
        seed=seed, timeouts=timeouts, workdir=workdir, templates=build_templates(workdir / "templates")
    )


def _run_chunk(indices: range) -> list[Outcome]:
    templates, workdir, timeouts = _STATE["templates"], _STATE["workdir"], _STATE["timeouts"]
    out = []
    for i in indices:
        case = make_case(_STATE["seed"], i, templates)  # type: ignore[arg-type]
        out.append(run_case(case, workdir, timeouts[case.api]))  # type: ignore[arg-type,index]
    return out


def summarise(outcomes: list[Outcome], seconds: float, args: argparse.Namespace) -> dict[str, object]:
    def block(items: list[Outcome]) -> dict[str, object]:
        results = Counter(o.result for o in items)
        escapes = Counter(f"{o.error} at {o.location}" for o in items if o.result == "escape")
        return {
            "cases": len(items),
            "reads": results["read"],
            "clean_errors": results["error"],
            "clean_errors_by_class": dict(
                Counter(o.error for o in items if o.result == "error").most_common()
            ),
            "escapes": results["escape"],
            "escapes_by_type_and_location": dict(escapes.most_common()),
            "hangs": results["hang"],
            "memory_failures": results["memory"],
            "max_seconds_per_case": round(max((o.seconds for o in items), default=0.0), 4),
            "max_peak_traced_bytes": max((o.peak_bytes for o in items), default=0),
            "examples": [o.describe() for o in items if o.failed()][:20],
        }

    def heaviest(items: list[Outcome]) -> str:
        top = max(items, key=lambda o: o.peak_bytes, default=None)
        if top is None:
            return ""
        return f"{top.peak_bytes:,} bytes traced for {top.input_bytes:,} bytes of input: {top.describe()}"

    reads = [o for o in outcomes if o.api == "read"]
    lists = [o for o in outcomes if o.api == "download_list"]
    slowest = max(reads, key=lambda o: o.seconds, default=None)
    return {
        "command": "python benchmarks/fuzz.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "count": len(outcomes),
        "processes": args.processes,
        "timeout_s": {"read": args.timeout, "download_list": args.list_timeout},
        "wall_seconds": round(seconds, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "memory_limit": "tracemalloc peak per case <= 4 x input bytes + 8 MiB",
        "read": block(reads),
        "slowest_read_case": f"{slowest.seconds:.3f} s: {slowest.describe()}" if slowest else "",
        "heaviest_read_case": heaviest(reads),
        "download_list": block(lists),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a read counts as a hang")
    parser.add_argument(
        "--list-timeout",
        type=float,
        default=1.0,
        help="seconds before a download-list parse counts as a hang",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import multiprocessing

    root = tempfile.mkdtemp(prefix="farside-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    chunk = 250
    chunks = [range(i, min(i + chunk, args.count)) for i in range(0, args.count, chunk)]
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    timeouts = {"read": args.timeout, "download_list": args.list_timeout}
    with context.Pool(args.processes, initializer=_init, initargs=(args.seed, timeouts, root)) as pool:
        for done in pool.imap_unordered(_run_chunk, chunks):
            outcomes.extend(done)
            if len(outcomes) % 10_000 < chunk:
                elapsed = time.perf_counter() - start
                print(f"{len(outcomes):,} cases, {elapsed:.0f} s", file=sys.stderr, flush=True)
    shutil.rmtree(root, ignore_errors=True)
    seconds = time.perf_counter() - start
    summary = summarise(sorted(outcomes, key=lambda o: o.index), seconds, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    failed = summary["read"]["escapes"] + summary["read"]["hangs"] + summary["read"]["memory_failures"]  # type: ignore[index]
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
