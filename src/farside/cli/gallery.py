"""``farside gallery``: a static web site of a processed release, and a local server for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from farside.cli.common import (
    WORKERS,
    UsageError,
    add_command,
    checked,
    error,
    existing_inputs,
    progress_bar,
    writable_folder,
)
from farside.cli.options import default_db


def cmd_gallery(args: argparse.Namespace) -> int:
    from farside.gallery import build
    from farside.gallery.serve import server

    if not args.sources and not args.serve:
        raise UsageError("give folders of farside outputs, or --serve to serve a gallery already built")
    db = None
    if args.db is not None:
        db = args.db if args.db != Path("") else default_db()
        if not db.is_file():
            raise UsageError(f"no catalog at {db}: run `farside index DIR` first, or name one with --db")
    failed = False
    if args.sources:
        sources = existing_inputs(args.sources)
        site = writable_folder(args.output)
        report = _build_with_progress(build, sources, site, args, db)
        for problem in report.problems:
            error(problem)
        print(
            f"gallery: {report.items} items ({report.made} made, {report.kept} unchanged, {report.removed} "
            f"removed, {len(report.problems)} left out) in {report.seconds:.1f} s: {report.index}",
            flush=True,
        )
        failed = bool(report.problems)
    if args.serve:
        if not (args.output / "index.html").is_file():
            raise UsageError(
                f"{args.output}: no gallery here (no index.html); give the folders to build it from"
            )
        try:
            httpd = server(args.output, args.port)
        except OSError as exc:
            raise UsageError(f"cannot serve on 127.0.0.1:{args.port} ({exc.strerror or exc})") from None
        with httpd:
            print(
                f"serving {args.output} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)",
                flush=True,
            )
            try:
                httpd.serve_forever()
            except KeyboardInterrupt:
                print("stopped", file=sys.stderr)
                return 1 if failed else 0
    return 1 if failed else 0


def _build_with_progress(build, sources, site, args, db):
    """The build, with a progress bar on a terminal (none when the output goes to a file or a pipe)."""
    with progress_bar("thumbnails", transient=True) as update:
        return build(sources, site, title=args.title, db=db, workers=args.workers,
                     tile_above=args.tile_above, progress=update)  # fmt: skip


PORT = checked(int, lambda n: 0 <= n <= 65535, "a port number (0: any free port)")
PIXELS = checked(int, lambda n: n >= 256, "a size in pixels (256 or more)")


def register(commands: argparse._SubParsersAction) -> None:
    gallery = add_command(
        commands,
        "gallery",
        "a static web site to browse processed outputs",
        "Make a static site of farside outputs (images, panoramas, anaglyphs, movies, each with its JSON "
        "sidecar): thumbnails grouped by mission, instrument and sequence, filters and search, each item "
        "large with zoom and its metadata. Open SITE/index.html in a browser, or serve it with --serve. "
        "Building again makes only what is new.",
        "farside gallery converted/ pano/ -o site/",
        'farside gallery converted/ -o site/ --title "Chang\'e-4, first year" --db farside.db',
        "farside gallery converted/ -o site/ --serve          # build, then serve on 127.0.0.1:8000",
        "farside gallery --serve -o site/ --port 8080         # serve a site already built",
    )
    gallery.add_argument("sources", nargs="*", type=Path, metavar="SOURCE", help="folders of farside outputs")
    gallery.add_argument("-o", "--output", type=Path, required=True, metavar="SITE", help="the site's folder")
    gallery.add_argument("--title", help="the site's title [default: farside gallery]")
    gallery.add_argument("--db", type=Path, nargs="?", const=Path(""), metavar="CATALOG",
                         help="catalog (farside index) to find original products in")  # fmt: skip
    gallery.add_argument("--workers", type=WORKERS, help="thumbnails made at once [default: all cores]")
    gallery.add_argument(
        "--tile-above",
        type=PIXELS,
        default=4096,
        metavar="PIXELS",
        help="cut images larger than this (longer side) into zoom tiles [default: 4096]",
    )
    gallery.add_argument(
        "--serve", action="store_true", help="serve the site on 127.0.0.1 (after building it)"
    )
    gallery.add_argument("--port", type=PORT, default=8000, help="port for --serve [default: 8000]")
    gallery.set_defaults(func=cmd_gallery)
