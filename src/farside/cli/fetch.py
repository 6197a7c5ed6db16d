"""``farside fetch``: download what a portal download list names."""

from __future__ import annotations

import argparse
from pathlib import Path

from farside.cli.common import add_command, error, existing_inputs, warn, writable_folder

SHOWN_SKIPPED = 20


def cmd_fetch(args: argparse.Namespace) -> int:
    from farside.fetch import fetch, read_download_list

    listing = existing_inputs([args.list])[0]
    urls = read_download_list(listing)
    result = fetch(urls, writable_folder(args.output), workers=args.workers, retries=args.retries,
                   backoff=args.backoff)  # fmt: skip
    skipped = result.skipped_lines
    for line in skipped[:SHOWN_SKIPPED]:
        warn(str(line))
    if len(skipped) > SHOWN_SKIPPED:
        warn(f"... and {len(skipped) - SHOWN_SKIPPED} more lines skipped; all are listed in the report")
    for failure in result.failures:
        error(failure)
    print(
        f"{len(result.downloaded)} downloaded, {len(result.skipped)} already complete, "
        f"{len(result.failures)} failed, {len(skipped)} lines skipped; report: {result.report}"
    )
    return 1 if result.failures else 0


def register(commands: argparse._SubParsersAction) -> None:
    fetch_cmd = add_command(
        commands,
        "fetch",
        "download the products of a portal download list",
        "Download every file a portal download list (downloadResult.txt) names, resuming and "
        "retrying, then check each data file against its label.",
        "farside fetch downloadResult.txt -o release/",
    )
    fetch_cmd.add_argument("list", type=Path, metavar="LIST", help="the portal's downloadResult.txt")
    fetch_cmd.add_argument("-o", "--output", type=Path, required=True, help="download folder")
    fetch_cmd.add_argument("--workers", type=int, default=4, help="concurrent downloads [default: 4]")
    fetch_cmd.add_argument(
        "--retries", type=int, default=5, help="attempts per file after the first [default: 5]"
    )
    fetch_cmd.add_argument("--backoff", type=float, default=1.0,
                           help="first retry delay in s, doubling [default: 1]")  # fmt: skip
    fetch_cmd.set_defaults(func=cmd_fetch)
