"""End-to-end conversion: colour, file formats, provenance, sidecars, settings and profiles."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from conftest import kodak
from PIL import Image

from farside import convert, read, render
from farside.synthetic import KINDS, lunar_scene, scene_pixels, simulate_raw, write_product

colour = pytest.importorskip("colour")

H, W = 480, 720


@pytest.fixture(scope="module")
def lunar_product(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lunar")
    raw = simulate_raw(lunar_scene(H, W, seed=1), (H, W), sensitivity=(0.5, 1.0, 0.4))
    return write_product("ce4-pcam-c", None, folder, pixels=raw)


def _lab(rgb8: np.ndarray) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb8 / 255.0))


def _regions():
    top, left = int(H * 0.35), int(W * 0.62)
    foil = (slice(top + 8, top + H // 5 - 8), slice(left + 8, left + W // 5 - 8))
    regolith = (slice(int(H * 0.75), H - 10), slice(20, int(W * 0.5)))
    return foil, regolith


def test_default_regolith_neutral_and_foil_gold(lunar_product):
    image = render(lunar_product).image
    foil, regolith = _regions()
    lab_regolith = _lab(np.median(image[regolith].reshape(-1, 3), axis=0))
    lab_foil = _lab(np.median(image[foil].reshape(-1, 3), axis=0))
    assert np.hypot(lab_regolith[1], lab_regolith[2]) < 3.0  # neutral grey
    hue = np.degrees(np.arctan2(lab_foil[2], lab_foil[1]))
    assert 60 < hue < 100 and np.hypot(lab_foil[1], lab_foil[2]) > 40  # gold: strongly yellow-orange
    # The reference: the gold the scene was made with.
    target = _lab(np.array([212, 175, 55], np.float64))
    assert abs(np.degrees(np.arctan2(target[2], target[1])) - hue) < 8


def test_wrong_phase_turns_the_foil_blue(lunar_product):
    image = render(lunar_product, overrides={"sensor.cfa": "BGGR"}).image
    foil, _ = _regions()
    r, _, b = np.median(image[foil].reshape(-1, 3), axis=0)
    assert b > r  # as the facts sheet reports for a real frame debayered as BGGR


def test_png_carries_provenance_and_sidecar(lunar_product, tmp_path):
    product = read(lunar_product)
    path, rendered = convert(product, tmp_path)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (W, H)
        prov = json.loads(im.text["farside:provenance"])
        pixels = np.asarray(im)
    assert np.array_equal(pixels, rendered.image)
    assert prov["source_product_id"] == product.name == lunar_product.name[:-1]
    assert prov["software"].startswith("farside ")
    assert prov["settings"]["cfa"] == "RGGB" and prov["settings"]["demosaic"]
    side = json.loads((tmp_path / (path.name + ".json")).read_text())
    assert side["product"]["product_id"] == product.meta.product_id
    assert side["product"]["mast_yaw"] == product.meta.mast_yaw == -12.898743
    assert side["provenance"] == prov


def test_sixteen_bit_png_and_tiff_agree(lunar_product, tmp_path):
    png, rendered = convert(lunar_product, tmp_path / "png", overrides={"output.bits": 16})
    tif, _ = convert(lunar_product, tmp_path / "tif", overrides={"output.format": "tiff", "output.bits": 16})
    import cv2

    png_pixels = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert png_pixels.dtype == np.uint16 and np.array_equal(png_pixels, rendered.image)
    with tifffile.TiffFile(tif) as handle:
        assert np.array_equal(handle.asarray(), rendered.image)
        assert json.loads(handle.pages[0].description)["settings"]["output_bits"] == 16
    eight = render(lunar_product).image.astype(np.int32)
    assert np.abs((rendered.image.astype(np.int64) * 255 + 32767) // 65535 - eight).max() <= 1


def test_jpeg_with_comment(lunar_product, tmp_path):
    path, rendered = convert(lunar_product, tmp_path, overrides={"output.format": "jpeg"})
    with Image.open(path) as im:
        assert im.format == "JPEG"
        assert json.loads(im.info["comment"])["settings"]["output_format"] == "jpeg"
        assert np.abs(np.asarray(im).astype(int) - rendered.image).mean() < 4


def test_tcam_roundtrip_and_edge_repair(tmp_path):
    pixels = scene_pixels(KINDS["ce4-tcam"], kodak(23), (128, 192, 3))
    clean = pixels.copy()
    pixels[-1], pixels[:, -1] = (255, 0, 255), (0, 255, 0)
    label = write_product("ce4-tcam", None, tmp_path, pixels=pixels)
    out = render(label).image
    # Already display-encoded and stretch "none": the interior comes back unchanged...
    assert np.array_equal(out[:-1, :-1], clean[:-1, :-1])
    # ...and the false-colour last row and column are rebuilt from their neighbours.
    assert np.array_equal(out[-1, :-1], clean[-2, :-1]) and np.array_equal(out[:-1, -1], clean[:-1, -2])


def test_grey_products_give_grey_images(tmp_path):
    label = write_product("ce4-pcam-q", kodak(8), tmp_path, shape=(96, 144))
    image = render(label).image
    assert image.shape == (96, 144) and image.dtype == np.uint8
    stored = read(label).image.astype(float)
    # A monotonic tone curve: output ranks follow the stored values.
    assert np.corrcoef(stored.ravel(), image.ravel())[0, 1] > 0.95


def test_bit_depth_checked_against_data(tmp_path):
    raw = simulate_raw(kodak(7), (64, 96), bit_depth=12, exposure=1.0)  # peak above 11 bits after the optics
    label = write_product("ce4-pcam-c", None, tmp_path, pixels=raw)
    rendered = render(label)
    assert rendered.applied["bit_depth"] == 12
    assert any("12-bit" in w for w in rendered.warnings)
    assert render(label, overrides={"sensor.bit_depth": "12"}).warnings == []


def test_user_profile_file_and_flags(lunar_product, tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text(
        '[tone]\nstretch = "none"\n'
        '[colour]\nwhite_balance = "profile"\nwhite_balance_gains = [2.0, 1.0, 2.5]\n'
    )
    rendered = render(lunar_product, profile_file=user)
    assert rendered.settings.stretch == "none" and rendered.applied["white_balance_gains"] == [2.0, 1.0, 2.5]
    assert str(user) in rendered.settings.profile_sources


def test_cli_convert_info_and_profile(lunar_product, tmp_path):
    run = [sys.executable, "-m", "farside"]
    result = subprocess.run(run + ["convert", str(lunar_product), "-o", str(tmp_path), "--format", "tiff",
                                   "--demosaic", "bilinear"], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with tifffile.TiffFile(result.stdout.strip()) as handle:
        assert json.loads(handle.pages[0].description)["settings"]["demosaic"] == "bilinear"
    info = subprocess.run(run + ["info", str(lunar_product), "--json"], capture_output=True, text=True)
    meta = json.loads(info.stdout)["meta"]
    assert (
        meta["instrument"] == "PCAM" and meta["camera"] == "L" and meta["start_time"].startswith("2019-01-04")
    )
    shown = subprocess.run(
        run + ["profile", "show", "tcam", "--set", "tone.low=1"], capture_output=True, text=True
    )
    import tomllib

    values = tomllib.loads(shown.stdout)
    assert values["sensor"]["edge_repair"] == [0, 1, 0, 1] and values["tone"]["low"] == 1
    bad = subprocess.run(run + ["convert", str(lunar_product), "-o", str(tmp_path), "--stretch", "wild"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "'wild' is not one of" in bad.stderr and "Traceback" not in bad.stderr


def test_demo_converts_bundled_samples(tmp_path):
    result = subprocess.run([sys.executable, "-m", "farside", "demo", "-o", str(tmp_path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 6 and str(tmp_path.resolve()) in result.stdout
    assert any(p.name.startswith("CE3_") for p in pngs)


def test_half_size_is_the_full_image_at_half_the_size(lunar_product):
    full = render(lunar_product).image
    half = render(lunar_product, overrides={"process.half_size": "true"})
    assert half.applied["demosaic"] == "half-size"
    assert half.image.shape == (H // 2, W // 2, 3)
    # One pixel a Bayer cell against the demosaiced image averaged over the same cells: the same picture,
    # a little softer (each colour is sampled a quarter pixel from the centre).
    expected = full.reshape(H // 2, 2, W // 2, 2, 3).mean(axis=(1, 3))
    assert np.abs(half.image - expected).mean() < 2.5
    foil, _ = _regions()
    cells = tuple(slice(s.start // 2, s.stop // 2) for s in foil)
    r, g, b = np.median(half.image[cells].reshape(-1, 3), axis=0)
    assert r > g > b  # the foil is still gold


def test_half_size_of_an_rgb_product_averages_blocks(tmp_path):
    pixels = scene_pixels(KINDS["ce4-tcam"], kodak(23), (128, 192, 3))
    label = write_product("ce4-tcam", None, tmp_path, pixels=pixels)
    half = render(label, overrides={"process.half_size": "true", "sensor.edge_repair": "0,0,0,0"}).image
    # The product is display-encoded: the blocks are averaged in linear light, as light adds up.
    linear = colour.eotf(pixels / 255.0, "sRGB").reshape(64, 2, 96, 2, 3).mean(axis=(1, 3))
    blocks = colour.eotf_inverse(linear, "sRGB") * 255
    assert half.shape == (64, 96, 3)
    assert np.abs(half - blocks).max() <= 0.6  # rounding only
