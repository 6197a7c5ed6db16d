"""Each kind of bad product: one line naming the file and the problem, the rest still converted,
no partial output, a non-zero exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import kodak

from farside import read
from farside.errors import ProductError
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
