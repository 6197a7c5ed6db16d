"""Movies of frame sequences: the landing camera's descent, or any run of frames, as MP4, WebM or GIF.

A movie is made in one pass, frame after frame, in constant memory however long it is:

1. **Order.** Frames are put in time order by the start time their names give, and, since names carry
   whole seconds and the landing camera took about ten frames a second, by their serial within each second
   (``LCAM-1-0000``, ``LCAM-1-0001``...): never by file name or folder alone (:func:`order_frames`).
   ``start`` and ``stop`` keep a part of the sequence, by serial or by time (:func:`parse_bound`).
2. **One look.** White balance and stretch are chosen once, from frames spread evenly over the whole
   sequence (at most :data:`LOOK_FRAMES`, read one at a time), so the picture does not change its
   rendering from frame to frame (:func:`farside.pipeline.shared_look`).
3. **Deflicker.** Each frame's exposure is brought to a temporally smoothed one (:mod:`.deflicker`), so
   that automatic exposure changes and compression noise do not make the picture pulse.
4. **Render and encode, streaming.** Frames are read, measured, rendered (on several threads) and encoded
   as they come; only the smoothing window and the frames in flight are held. MP4 is H.264 in yuv420p with
   its index at the front (``+faststart``), the size rounded down to even numbers, so that every browser
   plays it; WebM is VP9; GIF is FFmpeg's GIF encoder. Encoding goes through PyAV, the Python binding of
   FFmpeg's libraries (https://pyav.basswood-io.com), not an external program.

Frames that cannot be used do not stop a movie. A corrupt or unreadable frame is reported in one line
naming its file; so is a run of serials missing from a numbered sequence (a frame that was never
delivered). With ``missing="hold"`` (the default) the previous frame is shown again for each such frame's
time slot, so the movie keeps real time (a frame missing before any good one is filled by the first good
one); with ``missing="skip"`` the slot is left out.

The movie is written under a temporary name in its folder and renamed when complete; a JSON sidecar
(``NAME.mp4.json``) records the source products in movie order, the settings, the shared look, each
frame's deflicker factor and every frame held or skipped.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import tempfile
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as clock_time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from farside.errors import FarsideError, ProductNameError, SettingsError
from farside.scenes.deflicker import DEFAULT_RADIUS, Smoother, corrected_look, measure

# --------------------------------------------------------------------------------------------------------
# Frames in order
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A product of a movie, known from its name before it is read: its path, product id, start time
    (whole seconds), serial number (None where the serial is not one number) and run (the fields that
    frames numbered together share: mission, instrument, camera, mode, sequence, level)."""

    path: str
    name: str
    start: datetime | None
    serial: int | None
    run: tuple[Any, ...] = ()

    @property
    def order(self) -> tuple[Any, ...]:
        """The sort key: start time, then serial, then name."""
        start = self.start or datetime.min.replace(tzinfo=UTC)
        return (self.start is None, start, -1 if self.serial is None else self.serial, self.name)


def _serial_number(serial: str) -> int | None:
    return int(serial) if serial.isdigit() else None


def frame_of(path: str | os.PathLike[str]) -> Frame:
    """A :class:`Frame` from a product's name; a product whose name is not a GRAS name is read for its
    label's start time and product id. Raises a :class:`~farside.errors.FarsideError` (or ``OSError``)
    for a product that cannot be placed."""
    from farside.products.names import parse_name

    try:
        parsed = parse_name(path)
    except ProductNameError:
        from farside.products.reader import read

        meta = read(path).meta
        try:
            parsed = parse_name(meta.product_id or "")
        except ProductNameError:
            return Frame(os.fspath(path), meta.product_id or Path(path).name, meta.start_time, None)
    run = (parsed.mission, parsed.instrument, parsed.camera, parsed.mode, parsed.sequence_id, parsed.level)
    return Frame(os.fspath(path), parsed.product_id, parsed.start_time, _serial_number(parsed.serial), run)


