"""Landing movies against a known descent: a zoom into a cratered ground, frame after frame recorded through
the landing camera's sensor model with its exposure flickering by up to +-15 % and block-transform
compression noise, each frame carrying its index in a code of bright and dark blocks; the movie must decode
(PyAV) with every time slot in order, lose the flicker, and make it in memory that does not grow with the
number of frames."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from farside.errors import FarsideError
from farside.scenes.deflicker import Smoother, brightness, robust_mean
from farside.scenes.movie import (
    MovieOptions,
    even_size,
    gaps,
    make_movie,
    movie_path,
    order_frames,
    parse_bound,
    select,
    to_yuv420,
)
from farside.synthetic import marker_block, marker_rows, read_marker, write_descent

SIZE = 128
COUNT = 300
CORRUPT = (40, 201)
SRC = Path(__file__).resolve().parents[1] / "src"


def _data(label: Path) -> Path:
    return label.with_name(label.name[:-1])


@pytest.fixture(scope="module")
def descent(tmp_path_factory) -> tuple[Path, list[Path]]:
    """300 frames of 128 x 128 with two truncated data files, the later half in a folder that sorts first,
    so neither folder nor file name order is the movie's."""
    root = tmp_path_factory.mktemp("descent")
    labels = write_descent(root / "all", COUNT, size=SIZE, corrupt=CORRUPT)
    moved = []
    for index, label in enumerate(labels):
        folder = root / ("a_later" if index >= COUNT // 2 else "b_earlier")
        folder.mkdir(exist_ok=True)
        shutil.move(_data(label), folder / _data(label).name)
        moved.append(Path(shutil.move(label, folder / label.name)))
    (root / "all").rmdir()
    return root, moved


def _brightness_below_marker(grey: np.ndarray) -> float:
    """Mean of a frame's rows below the marker (the picture without the code)."""
    return float(grey[marker_rows(grey.shape[1]) :].astype(np.float64).mean())


def flicker(series: list[float | None]) -> float:
    """Frame-to-frame brightness flicker: the standard deviation of log(b[t+1] / b[t]) over consecutive
    frames both present (None marks a frame left out)."""
    steps = [math.log(b / a) for a, b in itertools.pairwise(series) if a and b]
    return float(np.std(steps))


def _decode(path: Path, scale: float = 1.0) -> tuple[list[int], list[float], av.video.stream.VideoStream]:
    """Each decoded frame's marker (as painted on frames of SIZE, then scaled) and brightness, and the
    stream's description."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        markers, levels = [], []
        for frame in container.decode(stream):
            grey = frame.to_ndarray(format="gray")
            markers.append(read_marker(grey, round(marker_block(SIZE) * scale)))
            levels.append(_brightness_below_marker(grey))
        return markers, levels, stream


def _environment() -> dict[str, str]:
    """This process's environment, with the farside under test first on the path."""
    paths = [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "farside", *args], capture_output=True, text=True,
                          env=_environment())  # fmt: skip


@pytest.fixture(scope="module")
def movies(descent, tmp_path_factory):
    """The descent as a movie from the command line, with the deflicker on and off."""
    root, _ = descent
    out = tmp_path_factory.mktemp("movies")
    on = _run("movie", str(root), "-o", str(out / "descent.mp4"))
    off = _run("movie", str(root), "-o", str(out / "flicker.mp4"), "--deflicker", "off")
    return out, on, off


def test_the_movie_decodes_with_every_time_slot_in_order(descent, movies):
    _, labels = descent
    out, result, _ = movies
    # The two corrupt frames are one line each, naming their files; the movie is made all the same.
    assert result.returncode == 1 and "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("farside: error:")]
    assert len(problems) == 2
    for index, line in zip(CORRUPT, problems, strict=True):
        assert _data(labels[index]).name in line and "truncated" in line
    assert result.stdout.strip() == str(out / "descent.mp4")
    assert "300 frames (298 rendered, 2 held, 0 skipped), 30.0 s of video" in result.stderr

    markers, _, stream = _decode(out / "descent.mp4")
    assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    assert (stream.width, stream.height, stream.average_rate) == (SIZE, SIZE, 10)
    # Every slot in serial order; a corrupt frame's slot shows the frame before it.
    expected = [i - 1 if i in CORRUPT else i for i in range(COUNT)]
    assert markers == expected
    data = (out / "descent.mp4").read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # +faststart: the index first

    side = json.loads((out / "descent.mp4.json").read_text())
    assert side["kind"] == "movie" and side["frames"] == COUNT and side["rendered"] == COUNT - 2
    assert [h["slot"] for h in side["held"]] == list(CORRUPT)
    assert [Path(p).name for p in side["source_products"]] == [label.name for label in labels]
    assert len(side["deflicker"]["factors"]) == COUNT
    assert not list(out.glob(".*.part"))


