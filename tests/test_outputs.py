"""One output per input: named after the data file, inside the output folder, never written over by another
product; PNGs state their colour encoding; the package imports where nothing beside it can be written."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import kodak

from farside.batch import Job, process
from farside.synthetic import sequence_start, write_product

CLI = [sys.executable, "-m", "farside"]


def farside(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def _product(folder: Path, index: int = 0, scene: int = 1) -> Path:
    return write_product("ce4-pcam-q", kodak(scene), folder, shape=(48, 64), start=sequence_start(index))


def _renamed_copy(label: Path, folder: Path, new_data_name: str) -> Path:
    """The same product under another file name; its label keeps the original ``product_id`` (as a
    reprocessed copy or a label edited by hand does)."""
    folder.mkdir(parents=True, exist_ok=True)
    old_data = label.with_name(label.name[:-1])
    shutil.copy(old_data, folder / new_data_name)
    text = label.read_text(encoding="utf-8")
    text = text.replace(f"<file_name>{old_data.name}</file_name>", f"<file_name>{new_data_name}</file_name>")
    new_label = folder / (new_data_name + "L")
    new_label.write_text(text, encoding="utf-8")
    return new_label


def _images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_products_sharing_a_product_id_get_one_output_each(tmp_path):
    first = _product(tmp_path / "a", 0, 1)
    second = _renamed_copy(first, tmp_path / "b", first.name[:-1].replace("_0001_", "_0002_"))
    result = farside("convert", first, second, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert _images(tmp_path / "out") == sorted([first.name[:-1] + ".png", second.name[:-1] + ".png"])
    sidecar = json.loads((tmp_path / "out" / (second.name[:-1] + ".png.json")).read_text())
    assert sidecar["provenance"]["source_label"] == str(second.resolve())  # the full source path
    assert sidecar["provenance"]["source_data"] == str(second.with_name(second.name[:-1]).resolve())


def test_two_products_with_one_output_name_are_reported_not_overwritten(tmp_path):
    first = _product(tmp_path / "batch1", 0, 1)
    second = _product(tmp_path / "batch2", 0, 2)  # same file name, another folder, other pixels
    out = tmp_path / "out"
    result = farside("convert", first, second, "-o", out)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "already the output of" in line]
    assert len(lines) == 1 and str(first) in lines[0] and str(second) in lines[0]
    sidecar = json.loads((out / (first.name[:-1] + ".png.json")).read_text())
    assert sidecar["provenance"]["source_label"] == str(first.resolve())  # the first one's, untouched


def test_a_label_and_its_data_file_given_together_are_one_product(tmp_path):
    label = _product(tmp_path / "in")
    data = label.with_name(label.name[:-1])
    result = farside("convert", label, data, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".png") == 1 and len(_images(tmp_path / "out")) == 1


@pytest.mark.parametrize("product_id", ["../../escaped", "/tmp/abs/escaped", "..", "a/../../b"])
def test_a_label_cannot_make_farside_write_outside_the_output_folder(tmp_path, product_id):
    label = _product(tmp_path / "in")
    text = label.read_text(encoding="utf-8")
    text = text.replace(
        f"<product_id>{label.name[:-1]}</product_id>", f"<product_id>{product_id}</product_id>"
    )
    label.write_text(text, encoding="utf-8")
    out = tmp_path / "deep" / "out"
    result = farside("convert", label, "-o", out)
    assert result.returncode == 0, result.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".png", ".json")]
    assert written and all(p.parent == out for p in written)
    assert not Path("/tmp/abs/escaped.png").exists()


def test_process_never_loses_a_product_and_settles_on_resume(tmp_path):
    release = tmp_path / "release"
    first = _product(release / "batch1", 0, 1)
    _product(release / "batch2", 0, 2)  # same name as first, other folder
    _renamed_copy(first, release / "batch3", first.name[:-1].replace("_0001_", "_0003_"))
    out = tmp_path / "out"
    result = farside("process", release, "-o", out, "--workers", 2)
    assert result.returncode == 1
    assert "2 converted, 0 up to date, 1 failed" in result.stdout
    assert "already the output of" in result.stderr and str(release / "batch1") in result.stderr
    again = farside("process", release, "-o", out, "--workers", 2)
    assert "0 converted, 2 up to date, 1 failed" in again.stdout  # resuming settles
    report = json.loads((out / "farside-report.json").read_text())
    assert [Path(f["path"]).parent.name for f in report["failures"]] == ["batch2"]


def test_dask_applies_the_same_rule(tmp_path):
    distributed = pytest.importorskip("distributed")
    release = tmp_path / "release"
    _product(release / "batch1", 0, 1)
    _product(release / "batch2", 0, 2)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")  # fmt: skip
    with cluster:
        result = farside("process", release, "-o", tmp_path / "out", "--scheduler", cluster.scheduler_address)
    assert result.returncode == 1 and "1 converted, 0 up to date, 1 failed" in result.stdout
    assert "already the output of" in result.stderr


def test_library_jobs_for_one_product_run_once(tmp_path):
    label = _product(tmp_path / "in")
    jobs = [
        Job(str(label), str(tmp_path / "out")),
        Job(str(label.with_name(label.name[:-1])), str(tmp_path / "out")),
    ]
    summary = process(jobs, workers=1)
    assert (summary.count("converted"), summary.count("failed")) == (1, 0)


def _png_chunks(data: bytes) -> dict[bytes, bytes]:
    chunks, position = {}, 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.setdefault(kind, body)
        position += 12 + length
    return chunks


def test_png_outputs_state_their_colour_encoding(tmp_path):
    label = _product(tmp_path / "in")
    from PIL import Image

    farside("convert", label, "-o", tmp_path / "srgb", "--bits", "16")
    image = next((tmp_path / "srgb").glob("*.png"))
    chunks = _png_chunks(image.read_bytes())
    assert chunks[b"sRGB"] == b"\0" and b"gAMA" not in chunks
    with Image.open(image) as im:  # an independent decoder agrees
        assert im.info.get("srgb") == 0
    farside("convert", label, "-o", tmp_path / "linear", "--transfer", "linear")
    chunks = _png_chunks(next((tmp_path / "linear").glob("*.png")).read_bytes())
    assert struct.unpack(">I", chunks[b"gAMA"])[0] == 100000 and b"sRGB" not in chunks


def test_imports_where_no_cache_location_can_be_written(tmp_path):
    """numba caches compiled kernels beside the sources or in ~/.cache; with neither writable it would
    refuse to import farside at all (numba's JIT asked for: the package's compiled kernels need no cache)."""
    package = Path(__import__("farside").__file__).parent
    copy = tmp_path / "site" / "farside"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [copy, *[p for p in copy.rglob("*") if p.is_dir()]]:
        (folder / "__pycache__").write_text("a file where the cache folder would go")
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(tmp_path / "site"),
           "TMPDIR": str(tmp_path / "tmp"), "FARSIDE_KERNELS": "jit"}  # fmt: skip
    (tmp_path / "tmp").mkdir()
    code = (
        "import numpy as np, farside, os; "
        "rgb = farside.demosaic(np.full((8, 8), 100, np.uint16), 'RGGB'); "
        "print(farside.__file__, os.environ.get('NUMBA_CACHE_DIR'), float(rgb.mean()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    where, cache, mean = result.stdout.split()
    assert where.startswith(str(copy)) and cache.startswith(str(tmp_path / "tmp")) and float(mean) == 100.0


@pytest.mark.parametrize("dtype, channels", [("uint8", 4), ("uint16", 4), ("uint8", 3), ("uint16", 1)])
def test_images_written_strip_by_strip_decode_to_the_same_pixels(tmp_path, dtype, channels):
    """The streamed PNG and tiled TIFF writers against independent decoders (Pillow, OpenCV, tifffile),
    with strips whose heights do not line up with the TIFF's tiles."""
    import cv2
    import numpy as np
    import tifffile
    from PIL import Image

    from farside.output import atomic_file, write_png_strips, write_tiff_strips

    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    image = rng.integers(0, top, (300, 517, channels), endpoint=True).astype(dtype)
    image[100:140] = top // 3  # runs that compress
    image = image[:, :, 0] if channels == 1 else image
    strips = [image[0:7], image[7:263], image[263:300]]
    png, tiff = tmp_path / "a.png", tmp_path / "a.tif"
    with atomic_file(png) as stream:
        write_png_strips(stream, 517, 300, iter(strips), {"farside:provenance": '{"a": 1}'})
    with atomic_file(tiff) as stream:
        write_tiff_strips(stream, 517, 300, iter(strips), "described", "farside", tile=64)
    decoded = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    if channels >= 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA if channels == 4 else cv2.COLOR_BGR2RGB)
    assert decoded.dtype == image.dtype and np.array_equal(decoded, image)
    with Image.open(png) as im:
        assert im.size == (517, 300) and im.text["farside:provenance"] == '{"a": 1}'
        if dtype == "uint8":
            assert np.array_equal(np.asarray(im), image)
    with tifffile.TiffFile(tiff) as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.tilewidth == 64 and page.description == "described"
        assert np.array_equal(page.asarray(), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.tif"]  # no temporary files left


def test_a_failed_streamed_write_leaves_nothing_under_the_final_name(tmp_path):
    import numpy as np

    from farside.output import atomic_file, write_png_strips

    def strips():
        yield np.zeros((10, 20, 4), np.uint8)
        raise MemoryError("out of memory half way")

    with pytest.raises(MemoryError), atomic_file(tmp_path / "pano.png") as stream:
        write_png_strips(stream, 20, 40, strips(), {})
    assert list(tmp_path.iterdir()) == []


def _opencv_png(image):
    """The PNG encoder farside used before its own: OpenCV's, with the same "Up" filter."""
    import cv2

    pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4
                                                        else cv2.COLOR_RGB2BGR)  # fmt: skip
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    return cv2.imencode(".png", pixels, params)[1].tobytes()


