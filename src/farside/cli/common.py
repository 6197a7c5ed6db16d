"""What every subcommand shares: printing one line per problem, and checking paths before any work."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from farside.errors import FarsideError


class UsageError(FarsideError):
    """A mistake on the command line: reported once, exit status 2, before any work."""


def error(message: str) -> None:
    print(f"farside: error: {' '.join(str(message).split())}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"farside: warning: {' '.join(str(message).split())}", file=sys.stderr)


def existing_inputs(paths: list[Path]) -> list[Path]:
    """The paths, or a :class:`UsageError` naming those that do not exist."""
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    return paths


def writable_folder(path: Path) -> Path:
    """Create the output folder if need be and make sure files can be written into it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".farside-check-", suffix=".part"):
            pass
    except OSError as exc:
        raise UsageError(f"{path}: cannot write output here ({exc.strerror or exc})") from None
    return path


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help that keeps the examples' line breaks."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=34, width=110)


def checked(convert: Callable[[str], Any], ok: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text and accept it if ``ok``, else say it is not ``wanted``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    parse.__name__ = wanted
    return parse


def add_command(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str, *example_lines: str
) -> argparse.ArgumentParser:
    """A subcommand whose help has a one-line summary, a description and examples."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in example_lines) if example_lines else None
    return commands.add_parser(name, help=summary, description=description, epilog=epilog,
                               formatter_class=formatter)  # fmt: skip


@contextmanager
def progress_bar(description: str, total: int | None = None, unit: str = "/s", transient: bool = False
                 ) -> Iterator[Callable[..., None]]:  # fmt: skip
    """A progress bar on standard error (none when it is not a terminal): the count, the rate and the time
    left. Yields ``update(done, total=None)``; a total given there replaces the one known at the start."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    ]  # fmt: skip
    with Progress(*columns, disable=not sys.stderr.isatty(), transient=transient) as progress:
        task = progress.add_task(description, total=total, rate="")
        started = time.perf_counter()

        def update(done: int, total: int | None = None) -> None:
            elapsed = time.perf_counter() - started
            rate = f"{done / elapsed:.1f}{unit}" if elapsed > 0 else ""
            progress.update(task, completed=done, rate=rate, **({} if total is None else {"total": total}))

        yield update


WORKERS = checked(int, lambda n: n >= 1, "a positive whole number")
SCALE = checked(float, lambda x: 0 < x <= 4, "a scale in (0, 4]")
