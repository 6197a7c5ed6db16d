"""``farside movie``: a movie of a frame sequence (the landing camera's descent), deflickered, streamed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from farside.cli.common import (
    SCALE,
    WORKERS,
    UsageError,
    add_command,
    checked,
    error,
    existing_inputs,
    progress_bar,
    writable_folder,
)
from farside.cli.options import add_filter_arguments, add_settings_arguments, catalog_rows, request_from


def _matches(path: Path, args: argparse.Namespace) -> bool:
    """Whether a product's name passes the catalog filters given (the ones a name can answer)."""
    from farside.errors import ProductNameError
    from farside.products.names import parse_name

    try:
        name = parse_name(path)
    except ProductNameError:
        return True  # placed by its label later; the name says nothing to filter on
    wanted = {
        "mission": args.mission, "instrument": args.instrument, "camera": args.camera, "mode": args.mode,
        "level": args.level, "sequence_id": args.sequence,
    }  # fmt: skip
    if any(value is not None and getattr(name, key) != value for key, value in wanted.items()):
        return False
    if args.since is not None and name.start_time < args.since:
        return False
    return args.until is None or name.start_time <= args.until


def _paths(args: argparse.Namespace) -> list[Path]:
    """Products from the files and folders given (with the name filters), or from the catalog's
    selection."""
    from farside.catalog import discover

    if args.inputs:
        return [c.path for c in discover(existing_inputs(args.inputs)) if _matches(c.path, args)]
    if args.db is None:
        raise UsageError("give products or folders, or --db with a catalog")
    return [Path(row["label_path"] or row["data_path"]) for row in catalog_rows(args)]


def _options(args: argparse.Namespace, fmt: str) -> Any:
    from farside.scenes.movie import MovieOptions

    return MovieOptions(
        fps=args.fps, format=fmt, scale=args.scale, deflicker=args.deflicker == "on",
        window=args.deflicker_window, missing=args.missing, crf=args.crf, preset=args.preset,
        start=args.start, stop=args.stop, workers=args.workers,
    )  # fmt: skip


def cmd_movie(args: argparse.Namespace) -> int:
    from farside.scenes.movie import make_movie, movie_path

    # A movie's frames are 8-bit and its quality is --crf: the still-image output flags do not apply.
    if getattr(args, "output.bits", None) == 16:
        raise UsageError("a movie is 8-bit: --bits 16 does not apply")
    if getattr(args, "output.quality", None) is not None:
        raise UsageError("--quality is JPEG's: a movie's quality is --crf")
    output, fmt = movie_path(args.output, args.format)
    options = _options(args, fmt)  # checked before any frame is read
    request = request_from(args)
    writable_folder(output.parent)
    paths = _paths(args)
    if not paths:
        error("no products found to make a movie of")
        return 1
    outcome = _make_with_progress(make_movie, paths, output, request, options)
    if outcome.output:
        print(outcome.output, flush=True)
    print(outcome.summary(), file=sys.stderr, flush=True)
    return 1 if outcome.problems or not outcome.output else 0


def _make_with_progress(make_movie, paths, output, request, options):
    with progress_bar("encoding", unit=" frames/s") as update:
        return make_movie(paths, output, request, options, progress=update, on_problem=error)


def _bound(text: str) -> Any:
    from farside.scenes.movie import parse_bound

    try:
        return parse_bound(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_bound.__name__ = "serial or time"
FPS = checked(float, lambda x: 0.1 <= x <= 120, "a frame rate in 0.1..120")
WINDOW = checked(int, lambda n: n >= 1 and n % 2 == 1, "an odd number of frames")
CRF = checked(int, lambda n: 0 <= n <= 63, "a quality in 0..51 (mp4) or 0..63 (webm)")


def register(commands: argparse._SubParsersAction) -> None:
    from farside.scenes.movie import FORMATS, X264_PRESETS

    movie = add_command(
        commands,
        "movie",
        "a movie of a frame sequence, such as the landing camera's descent",
        "Make one movie of the frames given, in time order (the serial orders the frames of each second: "
        "names carry whole seconds), with one white balance and stretch for the whole sequence and each "
        "frame's exposure brought to a smoothed one (deflicker), read, rendered and encoded one after "
        "another in constant memory. MP4 is H.264 yuv420p with +faststart, sized to even dimensions, so "
        "every browser plays it; WebM is VP9; GIF as FFmpeg encodes it. A corrupt or missing frame is one "
        "line, and the previous frame is held for its time slot so the movie keeps real time (--missing "
        "skip leaves the slot out). A JSON sidecar beside the movie lists the frames, the look and each "
        "frame's deflicker factor.",
        "farside movie descent/ -o descent.mp4",
        "farside movie descent/ -o descent.mp4 --scale 0.5 --start 1200 --stop LCAM-1-2400",
        "farside movie descent/ -o descent.mp4 --start 02:25:00 --stop 2019-01-03T02:26:30",
        "farside movie descent/ -o descent.webm",
        "farside movie descent/ -o preview.gif --scale 0.25 --fps 20",
        "farside movie descent/ -o flicker.mp4 --deflicker off",
        "farside movie --db --mission CE4 --instrument LCAM -o descent.mp4",
    )
    # The settings' --format (png, tiff, jpeg) means nothing to a movie: this command's --format, added
    # after the settings' flags, takes its place (argparse's "resolve" drops the earlier one).
    movie.conflict_handler = "resolve"
    movie.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="products or folders")
    movie.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                       help="the movie file: .mp4, .webm or .gif")  # fmt: skip
    group = movie.add_argument_group("movie")
    group.add_argument("--fps", type=FPS, default=10.0,
                       help="frames a second; the descent was taken at about 9.8 [default: 10]")  # fmt: skip
    group.add_argument("--scale", type=SCALE, default=1.0, help="movie size / frames' [default: 1]")
    group.add_argument("--start", type=_bound, metavar="WHEN",
                       help="first frame: a serial (1200, LCAM-1-1200), a UTC time (2019-01-03T02:25:00) or "
                       "a time of day (02:25:00)")  # fmt: skip
    group.add_argument("--stop", type=_bound, metavar="WHEN", help="last frame, as --start (inclusive)")
    group.add_argument("--deflicker", choices=("on", "off"), default="on",
                       help="bring each frame's exposure to a smoothed one [default: on]")  # fmt: skip
    group.add_argument("--deflicker-window", type=WINDOW, default=15, metavar="FRAMES",
                       help="frames the exposure is smoothed over, centred [default: 15]")  # fmt: skip
    group.add_argument("--missing", choices=("hold", "skip"), default="hold",
                       help="a corrupt or missing frame's time slot: hold the previous frame, or leave the "
                       "slot out [default: hold]")  # fmt: skip
    group.add_argument("--crf", type=CRF,
                       help="constant quality, lower is better [default: 24 mp4, 32 webm]")  # fmt: skip
    group.add_argument("--preset", choices=X264_PRESETS, metavar="PRESET",
                       help="x264 speed preset, mp4 only: ultrafast ... veryslow "
                       "[default: superfast]")  # fmt: skip
    group.add_argument("--workers", type=WORKERS, help="threads rendering frames [default: all cores]")
    add_filter_arguments(movie, "valid")
    add_settings_arguments(movie)
    group.add_argument("--format", choices=tuple(FORMATS),
                       help="movie format [default: by OUT's extension, else mp4]")  # fmt: skip
    movie.set_defaults(func=cmd_movie)
