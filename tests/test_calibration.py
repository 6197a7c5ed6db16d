"""The calibration chain against ground truth: a simulated sensor (farside.synthetic.SensorModel) records
Kodak scenes, farside recovers them with the right profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import tifffile
from conftest import kodak

from farside import read, render
from farside.pipeline import linearize, settings_for
from farside.synthetic import (
    KINDS,
    SensorModel,
    lunar_scene,
    optics,
    scene_pixels,
    simulate_sensor,
    write_product,
)
from farside.tone import srgb_encode

colour = pytest.importorskip("colour")

MODEL = SensorModel()
SCENES = (1, 5, 19, 23)


def _lab(rgb01: np.ndarray) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb01))


def _camera_profile(folder: Path, model: SensorModel, shape: tuple[int, int]) -> Path:
    """The profile a calibrated user would write for this camera, with its flat field beside it."""
    tifffile.imwrite(folder / "flat.tif", model.flat(shape))
    profile = folder / "camera.toml"
    profile.write_text(
        "[sensor]\n"
        f'cfa = "{model.cfa}"\nbit_depth = {model.bit_depth}\nblack_level = {model.black_level}\n'
        'flat = "flat.tif"\n'
        "[colour]\n"
        f'white_balance = "profile"\nwhite_balance_gains = {list(model.gains())}\n'
        f"matrix = {[list(row) for row in model.matrix]}\n"
        '[tone]\nstretch = "none"\n'
    )
    return profile


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sensor")
    cases = []
    for number in SCENES:
        truth = kodak(number)[:-2]  # the Kodak files' last row is black, not scene
        raw, hot = simulate_sensor(truth, MODEL, seed=number)
        label = write_product("ce4-pcam-c", None, folder / f"k{number}", pixels=raw)
        cases.append((truth, raw, hot, label, _camera_profile(folder / f"k{number}", MODEL, raw.shape)))
    return cases


def test_colour_recovered_within_two_ciede2000(simulated):
    means = []
    for truth, _, _, label, profile in simulated:
        product = read(label)
        image = render(product, settings_for(product, profile_file=profile)).image
        # The reference is the scene as the camera's optics deliver it (no pipeline can undo lens blur).
        reference = np.round(srgb_encode(optics(truth, MODEL)) * 255) / 255
        inner = (slice(10, -10), slice(10, -10))
        delta = colour.delta_E(_lab(image[inner] / 255.0), _lab(reference[inner]), method="CIE 2000")
        means.append(float(delta.mean()))
    # Measured: 1.13, 1.60, 1.15, 0.92 (with demosaicing in the linear domain: 1.53, 2.06, 1.52, 1.05).
    assert max(means) < 2.0, means


def test_colour_recovered_the_same_through_the_release_path(simulated, tmp_path):
    """``farside process``'s path (a pool of workers with their own environment and memory handling,
    each product written as a PNG) gives exactly the images rendered above, so the same colour errors."""
    import cv2

    from farside.batch import Job, process
    from farside.conversion import Request

    # The products share a name (one per scene folder): each has its own output folder.
    jobs = [Job(str(label), str(tmp_path / label.parent.name), Request(profile_file=str(profile)))
            for _, _, _, label, profile in simulated]  # fmt: skip
    summary = process(jobs, workers=2)
    assert [o.status for o in summary.outcomes] == ["converted"] * len(jobs), summary.to_dict()["failures"]
    for truth, _, _, label, profile in simulated:
        png = tmp_path / label.parent.name / (label.name[:-1] + ".png")
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        product = read(label)
        assert np.array_equal(image, render(product, settings_for(product, profile_file=profile)).image)
        reference = np.round(srgb_encode(optics(truth, MODEL)) * 255) / 255
        inner = (slice(10, -10), slice(10, -10))
        delta = colour.delta_E(_lab(image[inner] / 255.0), _lab(reference[inner]), method="CIE 2000")
        assert float(delta.mean()) < 2.0


def test_every_hot_pixel_repaired_and_nothing_else_changed(simulated):
    span = MODEL.white_level - MODEL.black_level
    for number, (_, raw, hot, label, profile) in zip(SCENES, simulated, strict=True):
        product = read(label)
        repaired = linearize(product, settings_for(product, profile_file=profile))
        off = {"sensor.hot_pixels": False}
        untouched = linearize(product, settings_for(product, profile_file=profile, overrides=off))
        changed = {tuple(int(v) for v in p) for p in np.argwhere(repaired.frame != untouched.frame)}
        planted = {tuple(int(v) for v in p) for p in hot}
        assert changed == planted
        assert repaired.applied["hot_pixels"] == len(planted)
        # Each repaired sample is back near what the sensor reads there without the defect (same noise).
        clean, _ = simulate_sensor(kodak(number)[:-2], MODEL, seed=number, plant=False)
        expected = (clean.astype(np.float32) - MODEL.black_level) / span / MODEL.flat(raw.shape)
        rows, cols = hot[:, 0], hot[:, 1]
        error = np.abs(repaired.frame[rows, cols] - expected[rows, cols])
        assert np.median(error) < 0.03 and error.max() < 0.2, (number, np.sort(error)[-3:])


def test_flat_field_removes_vignetting(tmp_path):
    grey = np.full((96, 128, 3), 150, np.uint8)
    model = SensorModel(hot_pixels=0, read_noise=0.0, full_well=1e9, psf_sigma=0.0)
    raw, _ = simulate_sensor(grey, model)
    label = write_product("ce4-pcam-c", None, tmp_path, pixels=raw)
    profile = _camera_profile(tmp_path, model, raw.shape)
    product = read(label)
    with_flat = render(product, settings_for(product, profile_file=profile)).image
    without = render(
        product, settings_for(product, profile_file=profile, overrides={"sensor.flat": ""})
    ).image
    corner, centre = (slice(2, 8), slice(2, 8)), (slice(44, 52), slice(60, 68))
    assert abs(float(with_flat[corner].mean()) - float(with_flat[centre].mean())) < 2.0
    assert float(without[centre].mean()) - float(without[corner].mean()) > 10.0


def test_flat_file_errors_name_the_file(tmp_path):
    label = write_product("ce4-pcam-c", kodak(3), tmp_path, shape=(64, 96))
    product = read(label)
    missing = tmp_path / "no-such-flat.tif"
    from farside.errors import FlatFieldError

    with pytest.raises(FlatFieldError, match=r"no-such-flat\.tif: flat field file not found"):
        render(product, settings_for(product, overrides={"sensor.flat": str(missing)}))
    lossy = tmp_path / "flat.jpg"
    lossy.write_bytes(b"\xff\xd8")
    with pytest.raises(FlatFieldError, match="lossless"):
        render(product, settings_for(product, overrides={"sensor.flat": str(lossy)}))
    wrong = tmp_path / "flat.npy"
    np.save(wrong, np.ones((10, 10), np.float32))
    with pytest.raises(FlatFieldError, match="the frame is"):
        render(product, settings_for(product, overrides={"sensor.flat": str(wrong)}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "farside",
            "convert",
            str(label),
            "-o",
            str(tmp_path / "out"),
            "--flat",
            str(missing),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "no-such-flat.tif" in result.stderr and "Traceback" not in result.stderr


def _neutral_lunar(tmp_path: Path, sensitivity=(0.5, 1.0, 0.4)):
    from farside.synthetic import simulate_raw

    raw = simulate_raw(lunar_scene(240, 360, seed=2), (240, 360), sensitivity=sensitivity)
    return read(write_product("ce4-pcam-c", None, tmp_path, pixels=raw))


def _chroma_of(image: np.ndarray, region) -> float:
    lab = _lab(np.median(image[region].reshape(-1, 3), axis=0) / 255.0)
    return float(np.hypot(lab[1], lab[2]))


REGOLITH = (slice(190, 230), slice(20, 150))


def test_white_balance_modes(tmp_path):
    product = _neutral_lunar(tmp_path)
    grey_world = render(product).image
    patch = render(
        product, overrides={"colour.white_balance": "grey-patch", "colour.grey_patch": [20, 190, 130, 40]}
    )
    none = render(product, overrides={"colour.white_balance": "none"})
    manual = render(
        product, overrides={"colour.white_balance": "manual", "colour.white_balance_gains": [2.0, 1.0, 2.5]}
    )
    assert _chroma_of(grey_world, REGOLITH) < 3.0
    assert _chroma_of(patch.image, REGOLITH) < 1.5  # the patch itself comes out grey
    assert _chroma_of(none.image, REGOLITH) > 15.0  # the sensor's green cast stays
    assert manual.applied["white_balance_gains"] == [2.0, 1.0, 2.5]
    assert _chroma_of(manual.image, REGOLITH) < 3.0  # the exact inverse of the simulated sensitivities


def test_label_white_balance_uses_tcam_acali(tmp_path):
    label = write_product("ce4-tcam", kodak(4), tmp_path, shape=(64, 96, 3))
    rendered = render(label, overrides={"colour.white_balance": "label"})
    expected = np.array([0.101194, 0.144425, 0.311526]) / 0.144425
    assert np.allclose(rendered.applied["white_balance_gains"], expected, atol=1e-6)
    pcam = write_product("ce4-pcam-c", kodak(4), tmp_path / "pcam", shape=(64, 96))
    from farside.errors import SettingsError

    with pytest.raises(SettingsError, match="radiometric coefficients"):
        render(pcam, overrides={"colour.white_balance": "label"})


def test_stretch_modes(tmp_path):
    product = _neutral_lunar(tmp_path)
    percentile = render(product).image
    gamma = render(product, overrides={"tone.stretch": "gamma", "tone.gamma": 0.5}).image
    assert gamma[REGOLITH].mean() > percentile[REGOLITH].mean() + 10  # shadows and mid-tones lifted
    assert np.all(gamma[percentile == 255] == 255)  # the white point stays
    clahe = render(product, overrides={"tone.stretch": "clahe"}).image
    lightness = _lab(clahe[REGOLITH] / 255.0)[..., 0]
    assert lightness.std() > _lab(percentile[REGOLITH] / 255.0)[..., 0].std() * 1.5  # local contrast up
    assert _chroma_of(clahe, REGOLITH) < 4.0  # lightness only: the regolith stays grey
    decorrelated = render(product, overrides={"tone.stretch": "decorrelation"}).image
    spread = lambda im: np.hypot(*_lab(im[::4, ::4] / 255.0)[..., 1:].reshape(-1, 2).T).mean()  # noqa: E731
    assert spread(decorrelated) > 2 * spread(percentile)  # colour differences exaggerated
    per_channel = render(product, overrides={"colour.white_balance": "none", "tone.linked": False}).image
    assert _chroma_of(per_channel, REGOLITH) < _chroma_of(
        render(product, overrides={"colour.white_balance": "none"}).image, REGOLITH
    )


def test_shared_stretch_keeps_exposure_differences(tmp_path):
    from farside.synthetic import simulate_raw

    scene = lunar_scene(120, 180, seed=3)
    labels = [
        write_product("ce4-pcam-c", None, tmp_path, pixels=simulate_raw(scene, (120, 180), exposure=e),
                      start=__import__("farside.synthetic", fromlist=["sequence_start"]).sequence_start(i))
        for i, e in enumerate((0.3, 0.9))
    ]  # fmt: skip
    out_shared, out_own = tmp_path / "shared", tmp_path / "own"
    for flag, out in (("--shared-stretch", out_shared), (None, out_own)):
        command = [sys.executable, "-m", "farside", "convert", *map(str, labels), "-o", str(out)]
        result = subprocess.run(command + ([flag] if flag else []), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    from PIL import Image

    def means(folder):
        return [float(np.asarray(Image.open(p)).mean()) for p in sorted(folder.glob("*.png"))]

    dim, bright = means(out_shared)
    assert bright > dim + 20  # one stretch for both: the darker exposure stays darker
    own_dim, own_bright = means(out_own)
    assert abs(own_bright - own_dim) < 3  # each stretched on its own: they look alike
    provenance = json.loads(Image.open(sorted(out_shared.glob("*.png"))[0]).text["farside:provenance"])
    assert provenance["applied"]["shared_look"] is True


def test_radiance_tiff_in_physical_units(tmp_path):
    pixels = scene_pixels(KINDS["ce4-tcam"], kodak(9), (64, 48, 3))
    label = write_product("ce4-tcam", None, tmp_path, pixels=pixels)
    result = subprocess.run(
        [sys.executable, "-m", "farside", "convert", str(label), "-o", str(tmp_path / "out"), "--radiance"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name.endswith(".radiance.tif")
    with tifffile.TiffFile(path) as handle:
        radiance = handle.asarray()
        description = json.loads(handle.pages[0].description)
    assert radiance.dtype == np.float32 and radiance.shape == (64, 48, 3)
    coefficients = np.array([0.101194, 0.144425, 0.311526], np.float32)
    # Hand computation: coefficient x DN (black level 0); the TCAM's last row and column are rebuilt first.
    assert np.allclose(radiance[:-1, :-1], pixels[:-1, :-1] * coefficients, rtol=1e-6)
    assert description["applied"]["formula"].startswith("coefficient x (DN - black level)")


def test_radiance_refused_without_coefficients(tmp_path):
    label = write_product("ce4-pcam-c", kodak(10), tmp_path, shape=(64, 96))
    result = subprocess.run(
        [sys.executable, "-m", "farside", "convert", str(label), "-o", str(tmp_path / "out"), "--radiance"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        "no absolute radiometric calibration coefficients" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_exposure_normalised_where_the_label_gives_a_unit(tmp_path):
    label = write_product("hx1-mscam-2b", kodak(11), tmp_path, shape=(64, 64))
    linear = linearize(read(label), settings_for(read(label)))
    assert linear.exposure_s == pytest.approx(0.0125)  # 12.5 with unit="ms"
    tcam = write_product("ce4-tcam", kodak(11), tmp_path / "t", shape=(64, 64, 3))
    assert linearize(read(tcam), settings_for(read(tcam))).exposure_s is None  # GRAS gives no unit
    with_unit = settings_for(read(tcam), overrides={"sensor.exposure_time_unit": "ms"})
    assert linearize(read(tcam), with_unit).exposure_s == pytest.approx(0.006)


@pytest.mark.parametrize("kind", ["blank", "saturated", "near-black"])
def test_odd_frames_warn_and_stay_sane(kind, tmp_path):
    value = {"blank": 300, "saturated": 1023, "near-black": 0}[kind]
    pixels = np.full((64, 96), value, np.uint16)
    if kind == "near-black":
        pixels[::7, ::5] = 6
    label = write_product("ce4-pcam-c", None, tmp_path, pixels=pixels)
    rendered = render(label)
    assert rendered.warnings, kind
    assert rendered.image.dtype == np.uint8 and np.all(np.isfinite(rendered.image.astype(float)))
    if kind == "saturated":
        assert np.all(rendered.image == rendered.image[0, 0])  # clipped white stays neutral
        assert len(set(rendered.image[0, 0].tolist())) == 1


def test_profile_show_for_every_instrument():
    import tomllib

    from farside.profiles import profile_names

    for name in profile_names():
        result = subprocess.run(
            [sys.executable, "-m", "farside", "profile", "show", name], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        values = tomllib.loads(result.stdout)
        assert values["name"] == name
        assert {"sensor", "colour", "tone", "process", "output"} <= set(values)


def test_cli_mode_arguments(tmp_path):
    product = _neutral_lunar(tmp_path)
    out = tmp_path / "out"

    def run(*flags):
        result = subprocess.run(
            [sys.executable, "-m", "farside", "convert", str(product.label_path), "-o", str(out), *flags],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        from PIL import Image

        return json.loads(Image.open(result.stdout.strip()).text["farside:provenance"])

    settings = run("--white-balance", "manual 2,1,2.5", "--stretch", "percentile 1,99", "--per-channel")[
        "settings"
    ]
    assert settings["white_balance"] == "manual" and settings["white_balance_gains"] == [2.0, 1.0, 2.5]
    assert (settings["low"], settings["high"], settings["linked"]) == (1.0, 99.0, False)
    settings = run("--white-balance", "grey-patch:20,190,130,40", "--stretch", "gamma 0.7")["settings"]
    assert settings["grey_patch"] == [20, 190, 130, 40] and settings["gamma"] == 0.7
    assert run("--no-hot-pixels")["settings"]["hot_pixels"] is False
    bad = subprocess.run(
        [sys.executable, "-m", "farside", "convert", str(product.label_path), "-o", str(out),
         "--white-balance", "manual 1,2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "3 comma-separated numbers" in bad.stderr and "Traceback" not in bad.stderr


def test_a_shared_stretch_holds_no_product_open_while_it_goes(tmp_path, monkeypatch):
    # A set of thousands (a descent) must not keep every product's file and data mapped until the end.
    import os

    from farside import conversion
    from farside.cli.convert import convert_paths
    from farside.conversion import Request
    from farside.synthetic import sequence_start, simulate_raw

    scene = lunar_scene(48, 64, seed=4)
    labels = [write_product("ce4-pcam-c", None, tmp_path / "in", pixels=simulate_raw(scene, (48, 64)),
                            start=sequence_start(i)) for i in range(40)]  # fmt: skip
    open_files = []
    write = conversion.write_planned

    def counting(planned, look=None, linear=None):
        open_files.append(len(os.listdir("/proc/self/fd")))
        return write(planned, look, linear)

    monkeypatch.setattr(conversion, "write_planned", counting)
    before = len(os.listdir("/proc/self/fd"))
    assert convert_paths(labels, tmp_path / "out", Request(), shared=True) == 0
    assert len(open_files) == 40 and len(list((tmp_path / "out").glob("*.png"))) == 40
    assert max(open_files) <= before + 3  # the product being written, not all forty


def test_a_shared_stretch_linearizes_each_product_once_and_renders_as_from_scratch(tmp_path, monkeypatch):
    from farside import conversion, pipeline
    from farside.cli.convert import convert_paths
    from farside.conversion import Request, plan
    from farside.synthetic import sequence_start, simulate_raw

    scene = lunar_scene(96, 128, seed=5)
    labels = [write_product("ce4-pcam-c", None, tmp_path / "in", start=sequence_start(i),
                            pixels=simulate_raw(scene, (96, 128), seed=i)) for i in range(3)]  # fmt: skip
    planned = [plan(label, tmp_path / "expected", Request()) for label in labels]
    look = conversion.shared_look(planned)[0]
    expected = [pipeline.render(p.product, p.settings, look).image for p in planned]

    calls = []
    linearize = pipeline.linearize
    monkeypatch.setattr(pipeline, "linearize", lambda *a, **k: calls.append(a[0]) or linearize(*a, **k))
    assert convert_paths(labels, tmp_path / "out", Request(), shared=True) == 0
    assert len(calls) == 3  # for the look; rendering reused them
    for label, image in zip(labels, expected, strict=True):
        written = np.asarray(PIL.Image.open(next((tmp_path / "out").glob(f"{Path(label).stem}*.png"))))
        assert np.array_equal(written, image)
