"""Each kind of bad product: one line naming the file and the problem, the rest still converted,
no partial output, a non-zero exit code."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import kodak

from farside import read
from farside.errors import (
    AxesError,
    DataTypeError,
    LabelError,
    MissingFileError,
    ProductError,
    UnreadableFileError,
)
from farside.synthetic import write_product


def _good(tmp_path: Path) -> Path:
    return write_product("ce4-pcam-q", kodak(1), tmp_path / "good", shape=(96, 128))


def _label_text(tmp_path: Path, sub: str) -> Path:
    return write_product("ce4-lcam", kodak(2), tmp_path / sub, shape=(64, 64))


def truncated(tmp_path):
    label = write_product("ce4-pcam-c", kodak(3), tmp_path / "trunc")
    data = label.with_name(label.name[:-1])
    data.write_bytes(data.read_bytes()[:5_000_000])
    return label, "truncated"


def missing_data(tmp_path):
    label = _label_text(tmp_path, "nodata")
    label.with_name(label.name[:-1]).unlink()
    return label, "not found"


def missing_label(tmp_path):
    label = _label_text(tmp_path, "nolabel")
    label.unlink()
    return label.with_name(label.name[:-1]), "no label"


def malformed_xml(tmp_path):
    label = _label_text(tmp_path, "badxml")
    label.write_bytes(label.read_bytes()[:-200])
    return label, "malformed XML"


def unknown_type(tmp_path):
    label = _label_text(tmp_path, "badtype")
    label.write_text(label.read_text().replace("UnsignedByte", "ComplexMSB16"))
    return label, "unknown data type 'ComplexMSB16'"


def axes_too_big(tmp_path):
    label = _label_text(tmp_path, "bigaxes")
    label.write_text(label.read_text().replace("<elements>64</elements>", "<elements>4096</elements>", 1))
    return label, "needs"


def impossible_axes(tmp_path):
    label = _label_text(tmp_path, "zeroaxes")
    label.write_text(label.read_text().replace("<elements>64</elements>", "<elements>0</elements>", 1))
    return label, "0 elements"


def empty_file(tmp_path):
    label = _label_text(tmp_path, "empty")
    label.write_bytes(b"")
    return label, "empty"


def a_directory(tmp_path):
    folder = tmp_path / "adir.2BL"
    folder.mkdir()
    return folder, "directory"


def unreadable(tmp_path):
    # A link pointing at itself cannot be opened by anyone, root included.
    loop = tmp_path / "loop.2BL"
    os.symlink(loop, loop)
    return loop, "cannot read"


CASES = [truncated, missing_data, missing_label, malformed_xml, unknown_type, axes_too_big, impossible_axes,
         empty_file, a_directory, unreadable]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_library_raises_one_line_product_error(case, tmp_path):
    path, words = case(tmp_path)
    with pytest.raises(ProductError) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message or path.name[:-1] in message
    assert words in message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_cli_reports_and_carries_on(case, tmp_path):
    bad, words = case(tmp_path)
    good = _good(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "farside", "convert", str(bad), str(good), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if bad.name in line]
    assert len(error_lines) == 1 and words in error_lines[0]
    produced = sorted(p.name for p in out.iterdir())
    good_id = good.name[:-1]
    assert produced == [f"{good_id}.png", f"{good_id}.png.json"]  # nothing partial, nothing for the bad one


def test_pcam_truncated_by_one_byte(tmp_path):
    label = write_product("ce4-pcam-c", kodak(4), tmp_path)
    data = label.with_name(label.name[:-1])
    assert data.stat().st_size == 8_128_512
    with open(data, "r+b") as handle:
        handle.truncate(8_128_511)
    with pytest.raises(ProductError, match="8,128,511 bytes"):
        read(label)


def test_no_partial_file_when_writing_fails(tmp_path, monkeypatch):
    from farside import convert
    from farside import output as output_module

    label = _good(tmp_path)

    def broken_encode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(output_module, "encode", broken_encode)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError):
        convert(label, out)
    assert not any(p.suffix == ".png" for p in out.iterdir())
    assert not any(p.name.endswith(".part") for p in out.iterdir())
    assert np.all(read(label).image >= 0)


# Regressions found by mutation fuzzing (benchmarks/fuzz.py): each input once escaped as another exception,
# hung or took seconds and gigabytes. Every one must now be a Product or a one-line ProductError.

_SCENE = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)


def _small(tmp_path: Path, kind: str = "ce4-lcam") -> Path:
    shape = (16, 16, 3) if kind in ("ce4-tcam", "hx1-natecam", "ce3-pcam-2c") else (16, 16)
    return write_product(kind, _SCENE, tmp_path / kind, shape=shape)


def _edit(label: Path, old: str, new: str, count: int = 1) -> Path:
    text = label.read_bytes().decode("utf-8", "surrogateescape")  # PDS3: a text label, then binary data
    assert old in text, old
    label.write_bytes(text.replace(old, new, count).encode("utf-8", "surrogateescape"))
    return label


def _one_line_error(path: Path, error: type[ProductError] = ProductError, words: str = "") -> ProductError:
    with pytest.raises(error) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message and words in info.value.problem, message
    return info.value


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "nan", "NaN", "Infinity", "1e308", "²", "٣", "１６", "9" * 5000]
)
@pytest.mark.parametrize("element", ["elements", "offset", "sequence_number", "axes"])
def test_non_finite_and_non_ascii_numbers_in_axes(tmp_path, element, value):
    label = _small(tmp_path)
    old = {
        "elements": "<elements>16</elements>",
        "offset": '<offset unit="byte">0</offset>',
        "sequence_number": "<sequence_number>1</sequence_number>",
        "axes": "<axes>2</axes>",
    }[element]
    new = re.sub(r">[^<]*<", f">{value}<", old)
    _one_line_error(_edit(label, old, new), AxesError, "not a whole number")


@pytest.mark.parametrize("value", ["-1", "0", "3", "2.5"])
def test_declared_axes_must_match(tmp_path, value):
    _one_line_error(_edit(_small(tmp_path), "<axes>2</axes>", f"<axes>{value}</axes>"), AxesError, "axes")


@pytest.mark.parametrize(
    "pointer",
    ["(FILE, inf <BYTES>)", "(FILE, nan <BYTES>)", "(FILE, 1e308 <BYTES>)", "inf", "nan", "٣", "1e308", "()"],
)
def test_pds3_pointer_non_finite_or_non_ascii(tmp_path, pointer):
    path = _small(tmp_path, "ce3-pcam-2b")
    _one_line_error(_edit(path, "^IMAGE = ", f"^IMAGE = {pointer}\r\nX = "), LabelError, "^IMAGE")


@pytest.mark.parametrize("value", ["٣", "inf", "1e308", "²"])
def test_pds3_sizes_in_unicode_digits_or_non_finite(tmp_path, value):
    path = _small(tmp_path, "ce3-pcam-2b")
    _one_line_error(_edit(path, "LINES = 16", f"LINES = {value}"), LabelError, "LINES")


@pytest.mark.parametrize("bits", [24, 12, 128, 0, -16])
def test_pds3_unsupported_sample_bits(tmp_path, bits):
    path = _small(tmp_path, "ce3-pcam-2b")
    _one_line_error(_edit(path, "SAMPLE_BITS = 16", f"SAMPLE_BITS = {bits}"), DataTypeError, "sample type")


def test_pds3_real_of_16_bits(tmp_path):
    path = _small(tmp_path, "ce3-pcam-2b")
    _one_line_error(_edit(path, "LSB_UNSIGNED_INTEGER", "PC_REAL"), DataTypeError, "of 16 bits")


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:30:00+23:59",
        "9999-12-31T23:59:59-23:59",
    ],
)
def test_times_with_offsets_at_the_ends_of_the_calendar(tmp_path, stamp):
    label = _edit(_small(tmp_path), "2019-01-04T08:45:59.000Z", stamp, count=2)
    product = read(label)
    assert product.meta.start_time == product.meta.stop_time == datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    pds3 = _small(tmp_path, "ce3-pcam-2b")
    _edit(pds3, "START_TIME = 2019-01-04T08:45:59.000Z", f"START_TIME = {stamp}")
    assert read(pds3).meta.start_time == datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)  # from the name


@pytest.mark.parametrize("depth", [65, 300, 1000])
def test_deeply_nested_label(tmp_path, depth):
    label = _small(tmp_path)
    _edit(label, "<Reference_List>", "<x>" * depth + "</x>" * depth + "<Reference_List>")
    _one_line_error(label, LabelError, "over 64 deep")


def test_label_nested_64_deep_is_fine(tmp_path):
    label = _small(tmp_path)
    _edit(label, "<Reference_List>", "<x>" * 62 + "</x>" * 62 + "<Reference_List>")  # 1 + 1 + 62 levels
    assert read(label).image.shape == (16, 16)


@pytest.mark.parametrize("what", ["parentheses", "objects"])
def test_pds3_deep_nesting(tmp_path, what):
    path = _small(tmp_path, "ce3-pcam-2b")
    if what == "parentheses":
        deep = "DEEP = " + "(" * 1000 + "1" + ")" * 1000 + "\r\n"
    else:
        deep = "".join(f"OBJECT = O{i}\r\n" for i in range(100)) + "".join(
            f"END_OBJECT = O{i}\r\n" for i in reversed(range(100))
        )
    head = path.read_bytes()
    path.write_bytes(head.replace(b"OBJECT = IMAGE", deep.encode() + b"OBJECT = IMAGE", 1))
    _one_line_error(path, LabelError, "over 64 deep")


@pytest.mark.parametrize("name", ["sub/x", "../x", "/etc/passwd", "a" * 300, "ü" * 200, ".", "..", "x\\y"])
def test_data_file_name_must_be_a_plain_name(tmp_path, name):
    label = _small(tmp_path)
    data_name = label.name[:-1]
    _edit(label, f"<file_name>{data_name}</file_name>", f"<file_name>{name}</file_name>")
    _one_line_error(label, LabelError, "data file name")


@pytest.mark.parametrize("count", [17, 65, 100])
def test_too_many_axes(tmp_path, count):
    label = _small(tmp_path)
    axes = "".join(
        f"<Axis_Array><axis_name>A{i}</axis_name><elements>1</elements>"
        f"<sequence_number>{i + 3}</sequence_number></Axis_Array>"
        for i in range(count)
    )
    _edit(label, "</Array_2D_Image>", axes + "</Array_2D_Image>")
    _edit(label, "<axes>2</axes>", f"<axes>{count + 2}</axes>")
    _one_line_error(label, AxesError, "axes")


@pytest.mark.parametrize("first", ["x-bogus", "UTF-16", "UTF-8"])
def test_gb18030_label_with_a_second_encoding_declaration(tmp_path, first):
    # The first declaration fails to decode, so the GB18030 fallback drops it: lxml then met the second
    # declaration in a str, which it refuses with a ValueError.
    label = write_product("ce4-lcam", _SCENE, tmp_path, shape=(16, 16), encoding="gb18030")
    raw = label.read_bytes()
    end = raw.index(b"?>") + 2
    declarations = f'<?xml version="1.0" encoding="{first}"?><?xml version="1.0" encoding="GB18030"?>'
    label.write_bytes(declarations.encode() + raw[end:])
    try:
        product = read(label)
    except LabelError as exc:
        assert "malformed XML" in str(exc)
    else:
        assert product.label["Product_Observational"]["Identification_Area"]["title"].startswith("嫦娥")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE p SYSTEM "http://127.0.0.1:9/evil.dtd">',
    ],
    ids=["entities", "external-entity", "external-dtd"],
)
def test_dtds_are_refused(tmp_path, doctype):
    label = _small(tmp_path)
    _edit(label, "?>", "?>" + doctype)
    _one_line_error(label, LabelError, "DTD")


class _Alarm(BaseException):
    pass


@contextlib.contextmanager
def _deadline(seconds: float):
    def ring(signum, frame):
        raise _Alarm(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("which", ["label", "data", "label-of-data"])
def test_fifo_is_refused_without_blocking(tmp_path, which):
    label = _small(tmp_path)
    data = label.with_name(label.name[:-1])
    fifo = label if which != "data" else data
    fifo.unlink()
    os.mkfifo(fifo)
    with _deadline(5):
        _one_line_error(data if which == "label-of-data" else label, UnreadableFileError, "FIFO")


def test_device_as_data_file_is_refused(tmp_path):
    label = _small(tmp_path)
    data = label.with_name(label.name[:-1])
    data.unlink()
    os.symlink("/dev/zero", data)
    with _deadline(5):
        _one_line_error(label, UnreadableFileError, "device")


def test_unsearchable_folder(tmp_path, monkeypatch):
    label = _small(tmp_path)
    real_stat = os.stat

    def denied(path, *args, **kwargs):
        if str(label.parent) in os.fsdecode(path):
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", denied)
    error = _one_line_error(label, UnreadableFileError, "Permission denied")
    assert error.path == str(label)


def test_unsearchable_folder_as_another_user(tmp_path):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the read as nobody")
    probe = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
    if subprocess.run([*probe, "-c", "import farside"], capture_output=True, env=_env()).returncode:
        pytest.skip("nobody cannot run this Python or import farside")
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        top.chmod(0o755)
        label = _small(top / "locked")
        (top / "locked").chmod(0o755)
        label.parent.chmod(0o644)  # readable, not searchable
        code = (
            "import sys; from farside import read; from farside.errors import UnreadableFileError\n"
            f"try: read({str(label)!r})\nexcept UnreadableFileError as e: print('clean', e); sys.exit(0)\n"
        )
        result = subprocess.run([*probe, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
        assert result.returncode == 0 and "clean" in result.stdout, result.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


def test_data_file_starting_with_a_tag_is_data(tmp_path):
    label = _small(tmp_path)
    data = label.with_name(label.name[:-1])
    data.write_bytes(b"<" + data.read_bytes()[1:])
    product = read(data)
    assert product.label_path == label and product.image[0, 0] == ord("<")


def test_data_file_starting_like_a_pds3_label_is_data(tmp_path):
    label = _small(tmp_path)
    data = label.with_name(label.name[:-1])
    data.write_bytes(b"PDS_VERSION_ID = PDS3\r\nEND\r\n" + data.read_bytes()[28:])
    assert read(data).label_path == label


def test_label_named_like_a_label_is_never_read_as_data(tmp_path):
    label = _small(tmp_path)
    label.write_bytes(b"PDS_VERSION_ID = PDS3\r\nEND\r\n")
    _one_line_error(label, LabelError, "malformed XML")


@pytest.mark.parametrize("size", [1 << 20, 5 << 20, 16 << 20])
def test_oversized_labels_are_refused_quickly_and_small(tmp_path, size):
    label = _small(tmp_path)
    text = label.read_text()
    at = text.index("<Reference_List>")
    label.write_text(text[:at] + "<a/>" * (size // 4) + text[at:])
    tracemalloc.start()
    try:
        _one_line_error(label, LabelError, "to be a label")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * size + (8 << 20)


def test_pds3_blank_lines_before_end_take_linear_time(tmp_path):
    path = _small(tmp_path, "ce3-pcam-2b")
    _edit(path, "END_OBJECT = IMAGE\r\n", "END_OBJECT = IMAGE\r\n" + "\n" * 60_000)
    with _deadline(2):
        assert read(path).image.shape == (16, 16)  # the label now overlaps what ^IMAGE points at


@pytest.mark.parametrize("problem", ["too-long", "loop", "directory", "not-a-directory", "nul"])
def test_operating_system_errors_name_the_file(tmp_path, problem):
    label = _small(tmp_path)
    data = label.with_name(label.name[:-1])
    if problem == "too-long":
        path = tmp_path / ("x" * 300 + ".2BL")
    elif problem == "loop":
        data.unlink()
        os.symlink(data, data)
        path = label
    elif problem == "directory":
        data.unlink()
        data.mkdir()
        path = label
    elif problem == "not-a-directory":
        path = label / "inside.2BL"
    else:
        path = tmp_path / "a\0b.2BL"
    _one_line_error(path, (UnreadableFileError, MissingFileError))
