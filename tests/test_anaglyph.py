"""Stereo anaglyphs against a scene of known depth: both eyes of a PCAM pair rendered with a pinhole model
270 mm apart, the right eye tilted and rolled as a camera mounted askew would be, written as products and
made into anaglyphs by the public API and the command; the alignment is checked against the scene's own
geometry, the colour routing against marks each eye alone sees, and the pairing against a mixed folder."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import farside
from farside.conversion import Request
from farside.scenes.anaglyph import DUBOIS_LEFT, DUBOIS_RIGHT, METHODS, anaglyph, compose
from farside.scenes.geometry import Camera
from farside.scenes.stereo import find_pairs
from farside.synthetic import KINDS, scene_points, stereo_scene, write_product, write_stereo_pair
from farside.tone import srgb_decode, srgb_encode

# A PCAM at a quarter of its resolution (the same 19.7 x 14.5 degree field), on a mast 1.5 m up, pitched
# down 20 degrees: the ground it sees lies 2.6 to 6.6 m away.
CAMERA = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)
PIXEL_UM = 7.4 * 4
SHIFT_PX, ROLL_DEG = 5.0, 0.5  # the right eye's mounting error: its image 5 px lower and rolled
SCENE = stereo_scene(seed=3)
FARSIDE = [sys.executable, "-m", "farside"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo")
    truth = write_stereo_pair(SCENE, CAMERA, folder / "in", right_shift_px=SHIFT_PX, right_roll_deg=ROLL_DEG,
                              pixel_size_um=PIXEL_UM, marks=True)  # fmt: skip
    made = farside.anaglyph(folder / "in", folder / "out")
    return truth, made


def _mapped(homography, u, v):
    points = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.asarray(homography).T
    return points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]


def _seen_by_both(truth, step=2):
    """Every ``step``-th pixel of the left frame whose scene point the right eye sees too: its position in
    each frame (continuous coordinates), from the scene's depth."""
    left = scene_points(SCENE, CAMERA, truth.left_rotation, truth.left_position)
    right = scene_points(SCENE, CAMERA, truth.right_rotation, truth.right_position)
    v, u = np.mgrid[0 : CAMERA.height : step, 0 : CAMERA.width : step]
    points = left[v, u]
    seen = np.isfinite(points).all(axis=-1)
    u, v, points = u[seen] + 0.5, v[seen] + 0.5, points[seen]
    local = (points - truth.right_position) @ truth.right_rotation
    cx, cy = CAMERA.centre
    ur, vr = (
        cx + CAMERA.focal_px * local[:, 0] / local[:, 2],
        cy + CAMERA.focal_px * local[:, 1] / local[:, 2],
    )
    col, row = np.floor(ur).astype(int), np.floor(vr).astype(int)
    inside = (col >= 0) & (col < CAMERA.width) & (row >= 0) & (row < CAMERA.height)
    both = np.zeros(len(points), bool)  # not hidden from the right eye by a rock
    both[inside] = np.linalg.norm(right[row[inside], col[inside]] - points[inside], axis=1) < 0.01
    return u[both], v[both], ur[both], vr[both]