def order_frames(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Frame], list[str]]:
    """The products in ``paths`` as frames in movie order (:attr:`Frame.order`), each product once, and
    one line for each that could not be placed."""
    from farside.conversion import failure_line

    frames: dict[str, Frame] = {}
    problems = []
    for path in paths:
        try:
            frame = frame_of(path)
        except Exception as exc:  # one unplaceable product never stops a movie
            problems.append(failure_line(os.fspath(path), exc))
            continue
        frames.setdefault(frame.name, frame)  # a label and its data file are one frame
    return sorted(frames.values(), key=lambda f: f.order), problems


@dataclass(frozen=True)
class Bound:
    """Where a movie starts or stops: a serial number, a UTC time, or a time of day (on the date of the
    sequence's first frame). Bounds are inclusive; a time includes its whole second."""

    text: str
    serial: int | None = None
    moment: datetime | None = None
    clock: clock_time | None = None

    def at(self, day: date | None) -> datetime | None:
        """The bound as a UTC time (None for a serial bound)."""
        if self.moment is not None:
            return self.moment
        if self.clock is not None and day is not None:
            return datetime.combine(day, self.clock, tzinfo=UTC)
        return None


_SERIAL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]*-(?:[A-Za-z0-9]+-)*)?(\d+)$")


def parse_bound(text: str) -> Bound:
    """A :class:`Bound` from text: a serial (``1200`` or ``LCAM-1-1200``), a UTC date and time
    (``2019-01-03T02:25:00``, ``2019-01-03 02:25:00Z``) or a time of day (``02:25:00``, ``02:25``).
    Raises ``ValueError`` saying what is accepted.

    >>> parse_bound("LCAM-1-1200").serial, parse_bound("0042").serial
    (1200, 42)
    >>> parse_bound("2019-01-03T02:25:00Z").moment.isoformat()
    '2019-01-03T02:25:00+00:00'
    >>> parse_bound("02:25").clock.isoformat()
    '02:25:00'
    """
    raw = text.strip()
    match = _SERIAL.match(raw)
    if match:
        return Bound(raw, serial=int(match.group(1)))
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", raw):
            return Bound(raw, clock=clock_time.fromisoformat(raw.zfill(len(raw) + (raw.index(":") == 1))))
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a serial (1200, LCAM-1-1200), a UTC time (2019-01-03T02:25:00) or a time of "
            "day (02:25:00)"
        ) from None
    return Bound(raw, moment=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def select(frames: Sequence[Frame], start: Bound | None = None, stop: Bound | None = None) -> list[Frame]:
    """The frames from ``start`` to ``stop`` (both inclusive; either may be None). A serial bound keeps
    frames by their serial (frames without one are left out); a time bound by their start time."""
    day = next((f.start.date() for f in frames if f.start is not None), None)

    def keeps(frame: Frame, bound: Bound, is_start: bool) -> bool:
        if bound.serial is not None:
            if frame.serial is None:
                return False
            return frame.serial >= bound.serial if is_start else frame.serial <= bound.serial
        moment = bound.at(day)
        if moment is None or frame.start is None:
            return False
        # Names give whole seconds: a frame stamped with the second a start time falls in may be after it.
        return frame.start >= moment.replace(microsecond=0) if is_start else frame.start <= moment

    after_start = [f for f in frames if start is None or keeps(f, start, True)]
    return [f for f in after_start if stop is None or keeps(f, stop, False)]


@dataclass(frozen=True)
class Gap:
    """Serials missing from a numbered run between two frames that are there: ``count`` time slots."""

    before: Frame
    count: int

    def line(self, missing: str) -> str:
        first, last = self.before.serial + 1, self.before.serial + self.count  # type: ignore[operator]
        numbers = f"serial {first:04d}" if self.count == 1 else f"serials {first:04d} to {last:04d}"
        what = "no product" if self.count == 1 else f"{self.count} frames, no products"
        fate = "the previous frame is held for " + ("it" if self.count == 1 else "them")
        if missing == "skip":
            fate = "left out"
        return f"{self.before.name}: after it {numbers} missing ({what}); {fate}"


def gaps(frames: Sequence[Frame]) -> Iterator[Frame | Gap]:
    """The frames, with a :class:`Gap` wherever serials are missing between two frames of one run.

    Only runs numbered frame by frame count: where the serials of consecutive frames of a run usually step
    by more than one (every tenth frame chosen, say), steps are not gaps."""
    steps = [
        b.serial - a.serial
        for a, b in itertools.pairwise(frames)
        if a.run and a.run == b.run and a.serial is not None and b.serial is not None
    ]
    numbered = bool(steps) and float(np.median(steps)) == 1.0
    previous: Frame | None = None
    for frame in frames:
        if (
            numbered
            and previous is not None
            and previous.run
            and previous.run == frame.run
            and previous.serial is not None
            and frame.serial is not None
            and frame.serial - previous.serial > 1
        ):
            yield Gap(previous, frame.serial - previous.serial - 1)
        yield frame
        previous = frame


# --------------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """A movie format: FFmpeg's muxer and encoder, the file extension, and the encoder's defaults."""

    muxer: str
    codec: str
    extension: str
    crf: int | None  # the default constant-quality setting (None: the encoder has none)
    crf_range: tuple[int, int] | None
    options: dict[str, str]
    muxer_options: dict[str, str]


_VP9 = {"b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
FORMATS: dict[str, Container] = {
    # H.264 High profile in yuv420p plays in every browser; the index ("moov") goes first so playback starts
    # before the whole file has arrived.
    "mp4": Container("mp4", "libx264", ".mp4", 24, (0, 51), {}, {"movflags": "+faststart"}),
    # VP9 in constant-quality mode (its bit rate set to 0); "good" quality at speed 4, rows encoded in
    # parallel.
    "webm": Container("webm", "libvpx-vp9", ".webm", 32, (0, 63), _VP9, {}),
    "gif": Container("gif", "gif", ".gif", None, None, {}, {}),
}
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
)  # fmt: skip
# x264 "superfast" at CRF 24 matches the PSNR of FFmpeg's default (preset "medium", CRF 23) on descent frames
# (41.7 against 41.5 dB) in under a quarter of the encoding time, for files 1.6 to 1.7 times larger before
# the deflicker (which makes them smaller); "veryfast" at CRF 22 matches it in half the time, 1.4 to 1.6
# times larger (benchmarks/movie.py, "encoder"). --preset medium --crf 23 is there for the smallest file.
DEFAULT_PRESET = "superfast"


def movie_path(output: str | os.PathLike[str], fmt: str | None = None) -> tuple[Path, str]:
    """The movie file and its format: ``fmt``, else the one ``output``'s extension names, else MP4; an
    output without an extension gets its format's. Raises :class:`~farside.errors.SettingsError` for an
    extension that is no movie's or that contradicts ``fmt``.

    >>> movie_path("descent.webm"), movie_path("descent", "gif")
    ((PosixPath('descent.webm'), 'webm'), (PosixPath('descent.gif'), 'gif'))
    """
    path = Path(output)
    by_suffix = {spec.extension: name for name, spec in FORMATS.items()}
    suffix = path.suffix.lower()
    if fmt is not None and fmt not in FORMATS:
        raise SettingsError(f"movie: format {fmt!r} is not one of {', '.join(FORMATS)}")
    if suffix and suffix not in by_suffix:
        raise SettingsError(f"{path}: a movie is named {', '.join(by_suffix)} (or give its format)")
    fmt = fmt or by_suffix.get(suffix, "mp4")
    if not suffix:
        return path.with_name(path.name + FORMATS[fmt].extension), fmt
    if by_suffix[suffix] != fmt:
        raise SettingsError(f"{path}: not a name for a {fmt} movie (use {FORMATS[fmt].extension})")
    return path, fmt


def even_size(width: int, height: int, scale: float = 1.0) -> tuple[int, int]:
    """The movie's size for frames of ``width`` x ``height`` at ``scale``: rounded down to even numbers
    (yuv420p halves the colour planes), at least 2.

    >>> even_size(1024, 1024), even_size(2352, 1728, 0.25), even_size(1023, 1025)
    ((1024, 1024), (588, 432), (1022, 1024))
    """
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` (width, height): area-averaged when shrinking, bilinear when enlarging."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] * size[1] <= image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


# ITU-R BT.709 luma weights; the video range puts luma in 16..235 and colour differences in 16..240.
_KR, _KB = 0.2126, 0.0722
_GREY_TO_LUMA = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)


def to_yuv420(image: np.ndarray) -> np.ndarray:
    """An 8-bit grey or RGB image (even width and height) as planar YUV 4:2:0 (I420: the luma plane, then
    the two colour-difference planes at half size), ITU-R BT.709 in video range, as a (height * 3 / 2,
    width) array.

    >>> yuv = to_yuv420(np.array([[0, 255], [255, 0]], np.uint8))
    >>> yuv[:2].tolist(), yuv[2:].ravel().tolist()
    ([[16, 235], [235, 16]], [128, 128])
    """
    height, width = image.shape[:2]
    out = np.empty((height * 3 // 2, width), np.uint8)
    if image.ndim == 2:
        out[:height] = cv2.LUT(image, _GREY_TO_LUMA)
        out[height:] = 128
        return out
    kg = 1.0 - _KR - _KB
    luma = np.array([_KR, kg, _KB])
    cb = (np.array([0.0, 0.0, 1.0]) - luma) / (2 * (1 - _KB))
    cr = (np.array([1.0, 0.0, 0.0]) - luma) / (2 * (1 - _KR))
    matrix = np.array(
        [[*(luma * 219 / 255), 16.0], [*(cb * 224 / 255), 128.0], [*(cr * 224 / 255), 128.0]], np.float32
    )
    yuv = cv2.transform(image.astype(np.float32), matrix)
    out[:height] = np.clip(np.rint(yuv[:, :, 0]), 0, 255)
    half = cv2.resize(yuv[:, :, 1:], (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    quarter = (height // 2) * (width // 2)
    planes = np.clip(np.rint(half), 0, 255).astype(np.uint8)
    out[height:].reshape(-1)[:quarter] = planes[:, :, 0].reshape(-1)
    out[height:].reshape(-1)[quarter:] = planes[:, :, 1].reshape(-1)
    return out


class VideoWriter:
    """Frames (8-bit grey or RGB, all one size, even width and height) encoded into a movie file through
    PyAV: ``fmt`` is a key of :data:`FORMATS`; ``crf`` the constant-quality setting (lower is better;
    default the format's), ``preset`` x264's speed preset (MP4 only)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fmt: str,
        width: int,
        height: int,
        fps: float,
        crf: int | None = None,
        preset: str | None = None,
    ) -> None:
        import av

        spec = FORMATS[fmt]
        self.format, self.width, self.height = fmt, width, height
        rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(os.fspath(path), "w", format=spec.muxer, options=dict(spec.muxer_options))
        try:
            stream = self._container.add_stream(spec.codec, rate=rate)
            stream.width, stream.height = width, height
            options = dict(spec.options)
            if spec.crf is not None:
                options["crf"] = str(spec.crf if crf is None else crf)
            if spec.codec == "libx264":
                options["preset"] = preset or DEFAULT_PRESET
            stream.options = options
            if fmt == "gif":
                stream.pix_fmt = "pal8"
            else:
                stream.pix_fmt = "yuv420p"
                context = stream.codec_context
                # What to_yuv420 produces; browsers show BT.709-tagged video through their sRGB pipeline.
                context.color_range, context.colorspace = 1, 1  # video ("MPEG") range, BT.709 matrix
                context.color_primaries, context.color_trc = 1, 1  # BT.709 primaries and transfer
            stream.codec_context.time_base = 1 / rate
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self.options = options
        self.frames = 0

    def _frame(self, image: np.ndarray) -> Any:
        from av import VideoFrame

        if self.format != "gif":
            return VideoFrame.from_ndarray(to_yuv420(image), format="yuv420p")
        if image.ndim == 2:
            palette = np.zeros((256, 4), np.uint8)
            palette[:, 0] = 255
            palette[:, 1:] = np.arange(256, dtype=np.uint8)[:, None]
            return VideoFrame.from_ndarray((np.ascontiguousarray(image), palette), format="pal8")
        from PIL import Image

        # A palette of its own for each frame (GIF holds 256 colours a frame), by median cut.
        quantised = Image.fromarray(image).quantize(256, method=Image.Quantize.MEDIANCUT)
        rgb = np.zeros((256, 3), np.uint8)
        colours = np.frombuffer(bytes(quantised.getpalette() or []), np.uint8).reshape(-1, 3)[:256]
        rgb[: len(colours)] = colours
        palette = np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)
        return VideoFrame.from_ndarray((np.asarray(quantised, np.uint8), palette), format="pal8")

    def write(self, image: np.ndarray) -> None:
        """Encode one frame."""
        if image.shape[:2] != (self.height, self.width):
            shape = f"{image.shape[1]} x {image.shape[0]}"
            raise ValueError(f"a frame is {shape}, not {self.width} x {self.height}")
        frame = self._frame(image)
        frame.pts = self.frames
        self.frames += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def abandon(self) -> None:
        """Close without finishing (the file is to be thrown away)."""
        # An encoder that failed may fail again on closing; the file is thrown away all the same.
        with contextlib.suppress(Exception):
            self._container.close()


@contextmanager
def temporary_path(target: Path) -> Iterator[Path]:
    """A temporary name beside ``target`` for a writer that opens files by name; renamed to ``target``
    when the block ends without an error, removed otherwise (as :func:`farside.output.atomic_file`)."""
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------------
# Making a movie
# --------------------------------------------------------------------------------------------------------

LOOK_FRAMES = 64  # frames the shared look is chosen from, spread over the sequence


@dataclass(frozen=True)
class MovieOptions:
    """How to make a movie (see the module's description). Checked when made: a bad value raises
    :class:`~farside.errors.SettingsError` before any frame is read."""

    fps: float = 10.0
    format: str = "mp4"
    scale: float = 1.0
    deflicker: bool = True
    window: int = 2 * DEFAULT_RADIUS + 1  # frames, odd
    missing: str = "hold"  # or "skip"
    crf: int | None = None
    preset: str | None = None
    start: Bound | None = None
    stop: Bound | None = None
    workers: int | None = None  # render threads; default: the cores

    def __post_init__(self) -> None:
        problems = [
            (self.format not in FORMATS, f"format {self.format!r} is not one of {', '.join(FORMATS)}"),
            (not (math.isfinite(self.fps) and 0.1 <= self.fps <= 120), f"fps {self.fps} is not in 0.1..120"),
            (not (math.isfinite(self.scale) and 0 < self.scale <= 4), f"scale {self.scale} is not in (0, 4]"),
            (self.window < 1 or self.window % 2 == 0, f"deflicker window {self.window} is not an odd count"),
            (self.missing not in ("hold", "skip"), f"missing {self.missing!r} is not hold or skip"),
            (self.preset is not None and self.preset not in X264_PRESETS,
             f"preset {self.preset!r} is not one of {', '.join(X264_PRESETS)}"),
            (self.preset is not None and self.format != "mp4", "a preset is for MP4 (x264) only"),
            (self.workers is not None and self.workers < 1, f"workers {self.workers} is not 1 or more"),
        ]  # fmt: skip
        spec = FORMATS.get(self.format)
        if spec is not None and self.crf is not None:
            if spec.crf_range is None:
                problems.append((True, f"{self.format} has no constant-quality setting (crf)"))
            elif not spec.crf_range[0] <= self.crf <= spec.crf_range[1]:
                low, high = spec.crf_range
                problems.append((True, f"crf {self.crf} is not in {low}..{high} for {self.format}"))
        for bad, what in problems:
            if bad:
                raise SettingsError(f"movie: {what}")


@dataclass
class MovieOutcome:
    """What a movie run did: the file written (None if none), its frames (time slots) and how each came
    to be (rendered, held, skipped), its duration, and one line per problem."""

    output: str | None = None
    frames: int = 0
    rendered: int = 0
    held: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = f", {self.frames / self.seconds:.1f} frames/s" if self.seconds > 0 and self.frames else ""
        where = self.output or "no movie written"
        return (
            f"{where}: {self.frames:,} frames ({self.rendered:,} rendered, {self.held:,} held, "
            f"{self.skipped:,} skipped), {self.duration_s:.1f} s of video; made in {self.seconds:.1f} s{rate}"
        )


@dataclass
class _Slot:
    """A time slot on its way through: a frame read and measured (or why not), then its render."""

    frame: Frame | None
    problem: str | None = None
    product: Any = None
    settings: Any = None
    measured: float = float("nan")
    factor: float = 1.0
    render: Future[np.ndarray] | None = None


def _movie_request(request: Any) -> Any:
    """The request with 8-bit output: a movie's frames are 8-bit whatever the settings say."""
    return replace(request, overrides=(*request.overrides, ("output.bits", 8)))


def _look(frames: Sequence[Frame], request: Any, out_dir: Path) -> tuple[Any, Any]:
    """The look shared by the sequence, from up to :data:`LOOK_FRAMES` frames spread evenly over it
    (unreadable ones are passed over: they are reported when their turn comes), and the settings of the
    first frame read, which chose its modes."""
    from farside.conversion import plan, shared_look

    picks = sorted(set(np.linspace(0, len(frames) - 1, min(LOOK_FRAMES, len(frames))).round().astype(int)))
    planned = []
    for index in picks:
        try:
            planned.append(plan(frames[index].path, out_dir, request))
        except Exception:  # reported when the frame's slot comes
            continue
    look = shared_look(planned)[0] if planned else None
    if look is None:
        raise FarsideError(f"none of the {len(picks)} frames read to choose the movie's look could be used")
    return look, planned[0].settings


def make_movie(
    paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    request: Any = None,
    options: MovieOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> MovieOutcome:
    """Make a movie of the products in ``paths`` at ``output`` (see the module's description) with its
    JSON sidecar. ``request`` is a :class:`~farside.conversion.Request` (the settings);
    ``progress(done, total)`` is called after each time slot is encoded (or skipped) and
    ``on_problem(line)`` for each problem as it is found (all are also in the outcome).

    Never raises for a bad frame; raises ``OSError`` where the movie itself cannot be written (a full
    disk), leaving nothing under its name."""
    from farside.conversion import Request

    started = time.perf_counter()
    options = options or MovieOptions()
    request = _movie_request(request or Request())
    target = Path(output)
    outcome = MovieOutcome()

    def problem(line: str) -> None:
        outcome.problems.append(line)
        if on_problem is not None:
            on_problem(line)

    frames, unplaced = order_frames(paths)
    for line in unplaced:
        problem(line)
    frames = select(frames, options.start, options.stop)
    if not frames:
        problem(f"{target.name}: no frames to make a movie of; no movie written")
        outcome.seconds = time.perf_counter() - started
        return outcome
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        look, settings = _look(frames, request, target.parent)
    except FarsideError as exc:
        problem(f"{target.name}: {exc}; no movie written")
        outcome.seconds = time.perf_counter() - started
        return outcome
    sequence = list(gaps(frames))
    total = sum(item.count if isinstance(item, Gap) else 1 for item in sequence)
    record = _Record(frames, options, look, settings)
    try:
        with temporary_path(target) as tmp:
            _stream(sequence, tmp, request, look, options, outcome, record, problem, progress, total)
            if outcome.frames == 0:
                raise _NothingWritten
    except _NothingWritten:
        problem(f"{target.name}: no frame could be rendered; no movie written")
    outcome.output = str(target) if outcome.frames else None
    outcome.duration_s = outcome.frames / options.fps
    outcome.seconds = time.perf_counter() - started
    if outcome.output:
        from farside.output import sidecar_path, write_atomic

        side = record.to_dict(outcome)
        write_atomic(sidecar_path(target), (json.dumps(side, indent=2) + "\n").encode("utf-8"))
    return outcome


class _NothingWritten(Exception):
    """No frame reached the encoder: the temporary file is removed and no movie written."""


def _stream(
    sequence: Sequence[Frame | Gap],
    tmp: Path,
    request: Any,
    look: Any,
    options: MovieOptions,
    outcome: MovieOutcome,
    record: _Record,
    problem: Callable[[str], None],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    """Read, measure, render and encode the sequence's time slots in order (see :func:`make_movie`)."""
    from farside.conversion import failure_line
    from farside.pipeline import render
    from farside.products.reader import read

    # Frames render on threads: the compiled kernels let go of the GIL, and numba's take turns (farside._jit).
    workers = options.workers or os.cpu_count() or 1
    radius = (options.window - 1) // 2 if options.deflicker else 0
    smoother = Smoother(radius)
    waiting: deque[_Slot] = deque()  # read and measured, waiting for the smoothing window to pass them
    rendering: deque[_Slot] = deque()  # rendering, in slot order
    writer: VideoWriter | None = None
    size: tuple[int, int] | None = None
    leading = 0  # slots before the first good frame, filled with it when it comes
    last: np.ndarray | None = None
    done = 0

    def rendered(slot: _Slot) -> np.ndarray:
        settings = slot.settings
        frame_look = corrected_look(look, slot.factor) if options.deflicker else look
        image = render(slot.product, settings, frame_look).image
        return image if size is None else fit(image, size)

    def advance(slots: int) -> None:
        nonlocal done
        done += slots
        if progress is not None:
            progress(done, total)

    def emit(image: np.ndarray | None, slot: _Slot) -> None:
        nonlocal writer, size, leading, last
        if image is None:
            if options.missing == "skip":
                outcome.skipped += 1
                record.skip(slot)
                advance(1)
                return
            if last is None:
                leading += 1
                record.hold(slot, "first good frame")
                return
            image = last
            outcome.held += 1
            record.hold(slot, "previous frame")
        else:
            outcome.rendered += 1
        if writer is None:
            size = even_size(image.shape[1], image.shape[0], options.scale)
            image = fit(image, size)
            writer = VideoWriter(tmp, options.format, *size, options.fps, options.crf, options.preset)
            record.encoder(writer)
            for _ in range(leading):
                writer.write(image)
                outcome.frames += 1
            outcome.held += leading
            advance(leading)
        elif (image.shape[1], image.shape[0]) != size:
            image = fit(image, size)
        writer.write(image)
        last = image
        outcome.frames += 1
        advance(1)

    def finish_oldest() -> None:
        slot = rendering.popleft()
        image = None
        if slot.render is not None:
            try:
                image = slot.render.result()
            except Exception as exc:  # a frame that fails to render is one line, and its slot held
                problem(failure_line(slot.frame.path if slot.frame else "frame", exc))
            slot.render = slot.product = None
        record.factor(slot)
        emit(image, slot)

    def release(ready: list[Any], pool: ThreadPoolExecutor) -> None:
        for smoothed in ready:
            slot = waiting.popleft()
            slot.factor = smoothed.factor
            if slot.product is not None:
                slot.render = pool.submit(rendered, slot)
            rendering.append(slot)
            while len(rendering) > 2 * workers:
                finish_oldest()

    def measured(frame: Frame) -> _Slot:
        slot = _Slot(frame)
        try:
            slot.product = read(frame.path)
            slot.settings = request.settings_for(slot.product)
            if options.deflicker:
                slot.measured = measure(slot.product, slot.settings, look)
        except Exception as exc:  # a corrupt or missing frame is one line; its slot is held or skipped
            slot.product, slot.problem = None, failure_line(frame.path, exc)
            problem(slot.problem)
        return slot

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="farside-movie") as pool:
            for item in sequence:
                if isinstance(item, Gap):
                    problem(item.line(options.missing))
                    if options.missing == "skip":
                        outcome.skipped += item.count
                        record.skip_gap(item)
                        advance(item.count)
                        continue
                    for serial in range(item.before.serial + 1, item.before.serial + item.count + 1):
                        waiting.append(_Slot(None, problem=f"serial {serial:04d}: no product"))
                        release(smoother.push(float("nan")), pool)
                    continue
                slot = measured(item)
                waiting.append(slot)
                release(smoother.push(slot.measured), pool)
            release(smoother.finish(), pool)
            while rendering:
                finish_oldest()
        if writer is not None:
            writer.close()
            writer = None
    finally:
        if writer is not None:
            writer.abandon()


class _Record:
    """What the sidecar says of a movie, gathered as it is made: a few bytes a frame."""

    def __init__(self, frames: Sequence[Frame], options: MovieOptions, look: Any, settings: Any) -> None:
        self.frames, self.options, self.look, self.settings = frames, options, look, settings
        self.factors = array("f")
        self.held: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.codec: dict[str, Any] = {}

    def _entry(self, slot: _Slot, how: str) -> dict[str, Any]:
        return {
            "slot": len(self.factors) - (0 if how == "skipped" else 1),
            "product": slot.frame.name if slot.frame else None,
            "reason": slot.problem or "missing",
        }

    def factor(self, slot: _Slot) -> None:
        self.factors.append(slot.factor)

    def hold(self, slot: _Slot, held_with: str) -> None:
        self.held.append({**self._entry(slot, "held"), "shows": held_with})

    def skip(self, slot: _Slot) -> None:
        self.factors.pop()
        self.skipped.append(self._entry(slot, "skipped"))

    def skip_gap(self, gap: Gap) -> None:
        first = gap.before.serial + 1  # type: ignore[operator]
        for serial in range(first, first + gap.count):
            self.skipped.append({"slot": len(self.factors), "product": None,
                                 "reason": f"serial {serial:04d}: no product"})  # fmt: skip

    def encoder(self, writer: VideoWriter) -> None:
        spec = FORMATS[writer.format]
        self.codec = {
            "format": writer.format,
            "codec": spec.codec,
            "pixel_format": "pal8" if writer.format == "gif" else "yuv420p",
            "options": dict(writer.options),
            "width": writer.width,
            "height": writer.height,
        }

    def to_dict(self, outcome: MovieOutcome) -> dict[str, Any]:
        from farside.output import farside_version

        options = self.options
        return {
            "kind": "movie",
            "software": f"farside {farside_version()}",
            **self.codec,
            "fps": options.fps,
            "frames": outcome.frames,
            "duration_s": round(outcome.duration_s, 3),
            "order": "start time, then serial",
            "start": options.start.text if options.start else None,
            "stop": options.stop.text if options.stop else None,
            "missing": options.missing,
            "rendered": outcome.rendered,
            "held": self.held,
            "skipped": self.skipped,
            "look": {
                "white_balance_gains": np.round(np.asarray(self.look.gains, float), 6).tolist(),
                "low": np.round(np.asarray(self.look.lo, float), 6).tolist(),
                "high": np.round(np.asarray(self.look.hi, float), 6).tolist(),
            },
            "deflicker": {
                "enabled": options.deflicker,
                "window_frames": options.window if options.deflicker else None,
                "method": "robust brightness in linear light, centred geometric mean, applied to the look's "
                "black and white points (farside.scenes.deflicker)",
                "factors": [round(float(f), 4) for f in self.factors] if options.deflicker else None,
            },
            "source_products": [str(Path(f.path).resolve()) for f in self.frames],
            "settings": self.settings.to_dict(),
            "scale": options.scale,
        }


def movie(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    **options: Any,
) -> MovieOutcome:
    """:func:`make_movie` of products or folders of them (searched recursively), with the keyword options
    of :class:`MovieOptions` (``start``/``stop`` may be text, see :func:`parse_bound`; the format is by
    default the one ``output`` is named for, :func:`movie_path`) and those of
    :func:`farside.settings_for` (``profile``, ``profile_file``, ``overrides``)."""
    from farside.catalog import discover
    from farside.conversion import Request

    overrides = tuple((options.pop("overrides", None) or {}).items())
    request = Request(
        options.pop("profile", None), options.pop("profile_file", None), overrides, radiance=False
    )
    request.check()
    for key in ("start", "stop"):
        if isinstance(options.get(key), str):
            try:
                options[key] = parse_bound(options[key])
            except ValueError as exc:
                raise SettingsError(f"movie: {key}: {exc}") from None
    target, options["format"] = movie_path(output, options.get("format"))
    movie_options = MovieOptions(**options)
    roots = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    paths = [c.path for c in discover(roots)]
    return make_movie(paths, target, request, movie_options)


__all__ = [
    "FORMATS",
    "Bound",
    "Frame",
    "Gap",
    "MovieOptions",
    "MovieOutcome",
    "VideoWriter",
    "even_size",
    "fit",
    "frame_of",
    "gaps",
    "make_movie",
    "movie",
    "movie_path",
    "order_frames",
    "parse_bound",
    "select",
    "to_yuv420",
]