def test_the_deflicker_leaves_a_fifth_of_the_flicker_or_less(descent, movies):
    _, labels = descent
    out, _, off_run = movies
    assert off_run.returncode == 1
    stored = []
    for index, label in enumerate(labels):
        raw = np.fromfile(_data(label), np.uint8)
        stored.append(_brightness_below_marker(raw.reshape(SIZE, SIZE)) if index not in CORRUPT else None)
    before = flicker(stored)
    results = {}
    for name in ("descent.mp4", "flicker.mp4"):
        markers, levels, _ = _decode(out / name)
        # Held slots repeat a frame: only frames shown in their own slot count.
        results[name] = flicker(
            [b if m == i else None for i, (m, b) in enumerate(zip(markers, levels, strict=True))]
        )
    # Measured: 0.125 in the stored frames, 0.068 without the deflicker (the sRGB curve compresses
    # brightness ratios), 0.0035 with it.
    assert before > 0.1
    assert results["flicker.mp4"] > 0.4 * before
    assert results["descent.mp4"] <= before / 5
    assert results["descent.mp4"] <= results["flicker.mp4"] / 5


MEMORY_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from farside.catalog import discover
    from farside.scenes.movie import MovieOptions, make_movie, parse_bound

    def kilobytes(field):
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith(field))

    seen = {}
    def progress(done, total):
        if done == 30:  # the look chosen, the encoder and the render threads running
            seen["warm"] = kilobytes("VmRSS:")
        if done == total:
            seen["end"] = kilobytes("VmRSS:")

    paths = [c.path for c in discover([sys.argv[1]])]
    options = MovieOptions(stop=parse_bound(sys.argv[3]))
    outcome = make_movie(paths, sys.argv[2], options=options, progress=progress)
    print(outcome.frames, kilobytes("VmHWM:") * 1024, (seen["end"] - seen["warm"]) * 1024)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory read from /proc")
def test_peak_memory_does_not_grow_with_the_number_of_frames(tmp_path):
    # 256 x 256 frames, 66 against 198 (both more than the frames the look is chosen from, so that part of
    # the work is the same). A movie that kept its frames (65 kB each as 8-bit, 262 kB as float) would
    # need 8 to 35 MB more for the longer run, and grow by 11 to 44 MB while it streams.
    write_descent(tmp_path / "frames", 198, size=256, zoom=2.0)

    def peaks(frames: int) -> tuple[int, int]:
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "frames"),
                              str(tmp_path / f"m{frames}.mp4"), str(frames - 1)],
                             capture_output=True, text=True, env=_environment())  # fmt: skip
        assert run.returncode == 0, run.stderr
        made, peak, growth = (int(v) for v in run.stdout.split())
        assert made == frames
        return peak, growth

    short_peak, short_growth = peaks(66)
    long_peak, long_growth = peaks(198)
    # Measured: the peaks within 0.6 MB of each other (about 240 MB, most of it libraries), and the
    # resident memory 0.5 to 0.7 MB smaller at the end than 30 frames in, whatever the length.
    assert long_peak - short_peak < 4e6, (short_peak, long_peak)
    assert max(short_growth, long_growth) < 3e6, (short_growth, long_growth)


def test_frames_are_ordered_by_time_then_serial_not_by_name(tmp_path):
    labels = write_descent(tmp_path, 25, size=32, compression=None)
    # A label under a name of its own is placed by what it says (its start time and product id).
    renamed = labels[5].rename(tmp_path / "renamed.xml")
    frames, problems = order_frames([*reversed(labels[6:]), renamed, *reversed(labels[:5])])
    assert not problems
    assert [f.serial for f in frames] == list(range(25))  # ten frames share each second of the names
    assert frames[0].start == frames[9].start and frames[5].path == str(renamed)


def test_start_and_stop_take_serials_and_times(tmp_path):
    labels = write_descent(tmp_path, 40, size=32, compression=None)
    frames, _ = order_frames(labels)
    assert [f.serial for f in select(frames, parse_bound("12"), parse_bound("LCAM-1-0020"))] == list(
        range(12, 21)
    )
    # Frame i starts at 02:20:09 + floor(i / 9.8) s: 02:20:11 is frames 20 to 29, all of them kept.
    kept = select(frames, parse_bound("02:20:11"), parse_bound("2019-01-03T02:20:11Z"))
    assert [f.serial for f in kept] == list(range(20, 30))
    assert select(frames, parse_bound("02:20:12.5"), None)[0].serial == 30  # its whole second counts
    with pytest.raises(ValueError, match="not a serial"):
        parse_bound("half past two")


