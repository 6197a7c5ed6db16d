"""The gallery builder: what it finds and how it describes it, what it makes (thumbnails, deep-zoom tiles),
what it leaves out and says, what a rebuild makes again, and that the index is never seen half-written."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from farside.gallery import build
from farside.gallery.deepzoom import halve, level_sizes, tile_box, write_pyramid
from farside.gallery.pixels import open_raster
from farside.gallery.scan import describe, product_names
from farside.gallery.site import assign_ids
from farside.output import write_png_strips

CLI = [sys.executable, "-m", "farside"]


def catalogue(site: Path) -> dict:
    """data/items.js as a dict, each row as a dict of its columns (coded values decoded)."""
    text = (site / "data" / "items.js").read_text(encoding="utf-8")
    prefix = "window.FARSIDE_GALLERY = "
    assert text.startswith(prefix) and text.endswith(";\n")
    data = json.loads(text[len(prefix) : -2])
    rows = []
    for row in data["rows"]:
        item = dict(zip(data["columns"], row, strict=True))
        for column, values in data["values"].items():
            item[column] = values[item[column]]
        rows.append(item)
    data["items"] = {item["id"]: item for item in rows}
    data["order"] = [item["id"] for item in rows]
    return data


def details(site: Path) -> dict:
    """Every item's detail, from the shards items.js names."""
    out = {}
    for shard in catalogue(site)["shards"]:
        text = (site / shard).read_text(encoding="utf-8")
        assert text.startswith("FARSIDE_DETAIL(") and text.endswith(");\n")
        shard, shared = json.loads("[" + text[len("FARSIDE_DETAIL(") : -3] + "]")
        for detail in shard.values():  # shared sections are named by digest
            detail["sections"] = [shared[s] if isinstance(s, str) else s for s in detail["sections"]]
        out.update(shard)
    return out