def test_aligned_eyes_have_no_vertical_disparity_by_the_scenes_geometry(pair):
    truth, made = pair
    assert not made.failed and not made.unpaired and len(made.outcomes) == 1
    outcome = made.outcomes[0]
    assert outcome.output and not outcome.problems and not outcome.warnings
    side = json.loads(Path(f"{outcome.output}.json").read_text())
    alignment = side["alignment"]
    assert alignment["source"] == "features" and alignment["matched_features"] > 100
    u, v, ur, vr = _seen_by_both(truth)
    assert float(np.median(np.abs(v - vr))) > 4.0  # as recorded, the eyes disagree by several pixels
    xl, yl = _mapped(alignment["left_homography"], u, v)
    xr, yr = _mapped(alignment["right_homography"], ur, vr)
    width, height = alignment["width"], alignment["height"]
    shown = (xl >= 0) & (xl < width) & (yl >= 0) & (yl < height) & (xr >= 0) & (xr < width)
    assert shown.sum() > 20000
    residual = np.abs(yl - yr)[shown]
    # Measured: median 0.004 px, largest 0.013 px over 47,000 points of ground and rocks.
    assert float(residual.max()) <= 0.5 and float(np.median(residual)) < 0.05
    # The right eye's turn found: tilt about x of 5 px at this focal length, and the roll.
    rotation = alignment["right_from_left_rotation_deg"]
    assert rotation[0] == pytest.approx(np.degrees(np.arctan(SHIFT_PX / CAMERA.focal_px)), abs=0.02)
    assert abs(rotation[2]) == pytest.approx(ROLL_DEG, abs=0.02)
    # The near ground is at the screen: the lowest third of the frame has no disparity left there.
    disparity = (xl - xr)[shown]
    low = yl[shown] > height * 2 / 3
    assert abs(float(np.median(disparity[low]))) < 3.0 and float(np.median(disparity[~low])) < -5.0
    assert alignment["screen_distance_m"] == pytest.approx(3.5, abs=0.5) and alignment["baseline_m"] == 0.27


