"""The ``farside`` command: thin subcommands over the library.

Only this layer turns :class:`~farside.errors.FarsideError` into one printed line per problem and an exit
code: 0 when everything worked, 1 when any product failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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
    "flat": "sensor.flat",
    "hot_pixel_sigma": "sensor.hot_pixel_sigma",
    "exposure_unit": "sensor.exposure_time_unit",
    "demosaic": "process.demosaic",
    "transfer": "tone.transfer",
    "format": "output.format",
    "bits": "output.bits",
    "quality": "output.quality",
}
# Modes that take arguments on the command line ("manual 1.2,1,1.5") and the key the arguments go to.
MODE_ARGUMENTS = {
    ("white_balance", "manual"): ("colour.white_balance_gains", 3),
    ("white_balance", "profile"): ("colour.white_balance_gains", 3),
    ("white_balance", "grey-patch"): ("colour.grey_patch", 4),
    ("stretch", "gamma"): ("tone.gamma", 1),
    ("stretch", "clahe"): ("tone.clahe_clip", 1),
}
MODE_KEYS = {"white_balance": "colour.white_balance", "stretch": "tone.stretch"}


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
    group.add_argument("--flat", help="flat-field file (TIFF, 16-bit PNG, .npy) to divide out")
    group.add_argument("--no-hot-pixels", action="store_true", help="leave hot and dead pixels alone")
    group.add_argument("--hot-pixel-sigma", help="hot/dead pixel threshold in robust sigmas")
    group.add_argument(
        "--exposure-unit", help="unit of the label's exposure time when it states none (s, ms, us)"
    )
    group.add_argument("--demosaic", help="demosaic method (see `farside demosaic-methods`)")
    group.add_argument(
        "--white-balance",
        metavar="MODE",
        help="none, profile, grey-world, label, 'grey-patch X,Y,W,H' or 'manual R,G,B'",
    )
    group.add_argument(
        "--stretch",
        metavar="MODE",
        help="none, 'percentile LOW,HIGH', 'gamma G', 'clahe CLIP' or decorrelation",
    )
    group.add_argument("--per-channel", action="store_true", help="stretch each channel on its own")
    group.add_argument("--low", help="low percentile of the stretch")
    group.add_argument("--high", help="high percentile of the stretch")
    group.add_argument("--transfer", help="srgb or linear")
    group.add_argument("--format", help="png, tiff or jpeg")
    group.add_argument("--bits", help="8 or 16 bits per channel")
    group.add_argument("--quality", help="JPEG quality")


def _numbers(text: str, count: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        values = []
    if len(values) != count:
        raise FarsideError(f"{what} wants {count} comma-separated numbers, got {text!r}")
    return values


def _mode(flag: str, text: str, overrides: dict[str, Any]) -> None:
    """``MODE`` or ``MODE ARGS`` (also ``MODE:ARGS``, ``MODE=ARGS``) into profile overrides."""
    mode, _, arguments = text.replace(":", " ").replace("=", " ").strip().partition(" ")
    overrides[MODE_KEYS[flag]] = mode
    arguments = arguments.strip()
    if not arguments:
        return
    if flag == "stretch" and mode == "percentile":
        low, high = _numbers(arguments, 2, "--stretch percentile")
        overrides["tone.low"], overrides["tone.high"] = low, high
        return
    if (flag, mode) not in MODE_ARGUMENTS:
        raise FarsideError(f"--{flag.replace('_', '-')} {mode} takes no arguments")
    key, count = MODE_ARGUMENTS[(flag, mode)]
    values = _numbers(arguments, count, f"--{flag.replace('_', '-')} {mode}")
    if key == "colour.grey_patch":
        values = [int(v) for v in values]
    overrides[key] = values if count > 1 else values[0]


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise FarsideError(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    for flag in MODE_KEYS:
        value = getattr(args, flag, None)
        if value is not None:
            _mode(flag, value, overrides)
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    for flag, key in (("low", "tone.low"), ("high", "tone.high")):
        if getattr(args, flag, None) is not None:
            overrides[key] = getattr(args, flag)
    if getattr(args, "no_hot_pixels", False):
        overrides["sensor.hot_pixels"] = False
    if getattr(args, "per_channel", False):
        overrides["tone.linked"] = False
    return overrides


def _report(path: Path, exc: Exception) -> None:
    message = str(exc)
    _error(message if str(path) in message else f"{path}: {message}")


_EXPECTED = (FarsideError, OSError, ValueError)


def convert_products(paths: Sequence[Path], out_dir: Path, args: argparse.Namespace) -> int:
    """Convert each product; one line per output or per failure. Returns the number of failures."""
    from farside import read
    from farside.output import write_radiance, write_rendered
    from farside.pipeline import render, settings_for, shared_look
    from farside.radiometry import radiance

    overrides = overrides_from(args)
    failures = 0
    jobs = []
    for path in paths:
        try:
            product = read(path)
            jobs.append((path, product, settings_for(product, args.profile, args.profile_file, overrides)))
        except _EXPECTED as exc:
            failures += 1
            _report(path, exc)

    look = None
    if getattr(args, "shared_stretch", False) and jobs and not getattr(args, "radiance", False):
        try:
            look = shared_look([p for _, p, _ in jobs], [s for _, _, s in jobs])
        except _EXPECTED as exc:
            _error(f"cannot share one stretch across these products: {exc}")
            return failures + len(jobs)

    for path, product, settings in jobs:
        try:
            if getattr(args, "radiance", False):
                image, description = radiance(product, settings)
                written = write_radiance(product, image, description, settings, out_dir)
                warnings: list[str] = []
            else:
                rendered = render(product, settings, look)
                written = write_rendered(product, rendered, out_dir)
                warnings = rendered.warnings
        except _EXPECTED as exc:
            failures += 1
            _report(path, exc)
            continue
        for warning in warnings:
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
    from farside.profiles import load_profile, profile_names

    names = [args.name] if args.name in (*profile_names(), "default") else None
    if names is None:
        # An instrument (tcam, pcam...) shows every profile for it, one TOML document each.
        names = [n for n in profile_names() if args.name.lower() in n]
    if not names:
        _error(f"no profile matches {args.name!r}; bundled: {', '.join(profile_names())}")
        return 2
    for number, name in enumerate(names):
        profile = load_profile(name, args.profile_file, overrides_from(args))
        if number:
            print("\n# " + "-" * 60)
        print(f"# profile {profile.name}: {' + '.join(profile.sources)}")
        print(_to_toml(profile.values))
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


def _filters(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from farside.catalog import Filters

    def when(text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise FarsideError(
                f"not a date or time: {text!r} (use YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)"
            ) from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    valid = {"valid": True, "invalid": False, "all": None}[args.status]
    return Filters(
        mission=args.mission,
        instrument=args.instrument,
        camera=args.camera,
        mode=args.mode,
        level=args.level,
        sequence_id=args.sequence,
        since=when(args.since),
        until=when(args.until),
        valid=valid,
    )


def add_filter_arguments(parser: argparse.ArgumentParser, status_default: str) -> None:
    group = parser.add_argument_group("catalog filters")
    group.add_argument("--db", type=Path, help=f"catalog database (default {DEFAULT_DB_HELP})")
    group.add_argument("--mission", help="CE3, CE4, CE5-L, HX1-Ro...")
    group.add_argument("--instrument", help="PCAM, TCAM, LCAM, NaTeCam, MSCam...")
    group.add_argument("--camera", help="L, R, A, B")
    group.add_argument("--mode", help="C, Q, I...")
    group.add_argument("--level", help="2A, 2B, 2C...")
    group.add_argument("--sequence", help="sequence id, e.g. 0009")
    group.add_argument("--since", help="start time from (UTC, ISO 8601)")
    group.add_argument("--until", help="start time up to (UTC, ISO 8601)")
    group.add_argument("--status", choices=("valid", "invalid", "all"), default=status_default)


DEFAULT_DB_HELP = "farside.db in the current folder"


def cmd_index(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from farside.catalog import DEFAULT_DB, discover, index

    for folder in args.folders:
        if not folder.exists():
            raise FarsideError(f"{folder}: no such folder")
    db = args.db or (args.folders[0] / DEFAULT_DB if args.folders[0].is_dir() else Path(DEFAULT_DB))
    total = len(discover(args.folders))
    columns = [TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("index", total=total)
        report = index(args.folders, db, progress=lambda: progress.advance(task))
    print(
        f"{db}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed; {report.invalid} invalid; {report.seconds:.1f} s"
    )
    return 0


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from farside.catalog import DEFAULT_DB, query

    return list(query(args.db or Path(DEFAULT_DB), _filters(args)))


LS_COLUMNS = ("start_time", "product_id", "mission", "instrument", "camera", "mode", "level", "sequence_id",
              "valid", "reason")  # fmt: skip


def cmd_ls(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.format == "json":
        for row in rows:
            row["meta"] = json.loads(row["meta"]) if row["meta"] else None
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(
            sys.stdout, fieldnames=[*LS_COLUMNS, "label_path", "data_path"], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*LS_COLUMNS, title=f"{len(rows)} products")
        for column in table.columns[:-1]:
            column.no_wrap = True
        for row in rows:
            table.add_row(*("yes" if c == "valid" and row[c] else "no" if c == "valid" else str(row[c] or "")
                            for c in LS_COLUMNS))  # fmt: skip
        Console(width=None if sys.stdout.isatty() else 250).print(table)
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from farside.batch import Job, process, write_report
    from farside.catalog import discover

    if args.folder is None and args.db is None:
        raise FarsideError("give a folder of products, or --db with a catalog")
    if args.folder is not None:
        paths = [str(c.path) for c in discover([args.folder])]
    else:
        paths = [row["label_path"] or row["data_path"] for row in _rows(args)]
    overrides = tuple(overrides_from(args).items())
    profile_file = str(args.profile_file) if args.profile_file else None
    jobs = [Job(p, str(args.output), args.profile, profile_file, overrides) for p in paths]
    columns = [
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    ]  # fmt: skip
    progress = Progress(*columns, disable=not sys.stderr.isatty(), console=None)
    with progress:
        task = progress.add_task("converting", total=len(jobs), rate="")
        started = time.perf_counter()

        def advance(outcome: Any) -> None:
            if outcome.status == "failed":
                _error(outcome.error)
            done = progress.tasks[0].completed + 1
            elapsed = time.perf_counter() - started
            progress.update(task, advance=1, rate=f"{done / elapsed:.1f}/s" if elapsed > 0 else "")

        summary = process(jobs, args.workers, args.scheduler, advance)
    report = write_report(summary, args.output)
    counts = summary.to_dict()
    state = "interrupted" if summary.interrupted else "done"
    print(
        f"{state}: {counts['converted']} converted, {counts['skipped']} up to date, "
        f"{counts['failed']} failed of {len(jobs)} in {summary.seconds:.1f} s; report: {report}"
    )
    if summary.interrupted:
        return 130
    return 1 if summary.failures else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from farside.fetch import fetch, read_download_list

    urls = read_download_list(args.list)
    result = fetch(urls, args.output, workers=args.workers, retries=args.retries, backoff=args.backoff)
    for failure in result.failures:
        _error(failure)
    print(
        f"{len(result.downloaded)} downloaded, {len(result.skipped)} already complete, "
        f"{len(result.failures)} failed; list of failures: {result.report}"
    )
    return 1 if result.failures else 0


def build_parser() -> argparse.ArgumentParser:
    from farside import __version__

    parser = argparse.ArgumentParser(prog="farside", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"farside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert products to true-colour images")
    convert.add_argument("products", nargs="+", type=Path, metavar="PRODUCT", help="labels or data files")
    convert.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    convert.add_argument(
        "--shared-stretch",
        action="store_true",
        help="one white balance and stretch for all the products given (panorama tiles, movie frames)",
    )
    convert.add_argument(
        "--radiance",
        action="store_true",
        help="write 32-bit float TIFF radiance from the label's absolute calibration instead of a picture",
    )
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

    index_cmd = commands.add_parser("index", help="catalog the products under folders into SQLite")
    index_cmd.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    index_cmd.add_argument(
        "--db", type=Path, help="catalog database (default farside.db in the first folder)"
    )
    index_cmd.set_defaults(func=cmd_index)

    ls = commands.add_parser("ls", help="list catalogued products, sorted by time")
    add_filter_arguments(ls, "all")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.set_defaults(func=cmd_ls)

    process_cmd = commands.add_parser(
        "process", help="convert a whole folder or catalog, in parallel, resumably"
    )
    process_cmd.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="folder of products")
    process_cmd.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    process_cmd.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    process_cmd.add_argument("--scheduler", help="run on a Dask cluster: tcp://HOST:PORT")
    add_filter_arguments(process_cmd, "valid")
    add_settings_arguments(process_cmd)
    process_cmd.set_defaults(func=cmd_process)

    fetch_cmd = commands.add_parser("fetch", help="download the products of a portal download list")
    fetch_cmd.add_argument("list", type=Path, metavar="LIST", help="the portal's downloadResult.txt")
    fetch_cmd.add_argument("-o", "--output", type=Path, required=True, help="download folder")
    fetch_cmd.add_argument("--workers", type=int, default=4, help="concurrent downloads (default 4)")
    fetch_cmd.add_argument(
        "--retries", type=int, default=5, help="attempts per file after the first (default 5)"
    )
    fetch_cmd.add_argument(
        "--backoff", type=float, default=1.0, help="first retry delay in s, doubling (default 1)"
    )
    fetch_cmd.set_defaults(func=cmd_fetch)

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


def run() -> None:  # pragma: no cover - the console script
    """Entry point of the ``farside`` command: ``main()``, then a prompt exit.

    Every file is written and closed before ``main`` returns; what remains at exit is the interpreter
    unloading numba, LLVM and OpenCV, which takes about 0.2 s, longer than some whole conversions. So the
    command flushes its output and leaves without that teardown.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
