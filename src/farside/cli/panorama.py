"""``farside panorama``: one panorama per sweep, placed by the labels' mast pointing."""

from __future__ import annotations

import argparse
from pathlib import Path

from farside.cli.common import (
    SCALE,
    UsageError,
    add_command,
    error,
    existing_inputs,
    warn,
    writable_folder,
)
from farside.cli.options import add_filter_arguments, add_settings_arguments, catalog_rows, request_from
from farside.scenes.geometry import PROJECTIONS


def _paths(args: argparse.Namespace) -> list[Path]:
    """Products from the files and folders given, or from the catalog's selection."""
    from farside.catalog import discover

    if args.inputs:
        return [c.path for c in discover(existing_inputs(args.inputs))]
    if args.db is None:
        raise UsageError("give products or folders, or --db with a catalog")
    return [Path(row["label_path"] or row["data_path"]) for row in catalog_rows(args)]


def cmd_panorama(args: argparse.Namespace) -> int:
    from farside.scenes.panorama import build_set, find_sets, panorama_name

    request = request_from(args)
    out = writable_folder(args.output) if not args.list else args.output
    sets, problems = find_sets(_paths(args), out, request)
    for problem in problems:
        error(problem)
    if args.list:
        for frames in sets:
            print(f"{panorama_name(frames[0].product.data_path)}: {len(frames)} frames")
        return 1 if problems else 0
    failed = bool(problems)
    for frames in sets:
        outcome = build_set(frames, out, args.scale, projection=args.projection)
        for problem in outcome.problems:
            (warn if outcome.output else error)(problem)
        if outcome.output:
            print(outcome.output, flush=True)
        failed = failed or bool(outcome.problems)
    return 1 if failed else 0


def register(commands: argparse._SubParsersAction) -> None:
    panorama = add_command(
        commands,
        "panorama",
        "panoramas of mast sweeps, placed by the labels' pointing",
        "Group frames into panorama sets (mission, instrument, eye, mode, site and sequence, one sweep of "
        "the mast) and make one panorama with an alpha channel per set: each frame placed by its label's "
        "mast pointing, refined from features matched in the overlaps, exposure-compensated and joined by "
        "multi-band blending, written strip by strip (PNG, tiled TIFF or JPEG; 8 or 16 bits) with a sidecar "
        "stating the projection.",
        "farside panorama sequence0067/ -o pano/",
        "farside panorama sequence0067/ -o pano/ --scale 0.25",
        "farside panorama sequence0067/ -o pano/ --format tiff --bits 16 --projection cylindrical",
        "farside panorama release/ -o pano/ --list",
        "farside panorama --db --instrument PCAM --sequence 0067 -o pano/",
    )
    panorama.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="products or folders")
    panorama.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    panorama.add_argument(
        "--scale",
        type=SCALE,
        default=1.0,
        help="output resolution / frames' [default: 1]",
    )
    panorama.add_argument(
        "--projection",
        choices=tuple(PROJECTIONS),
        default="equirectangular",
        help="how directions map to pixels; the sidecar states it exactly [default: equirectangular]",
    )
    panorama.add_argument("--list", action="store_true", help="show the sets found without building them")
    add_filter_arguments(panorama, "valid")
    add_settings_arguments(panorama)
    panorama.set_defaults(func=cmd_panorama)