def test_a_frame_missing_from_the_sequence_is_said_and_held_for_its_slot(tmp_path):
    labels = write_descent(tmp_path / "frames", 30, size=SIZE, compression=None)
    for index in (10, 11):  # two frames never delivered: neither label nor data
        _data(labels[index]).unlink()
        labels[index].unlink()
    frames, _ = order_frames([p for p in labels if p.exists()])
    found = list(gaps(frames))
    assert [getattr(item, "count", None) for item in found].count(2) == 1
    seen = []
    outcome = make_movie([p for p in labels if p.exists()], tmp_path / "m.mp4", on_problem=seen.append)
    assert (outcome.frames, outcome.held, outcome.skipped) == (30, 2, 0)
    assert len(seen) == 1 and "serials 0010 to 0011 missing" in seen[0] and labels[9].name[:-1] in seen[0]
    markers, _, _ = _decode(tmp_path / "m.mp4")
    assert markers == [*range(10), 9, 9, *range(12, 30)]
    skipped = make_movie(labels, tmp_path / "s.mp4", options=MovieOptions(missing="skip"))
    assert (skipped.frames, skipped.skipped) == (28, 2)
    assert _decode(tmp_path / "s.mp4")[0] == [*range(10), *range(12, 30)]


def test_serials_that_step_by_more_than_one_throughout_are_no_gaps(tmp_path):
    labels = write_descent(tmp_path, 30, size=32, compression=None)
    frames, _ = order_frames(labels[::3])
    assert all(not hasattr(item, "count") for item in gaps(frames))


@pytest.mark.parametrize(("fmt", "codec"), [("webm", "vp9"), ("gif", "gif")])
def test_webm_and_gif(descent, tmp_path, fmt, codec):
    root, _ = descent
    outcome = make_movie(sorted(root.rglob("*.2AL")), tmp_path / f"m.{fmt}",
                         options=MovieOptions(format=fmt, start=parse_bound("100"), stop=parse_bound("159"),
                                              scale=0.75))  # fmt: skip
    assert outcome.frames == 60 and not outcome.problems
    markers, _, stream = _decode(tmp_path / f"m.{fmt}", 0.75)
    assert stream.codec_context.name == codec and (stream.width, stream.height) == (96, 96)
    assert markers == list(range(100, 160))


def test_the_movie_command_from_a_catalog(descent, tmp_path):
    root, _ = descent
    db = tmp_path / "catalog.db"
    assert _run("index", str(root), "--db", str(db)).returncode in (0, 1)
    result = _run("movie", "--db", str(db), "--instrument", "LCAM", "--stop", "49", "-o", str(tmp_path / "c"),
                  "--scale", "0.5")  # fmt: skip
    # The catalog holds the corrupt frame 40 as invalid and leaves it out: a serial missing, held.
    assert result.returncode == 1 and "serial 0040 missing" in result.stderr, result.stderr
    markers, _, stream = _decode(tmp_path / "c.mp4", 0.5)
    assert (stream.width, stream.height) == even_size(SIZE, SIZE, 0.5) == (64, 64)
    assert markers == [*range(40), 39, *range(41, 50)]


def test_a_movie_that_fails_leaves_no_file(descent, tmp_path, monkeypatch):
    from farside.scenes import movie

    root, _ = descent
    calls = []

    def failing(self, image):
        calls.append(1)
        if len(calls) > 5:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(movie.VideoWriter, "write", failing)
    with pytest.raises(OSError):
        make_movie(sorted(root.rglob("*.2AL"))[:20], tmp_path / "m.mp4")
    assert list(tmp_path.iterdir()) == []


def test_bad_options_fail_before_any_frame(tmp_path):
    bad_options = [{"format": "avi"}, {"fps": 0}, {"window": 4}, {"crf": 60}, {"missing": "drop"},
                   {"format": "webm", "preset": "slow"}]  # fmt: skip
    for bad in bad_options:
        with pytest.raises(FarsideError):
            MovieOptions(**bad)
    assert movie_path("a/b", "webm")[0].name == "b.webm"
    with pytest.raises(FarsideError, match="not a name for a gif"):
        movie_path("descent.mp4", "gif")
    result = _run("movie", str(tmp_path), "-o", str(tmp_path / "m.mp4"), "--bits", "16")
    assert result.returncode == 2 and "8-bit" in result.stderr


