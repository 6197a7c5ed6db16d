"""The ``farside`` command: thin subcommands over the library.

Only this layer turns :class:`~farside.errors.FarsideError` into one printed line per problem and an exit
code: 0 when everything worked, 1 when any product failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from farside.errors import FarsideError

# Single-option flags and the profile keys they override.
FLAG_KEYS = {
    "cfa": "sensor.cfa",
    "bit_depth": "sensor.bit_depth",
    "black_level": "sensor.black_level",
    "saturation": "sensor.saturation",
    "demosaic": "process.demosaic",
    "white_balance": "colour.white_balance",
    "stretch": "tone.stretch",
    "low": "tone.low",
    "high": "tone.high",
    "transfer": "tone.transfer",
    "format": "output.format",
    "bits": "output.bits",
    "quality": "output.quality",
}


def _error(message: str) -> None:
    print(f"farside: error: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"farside: warning: {message}", file=sys.stderr)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Profile selection and the flags that override single profile keys."""
    group = parser.add_argument_group("calibration profile (defaults come from the instrument's profile)")
    group.add_argument("--profile", help="use this bundled profile instead of the instrument's")
    group.add_argument("--profile-file", type=Path, help="TOML file overriding profile keys")
    group.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override any profile key, e.g. --set sensor.black_level=12")  # fmt: skip
    group.add_argument("--cfa", help="Bayer pattern as stored (RGGB, BGGR, GRBG, GBRG) or none")
    group.add_argument("--bit-depth", help="significant bits of the stored values")
    group.add_argument("--black-level", help="DN subtracted first")
    group.add_argument("--saturation", help="DN at which the sensor clips")
    group.add_argument("--demosaic", help="demosaic method (see `farside demosaic-methods`)")
    group.add_argument("--white-balance", help="none, profile or grey-world")
    group.add_argument("--stretch", help="none or percentile")
    group.add_argument("--low", help="low percentile of the stretch")
    group.add_argument("--high", help="high percentile of the stretch")
    group.add_argument("--transfer", help="srgb or linear")
    group.add_argument("--format", help="png, tiff or jpeg")
    group.add_argument("--bits", help="8 or 16 bits per channel")
    group.add_argument("--quality", help="JPEG quality")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise FarsideError(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    return overrides


def convert_products(paths: Sequence[Path], out_dir: Path, args: argparse.Namespace) -> int:
    """Convert each product; one line per output or per failure. Returns the number of failures."""
    from farside import convert, read
    from farside.pipeline import settings_for

    overrides = overrides_from(args)
    failures = 0
    for path in paths:
        try:
            product = read(path)
            settings = settings_for(product, args.profile, args.profile_file, overrides)
            written, rendered = convert(product, out_dir, settings)
        except FarsideError as exc:
            failures += 1
            _error(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
            continue
        except (OSError, ValueError) as exc:
            failures += 1
            _error(f"{path}: {exc}")
            continue
        for warning in rendered.warnings:
            _warn(f"{path}: {warning}")
        print(written)
    return failures


def cmd_convert(args: argparse.Namespace) -> int:
    failures = convert_products(args.products, args.output, args)
    if failures:
        _error(f"{failures} of {len(args.products)} products failed")
    return 1 if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    from farside import read

    failures = 0
    for path in args.products:
        try:
            product = read(path)
        except FarsideError as exc:
            failures += 1
            _error(str(exc))
            continue
        info = {
            "label": str(product.label_path),
            "data": str(product.data_path),
            "format": product.format,
            "array": {
                "data_type": product.array.data_type,
                "dtype": product.array.dtype,
                "shape": list(product.array.shape),
                "axes": list(product.array.axis_names),
                "offset": product.array.offset,
            },
            "meta": product.meta.to_dict(),
        }
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            _print_info(info)
    return 1 if failures else 0


def _print_info(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=info["meta"]["product_id"] or info["label"], show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("label", info["label"])
    table.add_row("data", info["data"])
    array = info["array"]
    table.add_row(
        "array", f"{' x '.join(map(str, array['shape']))} {array['data_type']} ({', '.join(array['axes'])})"
    )
    for key, value in info["meta"].items():
        if value not in (None, {}, []):
            table.add_row(key, json.dumps(value) if isinstance(value, dict | list | tuple) else str(value))
    Console().print(table)


def cmd_demo(args: argparse.Namespace) -> int:
    from farside.samples import sample_products

    products = sample_products()
    print(f"Converting {len(products)} bundled sample products (made from Kodak scenes in GRAS formats)...")
    failures = convert_products(products, args.output, args)
    print(f"\nDone: outputs and JSON sidecars are in {args.output.resolve()}")
    return 1 if failures else 0


def cmd_profile_show(args: argparse.Namespace) -> int:
    import tomllib

    from farside.profiles import load_profile, profile_names

    name = args.name
    if name not in profile_names() and name != "default":
        matches = [n for n in profile_names() if name.lower() in n]
        if len(matches) != 1:
            _error(f"no single profile matches {name!r}; bundled: {', '.join(profile_names())}")
            return 2
        name = matches[0]
    profile = load_profile(name, args.profile_file, overrides_from(args))
    print(f"# profile {profile.name}: {' + '.join(profile.sources)}")
    print(_to_toml(profile.values))
    tomllib.loads(_to_toml(profile.values))  # what we print must read back
    return 0


def _to_toml(values: dict[str, Any]) -> str:
    def scalar(value: Any) -> str:
        return json.dumps(value)

    lines = [f"{k} = {scalar(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for section, table in values.items():
        if isinstance(table, dict):
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {scalar(v)}" for k, v in table.items())
    return "\n".join(lines)


def cmd_profile_list(args: argparse.Namespace) -> int:
    from farside.profiles import load_profile, profile_names

    for name in profile_names():
        print(f"{name:18} {load_profile(name).values.get('description', '')}")
    return 0


def cmd_demosaic_methods(args: argparse.Namespace) -> int:
    from farside.demosaic import DEFAULT_METHOD, demosaic_methods

    for name, summary in demosaic_methods().items():
        marker = " (default)" if name == DEFAULT_METHOD else ""
        print(f"{name:12} {summary}{marker}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from farside import __version__

    parser = argparse.ArgumentParser(prog="farside", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"farside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert products to true-colour images")
    convert.add_argument("products", nargs="+", type=Path, metavar="PRODUCT", help="labels or data files")
    convert.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_settings_arguments(convert)
    convert.set_defaults(func=cmd_convert)

    info = commands.add_parser("info", help="print a product's metadata")
    info.add_argument("products", nargs="+", type=Path, metavar="PRODUCT")
    info.add_argument("--json", action="store_true", help="machine-readable JSON")
    info.set_defaults(func=cmd_info)

    demo = commands.add_parser("demo", help="convert the bundled sample products")
    demo.add_argument("-o", "--output", type=Path, default=Path("farside-demo"), help="output folder")
    add_settings_arguments(demo)
    demo.set_defaults(func=cmd_demo)

    profile = commands.add_parser("profile", help="instrument calibration profiles")
    profile_commands = profile.add_subparsers(dest="profile_command", required=True)
    show = profile_commands.add_parser("show", help="print the effective profile")
    show.add_argument("name", help="profile name or instrument (e.g. ce4-pcam-colour, tcam)")
    add_settings_arguments(show)
    show.set_defaults(func=cmd_profile_show)
    listing = profile_commands.add_parser("list", help="list bundled profiles")
    listing.set_defaults(func=cmd_profile_list)

    methods = commands.add_parser("demosaic-methods", help="list demosaic methods")
    methods.set_defaults(func=cmd_demosaic_methods)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FarsideError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
