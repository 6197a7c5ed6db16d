"""``farside anaglyph``: red-cyan anaglyphs (or side-by-side pairs) of the panoramic cameras' stereo pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from farside.cli.common import UsageError, add_command, checked, error, existing_inputs, warn, writable_folder
from farside.cli.options import add_filter_arguments, add_settings_arguments, catalog_rows, request_from
from farside.scenes.anaglyph import LAYOUTS, METHODS


def _paths(args: argparse.Namespace) -> tuple[list[Path], bool]:
    """Products from the files and folders given, or from the catalog's selection; and whether they are one
    pair named by hand (two product files)."""
    from farside.catalog import discover

    if args.inputs:
        found = discover(existing_inputs(args.inputs))
        explicit = len(args.inputs) == 2 and all(p.is_file() for p in args.inputs) and len(found) == 2
        return [c.path for c in found], explicit
    if args.db is None:
        raise UsageError("give a left and a right product, or products or folders, or --db with a catalog")
    return [Path(row["label_path"] or row["data_path"]) for row in catalog_rows(args)], False


def cmd_anaglyph(args: argparse.Namespace) -> int:
    from farside.scenes.anaglyph import build_pair, output_name
    from farside.scenes.stereo import find_pairs

    request = request_from(args)
    out = writable_folder(args.output) if not args.list else args.output
    paths, explicit = _paths(args)
    found = find_pairs(paths, out, request, explicit)
    for problem in found.problems:
        error(problem)
    for line in found.unpaired:
        warn(line)
    if args.list:
        for left, right in found.pairs:
            name = output_name(left.product.data_path, args.layout)
            print(f"{name}: {left.product.name} + {right.product.name}")
        return 1 if found.problems else 0
    if not found.pairs:
        error("no stereo pair found among the products given")
        return 1
    failed = bool(found.problems)
    for left, right in found.pairs:
        outcome = build_pair(left, right, out, args.method, args.layout, args.parallax)
        for problem in outcome.problems:
            error(problem)
        for warning in outcome.warnings:
            warn(warning)
        if outcome.output:
            print(outcome.output, flush=True)
        failed = failed or bool(outcome.problems)
    return 1 if failed else 0


PIXELS = checked(float, lambda x: abs(x) < 1e5, "a disparity in pixels")


def register(commands: argparse._SubParsersAction) -> None:
    methods = "; ".join(f"{name}, {method.summary}" for name, method in METHODS.items())
    anaglyph = add_command(
        commands,
        "anaglyph",
        "red-cyan anaglyphs of the panoramic cameras' stereo pairs",
        "Pair the left and right panoramic cameras' frames (same mode, serial and sequence, the right taken "
        "first and the left seconds later; products without a partner are named) and make one red-cyan "
        "anaglyph per pair: both eyes rendered with one shared white balance and stretch, aligned from "
        "their labels' pointing and features matched between them (no vertical disparity, no rotation "
        "between the eyes), the near ground put at the screen and both cropped to the area they share; "
        "written with provenance and a sidecar naming both products, the method and the alignment. "
        "Two products named alone are taken as one pair.",
        "farside anaglyph CE4_GRAS_PCAML-C-006_...0001_B.2BL CE4_GRAS_PCAMR-C-006_...0001_B.2BL -o 3d/",
        "farside anaglyph sequence0067/ -o 3d/ --method half-colour",
        "farside anaglyph sequence0067/ -o 3d/ --layout cross-eye --parallax 300",
        "farside anaglyph release/ -o 3d/ --list",
        "farside anaglyph --db --instrument PCAM --mode C --sequence 0067 -o 3d/",
    )
    anaglyph.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="products or folders")
    anaglyph.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    anaglyph.add_argument("--method", choices=tuple(METHODS), default="dubois", metavar="METHOD",
                          help=f"how the eyes share the colours: {methods} [default: dubois]")  # fmt: skip
    anaglyph.add_argument("--layout", choices=LAYOUTS, default="anaglyph",
                          help="one anaglyph, or both eyes side by side for parallel or crossed viewing "
                          "[default: anaglyph]")  # fmt: skip
    anaglyph.add_argument("--parallax", type=PIXELS, default=None, metavar="PX",
                          help="the disparity (frame pixels) to put at the screen [default: the median "
                          "disparity of the near ground]")  # fmt: skip
    anaglyph.add_argument("--list", action="store_true", help="show the pairs found without making them")
    add_filter_arguments(anaglyph, "valid")
    add_settings_arguments(anaglyph)
    anaglyph.set_defaults(func=cmd_anaglyph)