def _vertical_shifts(image, first, second, tile=48, step=24, reach=(90, 30)):
    """Where each tile (every ``step`` pixels) of one channel of ``image`` lies in another, measured
    vertically (pixels): the tile found along its rows (up to ``reach`` pixels left and right, a few rows up
    and down) by normalised cross-correlation, then placed to a fraction of a pixel by phase correlation."""
    a, b = (np.ascontiguousarray(image[:, :, c], np.float32) for c in (first, second))
    window = cv2.createHanningWindow((tile, tile), cv2.CV_32F)
    rows = 6
    shifts = []
    for y in range(rows, image.shape[0] - tile - rows, step):
        for x in range(reach[0], image.shape[1] - tile - reach[1], step):
            cell = a[y : y + tile, x : x + tile]
            if cell.std() < 4:
                continue
            strip = b[y - rows : y + tile + rows, x - reach[0] : x + tile + reach[1]]
            scores = cv2.matchTemplate(strip, cell, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(scores)
            if best < 0.8:  # a tile of one depth, found for sure
                continue
            found = strip[by : by + tile, bx : bx + tile]
            (_, dy), _ = cv2.phaseCorrelate(cell - cell.mean(), found - found.mean(), window)
            shifts.append(by - rows + dy)
    return np.array(shifts)


def test_the_anaglyphs_red_and_cyan_lie_on_the_same_rows(pair):
    """Measured on the image itself by dense matching: the left eye's red against the right eye's green."""
    _, made = pair
    with Image.open(made.outcomes[0].output) as im:
        rgb = np.asarray(im)
    shifts = _vertical_shifts(rgb, 0, 1)
    assert len(shifts) > 100
    # Measured over 135 tiles: median -0.03 px, median size 0.14 px, 90th percentile 0.42 px (tiles that
    # span depths, and noise, spread them: the scene's geometry says 0.013 px at most).
    assert abs(float(np.median(shifts))) < 0.1
    assert float(np.median(np.abs(shifts))) < 0.25 and float(np.percentile(np.abs(shifts), 90)) < 0.6


def _box_in_output(homography, box):
    x0, y0, x1, y1 = box
    x, y = _mapped(homography, np.array([x0 + 1.0, x1 - 1.0]), np.array([y0 + 1.0, y1 - 1.0]))
    return slice(int(np.ceil(y.min())), int(y.max())), slice(int(np.ceil(x.min())), int(x.max()))


def test_red_comes_from_the_left_eye_and_green_and_blue_from_the_right(pair, tmp_path):
    truth, made = pair
    # The same pair without the marks, recorded with the same noise: where the two anaglyphs differ is where
    # a mark only one eye saw went.
    plain = write_stereo_pair(
        SCENE,
        CAMERA,
        tmp_path / "in",
        right_shift_px=SHIFT_PX,
        right_roll_deg=ROLL_DEG,
        pixel_size_um=PIXEL_UM,
    )
    # Both at the parallax measured on the marked pair: the marks add features and so move the median
    # disparity of the near ground, which would shift one eye against the other between the two.
    parallax = made.outcomes[0].alignment["parallax_px"]
    marked = [truth.left_label, truth.right_label]
    outcome = farside.anaglyph(marked, tmp_path / "marked", parallax=parallax).outcomes[0]
    unmarked = farside.anaglyph([plain.left_label, plain.right_label], tmp_path / "out", parallax=parallax)
    unmarked = unmarked.outcomes[0]
    images = []
    for path in (outcome.output, unmarked.output):
        with Image.open(path) as im:
            images.append(np.asarray(im).astype(np.float32))
    # The marks add features, so the two alignments differ by a fraction of a pixel and their crops by up to
    # one: shift the unmarked anaglyph by the whole pixels that put it in the marked one's frame (resampling
    # it would blur the texture everywhere), and compare where both exist.
    onto_marked = np.asarray(outcome.alignment["left_homography"]) @ np.linalg.inv(
        np.asarray(unmarked.alignment["left_homography"])
    )
    height, width = images[0].shape[:2]
    centre = onto_marked @ [width / 2, height / 2, 1.0]
    dx, dy = (round(float(v)) for v in centre[:2] / centre[2] - [width / 2, height / 2])
    shifted = np.full_like(images[0], np.nan)
    source = images[1][max(0, -dy) : height - dy, max(0, -dx) : width - dx]
    shifted[max(0, dy) : max(0, dy) + source.shape[0], max(0, dx) : max(0, dx) + source.shape[1]] = source
    change = images[0] - shifted
    for homography, box, rising, steady in (
        (outcome.alignment["left_homography"], truth.left_mark, [0], [1, 2]),
        (outcome.alignment["right_homography"], truth.right_mark, [1, 2], [0]),
    ):
        rows, cols = _box_in_output(homography, box)
        mark = np.nanmean(change[rows, cols].reshape(-1, 3), axis=0)
        # White in one eye only: that eye's channels brighten, the other eye's stay as they were (Dubois'
        # small negative terms for the other eye's channels are clipped away, as his method says).
        # Measured: red +130 levels at the left eye's mark (green and blue -2), green and blue +84 and +86
        # at the right eye's (red -1).
        assert all(mark[c] > 60 for c in rising) and all(abs(mark[c]) < 4 for c in steady), mark
    elsewhere = np.ones(change.shape[:2], bool)
    for homography, box in ((outcome.alignment["left_homography"], truth.left_mark),
                            (outcome.alignment["right_homography"], truth.right_mark)):  # fmt: skip
        rows, cols = _box_in_output(homography, box)
        elsewhere[rows.start - 4 : rows.stop + 4, cols.start - 4 : cols.stop + 4] = False
    # Elsewhere the two differ only as much as the marks move the shared stretch and the alignment's fit
    # (measured: 2.0 levels on average).
    assert float(np.nanmean(np.abs(change[elsewhere]))) < 3.0


def test_dubois_matrices_are_the_published_ones():
    # E. Dubois, "Conversion of a stereo pair to anaglyph with the least-squares projection method" (2009).
    assert DUBOIS_LEFT == ((0.437, 0.449, 0.164), (-0.062, -0.062, -0.024), (-0.048, -0.050, -0.017))
    assert DUBOIS_RIGHT == ((-0.011, -0.032, -0.007), (0.377, 0.761, 0.009), (-0.026, -0.093, 1.234))
    dubois = METHODS["dubois"]
    assert (dubois.left, dubois.right) == (DUBOIS_LEFT, DUBOIS_RIGHT)
    assert dubois.linear and dubois.clip_terms and "Dubois" in dubois.source
    assert all(method.source for method in METHODS.values())


def test_dubois_works_in_linear_light_and_the_others_as_published():
    rng = np.random.default_rng(0)
    left, right = rng.uniform(0, 1, (8, 8, 3)), rng.uniform(0, 1, (8, 8, 3))
    before = left.copy()
    expected = np.clip(
        np.clip(left @ np.array(DUBOIS_LEFT).T, 0, 1) + np.clip(right @ np.array(DUBOIS_RIGHT).T, 0, 1), 0, 1
    )
    assert anaglyph(left, right) == pytest.approx(expected, abs=1e-5)
    assert np.array_equal(left, before)  # inputs untouched
    # Wimmer's methods work on display-encoded values: colour routes channels, half-colour and grey take
    # BT.601 luma.
    shown_left, shown_right = srgb_encode(left), srgb_encode(right)
    luma = np.array([0.299, 0.587, 0.114])
    colour = srgb_encode(anaglyph(left, right, "colour"))
    assert colour[..., 0] == pytest.approx(shown_left[..., 0], abs=1e-5)
    assert colour[..., 1:] == pytest.approx(shown_right[..., 1:], abs=1e-5)
    half = srgb_encode(anaglyph(left, right, "half-colour"))
    assert half[..., 0] == pytest.approx(shown_left @ luma, abs=1e-5)
    assert half[..., 1:] == pytest.approx(shown_right[..., 1:], abs=1e-5)
    grey = srgb_encode(anaglyph(left, right, "grey"))
    assert grey[..., 0] == pytest.approx(shown_left @ luma, abs=1e-5)
    assert grey[..., 1] == pytest.approx(shown_right @ luma, abs=1e-5)
    assert grey[..., 2] == pytest.approx(shown_right @ luma, abs=1e-5)
    # Grey eyes make RGB anaglyphs; the side-by-side layouts keep each eye whole.
    assert anaglyph(left[..., 0], right[..., 0]).shape == (8, 8, 3)
    sbs, cross = compose(left, right, layout="side-by-side"), compose(left, right, layout="cross-eye")
    assert np.array_equal(sbs[:, :8], left.astype(np.float32))
    assert np.array_equal(cross[:, :8], right.astype(np.float32))
    assert srgb_decode(srgb_encode(0.25)) == pytest.approx(0.25)


def _frame(folder, eye, mode, serial, sequence, when, instrument="PCAM"):
    """A small product named as the release names it: only its name and label matter to pairing."""
    kind = replace(KINDS["ce4-pcam-c" if mode == "C" else "ce4-pcam-q"],
                   instrument_field=f"{instrument}{eye}-{mode}-{serial}", instrument_id=f"{instrument}{eye}",
                   sequence=sequence)  # fmt: skip
    pixels = np.random.default_rng(when.second).integers(0, 1023, (48, 64)).astype(np.uint16)
    return write_product(kind, None, folder, pixels=pixels, start=when).name[:-1]  # the data file's name


def test_pairing_finds_each_frames_partner_in_a_mixed_folder(tmp_path):
    t0 = datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)

    def at(seconds):
        return t0 + timedelta(seconds=seconds)

    folder = tmp_path / "release"
    expected = [
        # Colour pairs 30 s apart, each right frame 15 s before its left: a left frame lies as near the next
        # right frame as its own, which comes first.
        (_frame(folder, "L", "C", "006", "0001", at(15)), _frame(folder, "R", "C", "006", "0001", at(0))),
        (_frame(folder, "L", "C", "006", "0001", at(45)), _frame(folder, "R", "C", "006", "0001", at(30))),
        # Panchromatic pairs in the same sequence at the same time, 5 s apart.
        (_frame(folder, "L", "Q", "013", "0001", at(7)), _frame(folder, "R", "Q", "013", "0001", at(2))),
        (_frame(folder, "L", "Q", "013", "0001", at(37)), _frame(folder, "R", "Q", "013", "0001", at(32))),
        # Another sequence.
        (_frame(folder, "L", "C", "006", "0002", at(116)), _frame(folder, "R", "C", "006", "0002", at(100))),
    ]
    lonely = {
        _frame(folder, "L", "C", "006", "0002", at(400)): "no right-eye partner",  # nothing near in time
        _frame(folder, "R", "C", "007", "0002", at(110)): "no left-eye partner",  # another serial
        _frame(folder, "R", "Q", "013", "0002", at(101)): "no left-eye partner",  # another mode
        _frame(folder, "", "I", "143", "0009", at(50), instrument="TCAM"): "not one eye of a stereo pair",
    }
    labels = sorted(folder.glob("*L"))
    found = find_pairs(labels, tmp_path / "out", Request())
    assert not found.problems
    names = sorted((left.product.data_path.name, right.product.data_path.name) for left, right in found.pairs)
    assert names == sorted(expected)
    assert len(found.unpaired) == len(lonely)
    for name, why in lonely.items():
        assert [line for line in found.unpaired if name in line and why in line], (name, found.unpaired)
    # The command lists the same pairs and names the frames left over, one line each.
    listed = subprocess.run([*FARSIDE, "anaglyph", str(folder), "-o", str(tmp_path / "out"), "--list"],
                            capture_output=True, text=True)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.splitlines()) == sorted(
        f"{left}_anaglyph: {left} + {right}" for left, right in expected
    )
    assert listed.stderr.count("warning:") == len(lonely) and "Traceback" not in listed.stderr


