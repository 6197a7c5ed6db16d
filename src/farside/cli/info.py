"""``farside info``: every metadata field a product's label has."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from farside.cli.common import add_command, error, existing_inputs


def product_info(path: Path) -> dict[str, Any]:
    from farside import read

    product = read(path)
    return {
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


def cmd_info(args: argparse.Namespace) -> int:
    failures = 0
    for path in existing_inputs(args.products):
        try:
            info = product_info(path)
        except Exception as exc:  # one line per bad product, the others still shown
            from farside.conversion import failure_line  # with the whole pipeline, which info has no use for

            failures += 1
            error(failure_line(str(path), exc))
            continue
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            _print_table(info)
    return 1 if failures else 0


def _print_table(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=info["meta"]["product_id"] or info["label"], show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("label", info["label"])
    table.add_row("data", info["data"])
    array = info["array"]
    shape = " x ".join(map(str, array["shape"]))
    table.add_row("array", f"{shape} {array['data_type']} ({', '.join(array['axes'])})")
    for key, value in info["meta"].items():
        if value not in (None, {}, []):
            table.add_row(key, json.dumps(value) if isinstance(value, dict | list | tuple) else str(value))
    Console().print(table)


def register(commands: argparse._SubParsersAction) -> None:
    info = add_command(
        commands,
        "info",
        "print a product's metadata",
        "Print every metadata field a product's label has.",
        "farside info FRAME.2BL",
        "farside info FRAME.2BL --json",
    )
    info.add_argument("products", nargs="+", type=Path, metavar="PRODUCT")
    info.add_argument("--json", action="store_true", help="machine-readable JSON")
    info.set_defaults(func=cmd_info)
