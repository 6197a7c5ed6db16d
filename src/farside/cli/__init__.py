"""The farside command: thin subcommands over the library, one module per command or group.

Only this layer turns errors into printed lines and exit codes: 0 when everything worked, 1 when any
product (or file) failed, 2 for a usage error (a bad flag, setting, profile or path), found before any work
starts; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import NoReturn

from farside.cli import anaglyph, catalog, convert, fetch, gallery, info, movie, panorama, process, profiles
from farside.cli.common import error
from farside.errors import FarsideError

COMMANDS = (convert, info, profiles, catalog, process, fetch, panorama, anaglyph, movie, gallery)


class Parser(argparse.ArgumentParser):
    """Argument mistakes are one line, not the whole usage (``--help`` has that)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from farside import __version__

    parser = Parser(
        prog="farside",
        description="True-colour images from the raw camera releases of China's lunar and planetary "
        "missions.",
        epilog="Run `farside COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"farside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FarsideError as exc:  # a usage error found before any work
        error(str(exc))
        return 2
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except sqlite3.Error as exc:
        error(f"catalog: {exc}")
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        error(f"{where}{exc.strerror or exc}")
        return 1


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


__all__ = ["build_parser", "main", "run"]