def test_two_products_named_alone_are_one_pair_and_eyes_that_look_apart_are_none(tmp_path):
    from farside.scenes.stereo import StereoFrame, pair_frames

    t0 = datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    left = _frame(tmp_path, "L", "C", "006", "0001", t0)
    right = _frame(tmp_path, "R", "C", "006", "0002", t0 + timedelta(seconds=600))  # another sequence
    other_left = _frame(tmp_path, "L", "C", "006", "0003", t0 + timedelta(seconds=900))
    labels = {name: tmp_path / f"{name}L" for name in (left, right, other_left)}
    found = find_pairs([labels[left], labels[right]], tmp_path / "out", Request(), explicit=True)
    assert [(a.product.data_path.name, b.product.data_path.name) for a, b in found.pairs] == [(left, right)]
    found = find_pairs([labels[left], labels[other_left]], tmp_path / "out", Request(), explicit=True)
    assert not found.pairs and len(found.problems) == 1 and "not a left and a right eye" in found.problems[0]
    # Labels that put the two eyes' mast more than a degree apart: not one pair, however close in time.
    key = ("CE4", "PCAM", "C", "006", "0001", "2B")
    frames = [StereoFrame("r", key, "right", t0, (12.9, -23.9)),
              StereoFrame("l", key, "left", t0 + timedelta(seconds=15), (25.8, -23.9))]  # fmt: skip
    pairs, unpaired = pair_frames(frames)
    assert pairs == [] and sorted(unpaired) == [0, 1]
    frames[1] = replace(frames[1], pointing=(12.95, -23.9))
    assert pair_frames(frames)[0] == [(1, 0)]


