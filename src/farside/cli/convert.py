"""``farside convert`` and ``farside demo``: products to pictures, one after another."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from farside.cli.common import add_command, error, existing_inputs, warn, writable_folder
from farside.cli.options import add_settings_arguments, request_from
from farside.conversion import (
    Claims,
    Outcome,
    Request,
    collision_message,
    execute,
    failure_line,
    plan,
    shared_look,
)


def convert_paths(paths: Sequence[Path], out_dir: Path, request: Request, shared: bool = False) -> int:
    """Convert each product as it is read, printing one line per output or per problem; returns the number
    of products that failed. A product given twice (its label and its data file) is converted once; two
    products that would share an output name are both named and the later one is left out."""
    claims = Claims()
    seen: set[tuple[str, str]] = set()
    failures = 0

    def report(outcome: Outcome) -> None:
        nonlocal failures
        if outcome.status == "failed":
            failures += 1
            error(outcome.error)
            return
        for warning in outcome.warnings:
            warn(f"{outcome.path}: {warning}")
        print(outcome.output, flush=True)

    def planned_products():
        for path in paths:
            try:
                planned = plan(path, out_dir, request)
            except Exception as exc:  # one bad product never stops the others
                report(Outcome(str(path), "failed", error=failure_line(str(path), exc)))
                continue
            if planned.identity in seen:
                continue
            seen.add(planned.identity)
            owner = claims.claim(planned.target, planned.path)
            if owner is not None:
                report(
                    Outcome(
                        planned.path, "failed", error=collision_message(planned.path, owner, planned.target)
                    )
                )
                continue
            yield planned

    if shared and not request.radiance:
        every = [planned.released() for planned in planned_products()]
        kept: dict[str, object] = {}
        look, failed = shared_look(every, kept)
        for outcome in failed:
            report(outcome)
        broken = {o.path for o in failed}
        for planned in every:
            if planned.path not in broken:
                report(execute(planned, look, kept.pop(planned.path, None)))
    else:
        for planned in planned_products():
            report(execute(planned))
    return failures


def cmd_convert(args: argparse.Namespace) -> int:
    paths = existing_inputs(args.products)
    request = request_from(args, radiance=args.radiance)
    failures = convert_paths(paths, writable_folder(args.output), request, args.shared_stretch)
    if failures:
        error(f"{failures} of {len(paths)} products failed")
    return 1 if failures else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from farside.samples import sample_products

    request = request_from(args)
    products = sample_products()
    print(f"Converting {len(products)} bundled sample products (made from Kodak scenes in GRAS formats)...")
    failures = convert_paths(products, writable_folder(args.output), request)
    print(f"\nDone: outputs and JSON sidecars are in {args.output.resolve()}")
    return 1 if failures else 0


def register(commands: argparse._SubParsersAction) -> None:
    convert = add_command(
        commands,
        "convert",
        "convert products to true-colour images",
        "Convert products to true-colour images: one image and JSON sidecar per product, named "
        "after its data file.",
        "farside convert CE4_GRAS_PCAML-C-*.2BL -o out/",
        "farside convert FRAME.2BL -o out/ --format tiff --bits 16",
        "farside convert TILES*.2BL -o pano/ --shared-stretch",
        'farside convert FRAME.2BL -o out/ --white-balance "grey-patch 100,900,200,120"',
        "farside convert TCAM.2CL -o out/ --radiance",
    )
    convert.add_argument("products", nargs="+", type=Path, metavar="PRODUCT", help="labels or data files")
    convert.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    convert.add_argument("--shared-stretch", action="store_true",
                         help="one white balance and stretch for all the products given (panorama tiles, "
                         "movie frames)")  # fmt: skip
    convert.add_argument("--radiance", action="store_true",
                         help="write 32-bit float TIFF radiance from the label's absolute calibration",
                         )  # fmt: skip
    add_settings_arguments(convert)
    convert.set_defaults(func=cmd_convert)

    demo = add_command(
        commands,
        "demo",
        "convert the bundled sample products",
        "Convert the sample products bundled with farside and say where the outputs are.",
        "farside demo -o demo-output",
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("farside-demo"),
                      help="output folder [default: farside-demo]")  # fmt: skip
    add_settings_arguments(demo)
    demo.set_defaults(func=cmd_demo)
