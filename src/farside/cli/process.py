"""``farside process``: a whole folder or catalog, in parallel, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from farside.cli.common import (
    WORKERS,
    UsageError,
    add_command,
    error,
    existing_inputs,
    progress_bar,
    writable_folder,
)
from farside.cli.options import add_filter_arguments, add_settings_arguments, catalog_rows, request_from


def cmd_process(args: argparse.Namespace) -> int:
    from farside.batch import Job, write_report
    from farside.catalog import discover

    if args.folder is None and args.db is None:
        raise UsageError("give a folder of products, or --db with a catalog")
    request = request_from(args)
    if args.folder is not None:
        folder = existing_inputs([args.folder])[0]
        paths = [str(c.path) for c in discover([folder])]
        where = str(folder)
    else:
        paths = [row["label_path"] or row["data_path"] for row in catalog_rows(args)]
        where = "the catalog's selection"
    out = writable_folder(args.output)
    if not paths:
        error(f"no products found in {where}")
        return 1
    jobs = [Job(p, str(out), request) for p in paths]
    summary = _run_with_progress(jobs, args)
    report = write_report(summary, out)
    counts = summary.to_dict()
    state = "interrupted" if summary.interrupted else "done"
    print(
        f"{state}: {counts['converted']} converted, {counts['skipped']} up to date, "
        f"{counts['failed']} failed of {len(jobs)} in {summary.seconds:.1f} s; report: {report}"
    )
    if summary.interrupted:
        return 130
    return 1 if summary.failures else 0


def _run_with_progress(jobs, args):
    from farside.batch import process

    with progress_bar("converting", total=len(jobs)) as update:
        done = 0

        def advance(outcome) -> None:
            nonlocal done
            if outcome.status == "failed":
                error(outcome.error)
            done += 1
            update(done)

        return process(jobs, args.workers, args.scheduler, advance)


def register(commands: argparse._SubParsersAction) -> None:
    process_cmd = add_command(
        commands,
        "process",
        "convert a whole folder or catalog, in parallel, resumably",
        "Convert every product under a folder, or those a catalog's filters select, on all cores "
        "or a Dask cluster. Up-to-date outputs are skipped; failures are listed in OUT/farside-report.json.",
        "farside process release/ -o converted/",
        "farside process --db --instrument TCAM -o tcam/",
        "farside process release/ -o converted/ --scheduler tcp://scheduler:8786",
    )
    process_cmd.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="folder of products")
    process_cmd.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    process_cmd.add_argument(
        "--workers",
        type=WORKERS,
        help="local worker processes [default: all cores]",
    )
    process_cmd.add_argument("--scheduler", metavar="URL", help="run on a Dask cluster: tcp://HOST:PORT")
    add_filter_arguments(process_cmd, "valid")
    add_settings_arguments(process_cmd)
    process_cmd.set_defaults(func=cmd_process)