def _decoded(payload: bytes):
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return image


@pytest.mark.parametrize("deflater", ["isal", "zlib"])
@pytest.mark.parametrize("dtype, channels", [("uint8", 1), ("uint8", 3), ("uint8", 4), ("uint16", 1),
                                             ("uint16", 3)])  # fmt: skip
def test_png_encoding_is_standard_and_lossless(monkeypatch, deflater, dtype, channels):
    """Whole images (what convert and process write) decode to the pixels given, as OpenCV's own PNGs of
    them do, in Pillow and OpenCV; with ISA-L and with zlib where it is missing."""
    import io

    import numpy as np
    from PIL import Image

    from farside.output import encode_png

    if deflater == "zlib":
        monkeypatch.setitem(sys.modules, "isal", None)  # an import of it now fails
    else:
        pytest.importorskip("isal")
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    image = rng.integers(0, top, (171, 203, channels), endpoint=True).astype(dtype)
    image[50:90] = image[50:51]  # rows that repeat, as flat regions of a scene do
    image = image[:, :, 0] if channels == 1 else image
    payload = encode_png(image, {"farside:provenance": '{"a": 1}', "Software": "farside"})
    chunks = _png_chunks(payload)  # every chunk's CRC checked
    assert chunks[b"sRGB"] == b"\0"
    decoded = _decoded(payload)
    assert decoded.dtype == image.dtype and np.array_equal(decoded, image)
    assert np.array_equal(decoded, _decoded(_opencv_png(image)))
    with Image.open(io.BytesIO(payload)) as im:
        im.load()  # Pillow checks the zlib stream's checksum as it decodes
        assert im.size == (203, 171) and im.text["farside:provenance"] == '{"a": 1}'
        if dtype == "uint8" or channels == 1:  # Pillow has no 16-bit colour mode
            assert np.array_equal(np.asarray(im).astype(dtype), image)
