"""``farside index`` and ``farside ls``: a release's catalog."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from farside.cli.common import add_command, existing_inputs
from farside.cli.options import DB_ENVIRONMENT, DEFAULT_DB, add_filter_arguments, catalog_rows, default_db


def cmd_index(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from farside.catalog import discover, index

    folders = existing_inputs(args.folders)
    db = args.db or default_db()
    total = len(discover(folders))
    columns = [TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("index", total=total)
        report = index(folders, db, progress=lambda: progress.advance(task))
    print(
        f"{db}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed; {report.invalid} invalid; {report.seconds:.1f} s"
    )
    return 0


LS_COLUMNS = ("start_time", "product_id", "mission", "instrument", "camera", "mode", "level", "sequence_id",
              "valid", "reason")  # fmt: skip


def cmd_ls(args: argparse.Namespace) -> int:
    rows = catalog_rows(args)
    if args.format == "json":
        for row in rows:
            row["meta"] = json.loads(row["meta"]) if row["meta"] else None
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        fields = [*LS_COLUMNS, "label_path", "data_path"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows)
    return 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*LS_COLUMNS, title=f"{len(rows)} products")
    for column in table.columns[:-1]:
        column.no_wrap = True
    for row in rows:
        cells = [str(row[c] or "") for c in LS_COLUMNS]
        cells[LS_COLUMNS.index("valid")] = "yes" if row["valid"] else "no"
        table.add_row(*cells)
    Console(width=None if sys.stdout.isatty() else 250).print(table)


def register(commands: argparse._SubParsersAction) -> None:
    where = f"${DB_ENVIRONMENT} or ./{DEFAULT_DB}"
    index_cmd = add_command(
        commands,
        "index",
        "catalog the products under folders into SQLite",
        f"Catalog every product under the folders into a SQLite database ({where} unless --db "
        "names one; ls and process --db read the same one). Re-indexing reads only changed files.",
        "farside index release/",
        "farside index sol1/ sol2/ --db release.db",
    )
    index_cmd.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    index_cmd.add_argument("--db", type=Path, metavar="CATALOG", help=f"catalog database [default: {where}]")
    index_cmd.set_defaults(func=cmd_index)

    ls = add_command(
        commands,
        "ls",
        "list catalogued products, sorted by time",
        "List catalogued products, sorted by time, as a table, JSON or CSV.",
        "farside ls --instrument PCAM --mode C --since 2019-01-04",
        "farside ls --db release.db --status invalid --format csv",
    )
    add_filter_arguments(ls, "all")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table", help="[default: table]")
    ls.set_defaults(func=cmd_ls)
