"""The farside command: thin subcommands over the library, one module per command or group.

Only this layer turns errors into printed lines and exit codes: 0 when everything worked, 1 when any
product (or file) failed, 2 for a usage error (a bad flag, setting, profile or path), found before any work
starts; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from farside.cli.common import error
from farside.errors import FarsideError

# Each command and the module under farside.cli that registers and runs it, in the order --help lists
# them. A command's module is imported only when it runs (or for the full help): start-up is part of every
# conversion's time, and the other commands' modules bring their own libraries (scenes, movies, SQLite).
COMMANDS = {
    "convert": "convert",
    "demo": "convert",
    "info": "info",
    "profile": "profiles",
    "demosaic-methods": "profiles",
    "index": "catalog",
    "ls": "catalog",
    "process": "process",
    "fetch": "fetch",
    "panorama": "panorama",
    "anaglyph": "anaglyph",
    "movie": "movie",
    "gallery": "gallery",
}

# Commands whose work is the frame pipeline: its parallelism is numba's threads, and BLAS only multiplies
# 3x3 colour matrices. OpenBLAS starts a thread pool as numpy loads, and another in SciPy's copy, which
# numba loads with its first kernel; their threads spin while the command starts, about a quarter of a
# one-frame conversion's CPU time on two cores. A value the user set is kept.
SINGLE_THREADED_BLAS = frozenset({"convert", "demo", "info"})


class Parser(argparse.ArgumentParser):
    """Argument mistakes are one line, not the whole usage (``--help`` has that)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """``--version``: farside's version and how its frame kernels run, worked out only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        help_text = "show the version and whether the frame kernels run compiled at install, and exit"
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help=help_text)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from farside import __version__, _jit

        kernels = "compiled at install" if _jit.uses_compiled_kernels() else "numba's JIT"
        print(f"farside {__version__} (frame kernels: {kernels})")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with ``command`` (a name of :data:`COMMANDS`) only that command's module
    is registered, which parses that command exactly as the whole parser does; without, every command."""
    parser = Parser(
        prog="farside",
        description="True-colour images from the raw camera releases of China's lunar and planetary "
        "missions.",
        epilog="Run `farside COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for module in modules:
        importlib.import_module(f"farside.cli.{module}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The top level has no option taking a value, so a command named first is the command that runs.
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FarsideError as exc:  # a usage error found before any work
        error(str(exc))
        return 2
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        error(f"{where}{exc.strerror or exc}")
        return 1
    except Exception as exc:
        if not _is_catalog_error(exc):
            raise
        error(f"catalog: {exc}")
        return 1


def _is_catalog_error(exc: Exception) -> bool:
    """Whether ``exc`` is SQLite's, without importing sqlite3 for the commands that never open a catalog
    (an error of sqlite3 can only come from a command that imported it)."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


def run() -> None:  # pragma: no cover - the console script
    """Entry point of the ``farside`` command: ``main()``, then a prompt exit.

    Every file is written and closed before ``main`` returns; what remains at exit is the interpreter
    unloading numba, LLVM and OpenCV, which takes about 0.2 s, longer than some whole conversions. So the
    command flushes its output and leaves without that teardown.
    """
    if sys.argv[1:2] and sys.argv[1] in SINGLE_THREADED_BLAS:  # before numpy is imported, as it must be
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["build_parser", "main", "run"]