def copy_outputs(paths: list[Path], folder: Path) -> list[Path]:
    """Outputs and their sidecars copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        for item in (path, path.with_name(path.name + ".json")):
            shutil.copy2(item, folder / item.name)
    return [folder / p.name for p in paths]


def test_a_release_becomes_a_site_of_frames_panoramas_anaglyphs_and_movies(gallery_outputs, tmp_path):
    out = gallery_outputs
    site = tmp_path / "site"
    report = build([out.converted, out.pano], site, title="Chang'e <test>", tile_above=512)
    assert report.problems == [] and report.items == 8 and report.made == 8
    data = catalogue(site)
    items = data["items"]
    assert (
        data["title"] == "Chang'e <test>" and "Chang&#x27;e &lt;test&gt;" in (site / "index.html").read_text()
    )
    kinds = sorted(item["kind"] for item in items.values())
    assert kinds == ["anaglyph", "frame", "frame", "frame", "frame", "frame", "movie", "panorama"]
    pano = items[out.panorama.name]
    # A panorama's sidecar has no product block: its fields come from its first product's name.
    assert (pano["mission"], pano["instrument"], pano["camera"], pano["mode"], pano["sequence"]) == (
        "CE4", "PCAM", "L", "C", "0067",
    )  # fmt: skip
    assert items[out.anaglyph.name]["camera"] == "L+R" and items[out.movie.name]["instrument"] == "LCAM"
    assert items[out.frames[4].name]["mission"] == "CE5-L"
    # Groups (mission, instrument, sequence) by their first time, items by time within them.
    order = [items[i] for i in data["order"]]
    keys = [(i["mission"], i["instrument"], i["sequence"]) for i in order]
    assert all(keys.index(k) == i or keys[i - 1] == k for i, k in enumerate(keys)), "a group is split"
    for key in dict.fromkeys(keys):
        times = [i["time"] for i in order if (i["mission"], i["instrument"], i["sequence"]) == key]
        assert times == sorted(times)
    detail = details(site)
    for item_id, item in items.items():
        thumb = site / "thumbs" / f"{item_id}.webp"
        with Image.open(thumb) as image:
            assert image.format == "WEBP" and image.size == (item["thumb_width"], item["thumb_height"])
            box = (960, 240) if item["kind"] == "panorama" else (320, 240)
            assert image.size[0] <= box[0] and image.size[1] <= box[1]
        # Uncropped: the thumbnail has the image's aspect.
        d = detail[item_id]
        assert (
            abs(image.size[0] / image.size[1] - d["width"] / d["height"])
            < 0.02 * d["width"] / d["height"] + 0.02
        )
        # The full-size output and its sidecar are in the site, the same bytes.
        assert (site / d["full"]).read_bytes() == next(
            p for p in [*out.frames, out.anaglyph, out.movie, out.panorama] if p.name == item_id
        ).read_bytes()
        assert json.loads((site / d["sidecar"]).read_text())
    # The panorama, wider than the threshold, is tiled; frames open directly; the movie plays as it is.
    assert detail[out.panorama.name]["view"]["type"] == "dzi"
    assert detail[out.panorama.name]["projection"]["type"] == "equirectangular"
    assert detail[out.frames[0].name]["view"] == {"type": "image", "url": f"media/{out.frames[0].name}"}
    assert detail[out.movie.name]["view"]["type"] == "video"
    # The frame's panel: its time, pointing and processing; its product linked relative to the site.
    sections = dict((title, dict(rows)) for title, rows in detail[out.frames[0].name]["sections"])
    assert sections["Observation"]["Start"] == "2019-01-04 08:45:59 UTC"
    assert sections["Pointing"]["Mast yaw"] == "-12.8987°"
    assert sections["Processing"]["Demosaic"] == "lmmse_ri"
    product = detail[out.frames[0].name]["products"][0]
    assert not product["href"].startswith(("/", "file:"))
    assert (site / product["href"]).resolve() == out.labels[0].resolve()
    assert len(detail[out.panorama.name]["products"]) == 3
    # Nothing outside the site is referenced by the page itself.
    page = (site / "index.html").read_text()
    assert "http" not in page.replace("http-equiv", "") and "//" not in page.replace("<!--", "")


def test_product_fields_come_from_whatever_the_sidecar_lists():
    left = "/r/CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL"
    right = "CE4_GRAS_PCAMR-C-006_SCI_N_20190104084545_20190104084545_0001_B.2B"
    fields = describe({"kind": "anaglyph", "products": [{"label": left}, {"product_id": right}]}, "a.png")
    assert (fields.kind, fields.camera, fields.time) == ("anaglyph", "L+R", "2019-01-04T08:45:45+00:00")
    assert describe({"frames": [left]}, "x.webm").kind == "movie"
    assert describe({}, "x.png").mission == "" and product_names({"left": 3, "frames": [{}]}) == []
    ids = assign_ids([Path("/a/x.png"), Path("/b/x.png"), Path("/a/X.2B.png")])
    assert ids[Path("/a/X.2B.png")] == "X.2B.png" and ids[Path("/a/x.png")].endswith(".png")
    assert len(set(ids.values())) == 3


def test_bad_or_missing_sidecars_and_images_are_one_line_each_and_left_out(gallery_outputs, tmp_path):
    folder = tmp_path / "outputs"
    good = copy_outputs(gallery_outputs.frames[:2], folder)
    lonely = folder / "lonely.png"  # an image without its sidecar
    shutil.copy(good[0], lonely)
    (folder / "gone.png.json").write_text("{}")  # a sidecar without its image
    shutil.copy(good[0], folder / "broken.png")
    (folder / "broken.png.json").write_text('{"product": ')  # not JSON
    shutil.copy(good[0], folder / "list.png")
    (folder / "list.png.json").write_text("[1, 2]")  # not an object
    truncated = folder / "truncated.png"
    truncated.write_bytes(good[0].read_bytes()[:3000])
    shutil.copy(good[0].with_name(good[0].name + ".json"), folder / "truncated.png.json")
    damaged = bytearray(good[1].read_bytes())
    damaged[2000:2400] = bytes(400)  # inside the compressed pixels
    (folder / "damaged.png").write_bytes(bytes(damaged))
    shutil.copy(good[1].with_name(good[1].name + ".json"), folder / "damaged.png.json")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "empty.mp4.json").write_text('{"kind": "movie"}')
    (folder / "farside-report.json").write_text("{}")  # not a sidecar: ignored
    site = tmp_path / "site"
    result = subprocess.run([*CLI, "gallery", str(folder), "-o", str(site)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    bad = ["lonely.png", "gone.png.json", "broken.png.json", "list.png.json", "truncated.png", "damaged.png",
           "empty.mp4"]  # fmt: skip
    assert len(lines) == len(bad), lines
    for name in bad:
        assert sum(f"{folder / name}:" in line for line in lines) == 1, (name, lines)
    assert "2 items" in result.stdout and "7 left out" in result.stdout
    assert set(catalogue(site)["items"]) == {p.name for p in good}
    assert not list(site.rglob("*.part")) and not list(site.rglob(".*.part"))


def test_a_rebuild_makes_only_what_is_new_and_drops_what_is_gone(gallery_outputs, tmp_path):
    folder = tmp_path / "outputs"
    paths = copy_outputs([*gallery_outputs.frames, gallery_outputs.movie], folder)
    pano = gallery_outputs.pano
    site = tmp_path / "site"
    first = build([folder, pano], site, tile_above=512)
    assert (first.made, first.kept, first.items) == (7, 0, 7)
    thumbs = {p.name: p.stat() for p in (site / "thumbs").iterdir()}
    tiles = sorted(p.name for p in (site / "tiles").iterdir())
    index = (site / "data" / "items.js").read_text()
    again = build([folder, pano], site, tile_above=512)
    assert (again.made, again.kept, again.removed) == (0, 7, 0)
    assert (site / "data" / "items.js").read_text().split('"rows"')[1] == index.split('"rows"')[1]
    # One output added, one removed, one changed (its sidecar rewritten).
    new = folder / "CE4_GRAS_PCAML-C-006_SCI_N_20190104084759_20190104084759_0001_B.2B.png"
    shutil.copy(paths[0], new)
    shutil.copy(paths[0].with_name(paths[0].name + ".json"), new.with_name(new.name + ".json"))
    for gone in (paths[2], paths[2].with_name(paths[2].name + ".json")):
        gone.unlink()
    changed = paths[3].with_name(paths[3].name + ".json")
    changed.write_text(changed.read_text().replace('"LCAM"', '"LCAM"  '))
    third = build([folder, pano], site, tile_above=512)
    assert (third.made, third.kept, third.removed, third.items) == (2, 5, 1, 7)
    now = {p.name: p.stat() for p in (site / "thumbs").iterdir()}
    assert set(now) == (set(thumbs) - {f"{paths[2].name}.webp"}) | {f"{new.name}.webp"}
    for name, before in thumbs.items():
        if name not in (f"{paths[2].name}.webp", f"{paths[3].name}.webp"):
            assert (now[name].st_mtime_ns, now[name].st_ino) == (before.st_mtime_ns, before.st_ino), name
    assert not (site / "media" / paths[2].name).exists() and (site / "media" / new.name).is_file()
    assert sorted(p.name for p in (site / "tiles").iterdir()) == tiles  # the panorama was not tiled again
    assert set(catalogue(site)["items"]) == {p.name for p in [*paths, new, gallery_outputs.panorama]} - {
        paths[2].name
    }
    # Everything in the site belongs to an item (or is the page, its assets and data).
    manifest = json.loads((site / ".farside-gallery.json").read_text())
    owned = {name for entry in manifest["items"].values() for name in entry["files"]}
    for path in (site / "media").iterdir():
        assert f"media/{path.name}" in owned
    # Sources gone altogether: the site empties, and says so.
    (tmp_path / "nothing").mkdir()
    empty = build([tmp_path / "nothing"], site)
    assert empty.items == 0 and empty.removed == 7 and not list((site / "thumbs").iterdir())
    assert catalogue(site)["rows"] == [] and not list((site / "media").iterdir())


def test_the_index_is_replaced_atomically_and_a_stopped_build_leaves_the_old_one(
    gallery_outputs, tmp_path, monkeypatch
):
    folder = tmp_path / "outputs"
    copy_outputs(gallery_outputs.frames, folder)
    site = tmp_path / "site"
    build([folder], site)
    index_path, page_path = site / "data" / "items.js", site / "index.html"
    seen: list[str] = []
    stop = threading.Event()

    def read_all_the_time() -> None:
        while not stop.is_set():
            text = index_path.read_text(encoding="utf-8")
            page = page_path.read_text(encoding="utf-8")
            if not (text.endswith("};\n") and page.rstrip().endswith("</html>")):
                seen.append(f"partial: {len(text)} {len(page)}")
            else:
                seen.append(json.loads(text[len("window.FARSIDE_GALLERY = ") : -2])["title"])

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        for n in range(6):
            build([folder], site, title=f"build {n}")
    finally:
        stop.set()
        reader.join()
    assert seen and not [s for s in seen if s.startswith("partial")]
    assert len(set(seen)) > 2  # the reader saw the index change, and only ever whole
    # A build stopped half-way (here: interrupted while making an item's views) leaves the old site.
    before = index_path.read_bytes(), page_path.read_bytes()
    new = folder / "new.png"
    shutil.copy(gallery_outputs.frames[0], new)
    shutil.copy(
        gallery_outputs.frames[0].with_name(gallery_outputs.frames[0].name + ".json"), folder / "new.png.json"
    )
    from farside.gallery import site as site_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(site_module, "make", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build([folder], site)
    assert (index_path.read_bytes(), page_path.read_bytes()) == before
    assert not [p for p in site.rglob("*") if p.name.endswith(".part")]


def _encode_png(tile: np.ndarray) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(tile).save(stream, "PNG", compress_level=1)
    return stream.getvalue()


def _reassemble(folder: Path, level: int, size: tuple[int, int], channels: int) -> np.ndarray:
    canvas = np.zeros((size[1], size[0], channels), np.uint8)
    for row in range(-(-size[1] // 254)):
        for column in range(-(-size[0] // 254)):
            x0, y0, x1, y1 = tile_box(column, row, size)
            tile = np.asarray(Image.open(folder / str(level) / f"{column}_{row}.png"))
            assert tile.shape[:2] == (y1 - y0, x1 - x0)
            canvas[y0:y1, x0:x1] = tile.reshape(y1 - y0, x1 - x0, channels)
    return canvas


def test_deep_zoom_tiles_reassemble_to_the_image(gallery_outputs, tmp_path):
    # The real panorama (RGBA PNG, streamed): every level's tiles put back together give that level.
    raster = open_raster(gallery_outputs.panorama)
    rgba = cv2.cvtColor(cv2.imread(str(gallery_outputs.panorama), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    assert (raster.width, raster.height) == (rgba.shape[1], rgba.shape[0])
    folder = tmp_path / "pano_files"
    pyramid = write_pyramid(raster.strips(100), raster.width, raster.height, folder, _encode_png,
                            extension="png", threads=2)  # fmt: skip
    sizes = level_sizes(raster.width, raster.height)
    assert sorted(int(p.name) for p in folder.iterdir()) == list(range(len(sizes)))
    assert sizes[-1] == (raster.width, raster.height) and sizes[0] == (1, 1)
    expected = rgba
    for level in range(len(sizes) - 1, len(sizes) - 4, -1):
        assert np.array_equal(_reassemble(folder, level, sizes[level], 4), expected), level
        padded = np.concatenate([expected, expected[-1:]]) if len(expected) % 2 else expected
        expected = halve(padded)
    assert pyramid.layout("tiles/x_files/")["width"] == raster.width
    # Memory: a panorama many times the size of a strip is tiled holding a few hundred rows per level.
    width, height = 6000, 6000
    stripe = np.random.default_rng(0).integers(0, 255, (100, width, 4), dtype=np.uint8)
    big = tmp_path / "big.png"
    with open(big, "wb") as stream:
        write_png_strips(stream, width, height, (stripe for _ in range(height // 100)), {}, compression=0)
    big_raster = open_raster(big)
    tracemalloc.start()
    try:
        write_pyramid(
            big_raster.strips(), width, height, tmp_path / "big_files", lambda t: b"", extension="x"
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.2 * width * height * 4, (
        f"{peak / 1e6:.0f} MB for a {width * height * 4 / 1e6:.0f} MB image"
    )


def test_halving_averages_2_by_2_and_weights_colour_by_alpha():
    rng = np.random.default_rng(7)
    for channels in (1, 3, 4):
        pixels = rng.integers(0, 256, (6, 7, channels), dtype=np.uint8)
        if channels == 4:
            pixels[:2, :, 3] = 0  # uncovered: its colour must not count
            pixels[2:4, :2, 3] = 255
        padded = np.concatenate([pixels, pixels[:, -1:]], axis=1).astype(
            np.int64
        )  # an odd column pairs itself
        quads = padded.reshape(3, 2, 4, 2, channels).transpose(0, 2, 1, 3, 4).reshape(3, 4, 4, channels)
        if channels == 4:
            weight = quads[..., 3].sum(axis=2)
            sums = (quads[..., :3] * quads[..., 3:]).sum(axis=2)
            colour = np.where(
                weight[..., None] > 0, (sums + weight[..., None] // 2) // np.maximum(weight, 1)[..., None], 0
            )
            expected = np.concatenate([colour, ((weight + 2) // 4)[..., None]], axis=-1)
        else:
            expected = (quads.sum(axis=2) + 2) // 4
        got = halve(pixels if channels > 1 else pixels[:, :, 0])
        assert np.array_equal(got.reshape(expected.shape), expected), channels
    assert halve(np.full((2, 2, 4), [200, 100, 50, 0], np.uint8)).tolist() == [[[0, 0, 0, 0]]]


def test_streamed_png_and_tiled_tiff_read_like_whole_images(tmp_path):
    import tifffile

    rng = np.random.default_rng(3)
    smooth = cv2.resize(
        rng.integers(0, 255, (40, 60, 4), dtype=np.uint8), (301, 211), interpolation=cv2.INTER_CUBIC
    )
    cases = {"RGBA": smooth, "RGB": smooth[:, :, :3], "L": smooth[:, :, 0], "LA": smooth[:, :, :2]}
    for mode, pixels in cases.items():
        path = tmp_path / f"{mode}.png"
        Image.fromarray(pixels, mode).save(path, optimize=True)  # every row filter, chosen per row
        got = np.concatenate(list(open_raster(path).strips(64)))
        assert np.array_equal(got, pixels), mode
    deep = smooth[:, :, :3].astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep.png"), deep[:, :, ::-1])
    assert np.array_equal(
        np.concatenate(list(open_raster(tmp_path / "deep.png").strips(50))), smooth[:, :, :3]
    )
    tifffile.imwrite(tmp_path / "tiled.tif", deep, tile=(64, 64), photometric="rgb")
    assert np.array_equal(
        np.concatenate(list(open_raster(tmp_path / "tiled.tif").strips(50))), smooth[:, :, :3]
    )


def test_a_16_bit_tiff_output_is_shown_through_tiles(gallery_outputs, tmp_path):
    import farside

    out = tmp_path / "tiff"
    path, _ = farside.convert(
        gallery_outputs.labels[2], out, overrides={"output.format": "tiff", "output.bits": 16}
    )
    site = tmp_path / "site"
    report = build([out], site)
    assert report.problems == [] and report.items == 1
    view = details(site)[path.name]["view"]
    assert view["type"] == "dzi" and (view["width"], view["height"]) == (256, 192)
    tiles = site / view["url"]
    assert (tiles / "8" / "0_0.webp").is_file() and (tiles / "image.dzi").is_file()


def test_original_products_are_found_in_a_catalog_when_they_have_moved(gallery_outputs, tmp_path):
    from farside.catalog import index

    moved = tmp_path / "moved"
    shutil.copytree(gallery_outputs.release, moved)
    db = tmp_path / "catalog.db"
    index([moved], db)
    folder = tmp_path / "outputs"
    copy_outputs(gallery_outputs.frames[:1], folder)
    sidecar = folder / f"{gallery_outputs.frames[0].name}.json"
    side = json.loads(sidecar.read_text())
    side["provenance"]["source_label"] = "/nowhere/" + Path(side["provenance"]["source_label"]).name
    side["provenance"]["source_data"] = "/nowhere/" + Path(side["provenance"]["source_data"]).name
    sidecar.write_text(json.dumps(side))
    without = build([folder], tmp_path / "a")
    assert details(without.site)[gallery_outputs.frames[0].name]["products"][0]["href"] is None
    result = subprocess.run([*CLI, "gallery", str(folder), "-o", str(tmp_path / "b"), "--db", str(db)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    product = details(tmp_path / "b")[gallery_outputs.frames[0].name]["products"][0]
    assert (tmp_path / "b" / product["href"]).resolve() == (moved / gallery_outputs.labels[0].name).resolve()


def test_command_line_mistakes_are_one_line_and_exit_2(tmp_path):
    def run(*args):
        return subprocess.run([*CLI, "gallery", *map(str, args)], capture_output=True, text=True)

    for args, words in [
        (["-o", tmp_path / "s"], "give folders"),
        ([tmp_path / "missing", "-o", tmp_path / "s"], "no such file"),
        (["--serve", "-o", tmp_path / "empty"], "no gallery here"),
        ([tmp_path, "-o", tmp_path / "s", "--db", tmp_path / "none.db"], "no catalog"),
        ([tmp_path, "-o", tmp_path / "s", "--port", "70000"], "port"),
    ]:
        result = run(*args)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert os.path.isdir(tmp_path)


def test_outputs_larger_than_pillows_bomb_guard_read_and_the_guard_stays(tmp_path, monkeypatch):
    """Pillow refuses images over twice its MAX_IMAGE_PIXELS as decompression bombs; an output that large
    (a JPEG panorama) is read, and the guard is the program's again afterwards."""
    from farside.gallery.pixels import read_whole

    pixels = np.linspace(0, 255, 120 * 200 * 3).reshape(120, 200, 3).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "wide.webp", lossless=True)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "wide.webp")
    assert open_raster(tmp_path / "wide.webp").width == 200
    assert np.array_equal(read_whole(tmp_path / "wide.webp"), pixels)
    assert Image.MAX_IMAGE_PIXELS == 5_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "wide.webp")