def test_the_smoother_is_a_centred_geometric_mean_of_what_it_has_seen():
    rng = np.random.default_rng(3)
    values = np.exp(rng.normal(0, 0.1, 50))
    values[17] = np.nan  # an unreadable frame: left out of every window
    smoother = Smoother(radius=3)
    out = [s for v in values for s in smoother.push(v)] + smoother.finish()
    assert [s.index for s in out] == list(range(50))
    logs = np.log(values)
    for s in out:
        window = logs[max(0, s.index - 3) : s.index + 4]
        assert s.smoothed == pytest.approx(math.exp(np.nanmean(window)))
    assert out[17].factor == 1.0
    assert len(smoother._logs) == 7  # the window alone is held


def test_brightness_scales_with_the_exposure_and_ignores_clipping():
    from farside.pipeline import Linear, Look

    rng = np.random.default_rng(0)
    frame = rng.uniform(0.1, 0.4, (256, 256)).astype(np.float32)
    look = Look(np.ones(3), None, np.zeros(1), np.ones(1))
    base = brightness(Linear(frame, None, None, 1.0), look)
    assert brightness(Linear(frame * 2, None, None, 1.0), look) == pytest.approx(2 * base, rel=1e-6)
    # An exposure 1.8 times longer saturates the brightest 9 %: the brightness still says 1.8.
    clipped = np.minimum(frame * 1.8, 0.68).astype(np.float32)
    assert 0.05 < (clipped == np.float32(0.68)).mean() < 0.1
    assert brightness(Linear(clipped, None, None, 0.68), look) == pytest.approx(1.8 * base, rel=1e-3)
    assert robust_mean(np.array([np.nan, 1.0, 2.0, 3.0])) == pytest.approx(2.0)


def test_yuv420_is_bt709_video_range():
    grey = np.array([[0, 128], [255, 64]], np.uint8)
    assert to_yuv420(grey)[:2].tolist() == [[16, 126], [235, 71]]
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: BT.709 luma 0.2126, Cr at its top
    yuv = to_yuv420(rgb)
    assert yuv[0, 0] == round(16 + 219 * 0.2126) and yuv[2, 0] == round(128 - 224 * 0.2126 / 1.8556)
    assert yuv[2, 1] == 240
    # PyAV's own conversion of the same frame agrees within a level.
    frame = av.VideoFrame.from_ndarray(to_yuv420(np.full((4, 4), 200, np.uint8)), format="yuv420p")
    assert abs(int(frame.to_ndarray(format="gray")[0, 0]) - 200) <= 1


def test_colour_frames_keep_their_colours(tmp_path, kodak_image):
    from farside.conversion import Request, plan, shared_look
    from farside.pipeline import render
    from farside.synthetic import sequence_start, write_product

    scene = kodak_image(23)  # parrots: saturated reds, greens and yellows
    labels = [write_product("ce4-tcam", scene, tmp_path / "tcam", shape=(96, 128, 3), start=sequence_start(i))
              for i in range(6)]  # fmt: skip
    outcome = make_movie(labels, tmp_path / "c.mp4", options=MovieOptions(deflicker=False, crf=12))
    assert outcome.frames == 6 and not outcome.problems
    planned = [plan(label, tmp_path, Request(overrides=(("output.bits", 8),))) for label in labels]
    expected = render(planned[0].product, planned[0].settings, shared_look(planned)[0]).image.astype(float)
    with av.open(str(tmp_path / "c.mp4")) as container:
        frame = next(container.decode(video=0))
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == (
            1,
            1,
            1,
            1,
        )
        planes = frame.to_ndarray(format="yuv420p").astype(float)
        decoded = frame.to_ndarray(format="rgb24").astype(float)
    # The planes are those of to_yuv420 (BT.709, video range) but for H.264's loss...
    wanted = to_yuv420(expected.astype(np.uint8)).astype(float)
    assert abs(float((planes - wanted).mean())) < 0.5 and float(np.abs(planes - wanted).mean()) < 2.0
    # ... and a player that reads the tags shows the colours (FFmpeg's own conversion rounds down by half
    # a level on the way).
    assert np.abs(decoded.mean(axis=(0, 1)) - expected.mean(axis=(0, 1))).max() < 2.5
    assert float(np.abs(decoded - expected).mean()) < 4.0