def test_a_corrupt_eye_is_one_line_and_the_other_pairs_are_made_colour_or_grey(tmp_path):
    small = Camera(width=294, height=216, focal_px=CAMERA.focal_px / 2)
    folder = tmp_path / "release"
    good = write_stereo_pair(SCENE, small, folder, pixel_size_um=PIXEL_UM * 2, right_shift_px=2.0)
    # A panchromatic pair (grey eyes) beside it.
    grey = write_stereo_pair(SCENE, small, folder, pixel_size_um=PIXEL_UM * 2, mode="Q", serial="013")
    start = datetime(2019, 1, 4, 9, 0, 0, tzinfo=UTC)
    bad = write_stereo_pair(SCENE, small, folder, pixel_size_um=PIXEL_UM * 2, start=start, sequence_id="0002")
    data = bad.right_label.with_name(bad.right_label.name[:-1])
    data.write_bytes(data.read_bytes()[:1000])  # truncated, as the portal leaves interrupted downloads
    out = tmp_path / "out"
    result = subprocess.run(
        [*FARSIDE, "anaglyph", str(folder), "-o", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("farside: error:")]
    assert len(errors) == 1 and (data.name in errors[0] or bad.right_label.name in errors[0])
    assert (
        f"{bad.left_label.name}: its right-eye partner {bad.right_label.name} could not be read"
        in result.stderr
    )
    made = [out / f"{truth.left_label.name[:-1]}_anaglyph.png" for truth in (good, grey)]
    assert sorted(result.stdout.split()) == sorted(str(path) for path in made)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(p.name for p in made), *(f"{p.name}.json" for p in made)]
    )
    with Image.open(made[1]) as im:
        assert im.mode == "RGB"  # grey eyes make a red-cyan anaglyph too


def test_where_features_fail_the_labels_align_and_say_so(tmp_path):
    flat = stereo_scene(seed=1, count=0)
    small = Camera(width=160, height=120, focal_px=CAMERA.focal_px * 160 / 588)
    truth = write_stereo_pair(flat, small, tmp_path / "in", pixel_size_um=PIXEL_UM * 588 / 160,
                              right_shift_px=0.0)  # fmt: skip
    # Blur the regolith away: nothing left for features to hold on to.
    for label in (truth.left_label, truth.right_label):
        data = label.with_name(label.name[:-1])
        raw = np.fromfile(data, "<u2").reshape(120, 160)
        raw[:] = int(raw.mean())
        raw.tofile(data)
    made = farside.anaglyph([truth.left_label, truth.right_label], tmp_path / "out", parallax=0.0)
    outcome = made.outcomes[0]
    assert outcome.output and not outcome.problems
    assert len(outcome.warnings) == 1 and "aligned by the labels' pointing alone" in outcome.warnings[0]
    side = json.loads(Path(f"{outcome.output}.json").read_text())
    assert side["alignment"]["source"] == "labels" and "features matched" in side["alignment"]["note"]
    assert side["alignment"]["parallax_source"] == "given"


def test_the_command_makes_a_named_pair_with_provenance_and_takes_a_catalog(pair, tmp_path):
    truth, _ = pair
    out = tmp_path / "out"
    run = subprocess.run(
        [*FARSIDE, "anaglyph", str(truth.right_label), str(truth.left_label), "-o", str(out),
         "--method", "half-colour", "--layout", "side-by-side", "--format", "tiff", "--bits", "16",
         "--parallax", "100"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    image = out / f"{truth.left_label.name[:-1]}_side-by-side.tif"
    assert run.stdout.strip() == str(image)
    side = json.loads(Path(f"{image}.json").read_text())
    assert side["kind"] == "stereo pair" and side["layout"] == "side-by-side"
    assert side["left"]["label"] == str(truth.left_label.resolve())
    assert side["right"]["label"] == str(truth.right_label.resolve())
    assert side["products"]["left"]["camera"] == "L" and side["products"]["right"]["camera"] == "R"
    assert side["alignment"]["parallax_px"] == 100.0 and side["alignment"]["parallax_source"] == "given"
    import tifffile

    with tifffile.TiffFile(image) as tif:
        pixels = tif.pages[0].asarray()
        assert json.loads(tif.pages[0].description)["alignment"]["source"] == "features"
    height, width = side["alignment"]["height"], side["alignment"]["width"]
    assert pixels.dtype == np.uint16 and pixels.shape == (height, 2 * width, 3)
    # From a catalog's selection, with the method stated in the provenance.
    db = tmp_path / "catalog.db"
    assert subprocess.run([*FARSIDE, "index", str(truth.left_label.parent), "--db", str(db)]).returncode == 0
    run = subprocess.run([*FARSIDE, "anaglyph", "--db", str(db), "--instrument", "PCAM", "-o", str(out),
                          "--method", "grey"], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    with Image.open(run.stdout.strip()) as im:
        assert im.mode == "RGB"
        provenance = json.loads(im.info["farside:provenance"])
    assert provenance["method"]["name"] == "grey" and "Wimmer" in provenance["method"]["source"]
    # The same selection through the Python API.
    made = farside.anaglyph(None, tmp_path / "api", "colour", catalog=db, filters={"instrument": "PCAM"})
    assert not made.failed and len(made.outcomes) == 1
    assert made.outcomes[0].output.endswith(f"{truth.left_label.name[:-1]}_anaglyph.png")
    nothing = subprocess.run([*FARSIDE, "anaglyph", "-o", str(out)], capture_output=True, text=True)
    assert nothing.returncode == 2 and "--db" in nothing.stderr
