"""The settings flags, made from the settings schema (:mod:`farside.settings`), and the catalog filters.

Flag values are checked by argparse as they are parsed (types, choices, mode arguments), so a mistake is
one line and exit status 2 before any product is read; :func:`request_from` then checks the whole request
against every profile it may meet.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farside.settings import OPTIONS, Option, mode_overrides

if TYPE_CHECKING:
    from farside.conversion import Request

DEFAULT_DB = "farside.db"
DB_ENVIRONMENT = "FARSIDE_DB"


def _value_type(option: Option):
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.kind  # argparse names the type in its messages
    return parse


def _mode_type(option: Option):
    def parse(text: str) -> dict[str, Any]:
        try:
            return mode_overrides(option, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "mode"
    return parse


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value or "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Profile selection and one flag per settable option of the schema."""
    from farside.profiles import profile_names

    group = parser.add_argument_group(
        "settings",
        "Each instrument's profile sets its own values (farside profile show NAME);\n"
        "the defaults shown are the generic ones every profile starts from.",
    )
    group.add_argument("--profile", choices=["default", *profile_names()], metavar="NAME",
                       help="use this bundled profile for every product, not each one's own")  # fmt: skip
    group.add_argument("--profile-file", type=Path, metavar="TOML", help="file overriding profile keys")
    group.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", type=_assignment,
                       help="set any profile key, e.g. --set sensor.black_level=12")  # fmt: skip
    for option in OPTIONS:
        if option.switch:
            group.add_argument(option.switch, dest=option.key, action="store_const", const=not option.default,
                               help=option.switch_help)  # fmt: skip
        if not option.flag:
            continue
        allowed = option.allowed()
        choices = (
            f" ({', '.join(_shown(c) for c in allowed)})" if allowed and not option.mode_arguments else ""
        )
        example = f", e.g. {option.example}" if option.example else ""
        modes = f": {', '.join(allowed)}{example}" if option.mode_arguments and allowed else ""
        group.add_argument(
            option.flag,
            dest=option.key,
            type=_mode_type(option) if option.mode_arguments else _value_type(option),
            metavar=option.metavar or option.name.upper(),
            help=f"{option.help}{modes}{choices} [default: {_shown(option.default)}]",
        )


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"wants SECTION.KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ``section.key: value`` overrides the flags ask for (``--set`` first, then single flags)."""
    overrides: dict[str, Any] = dict(getattr(args, "set", None) or [])
    for option in OPTIONS:
        value = getattr(args, option.key, None)
        if value is None:
            continue
        if isinstance(value, dict):  # a mode flag with its arguments
            overrides.update(value)
        else:
            overrides[option.key] = value
    return overrides


def request_from(args: argparse.Namespace, radiance: bool = False) -> Request:
    """The conversion request of the flags, checked once against every profile it may meet."""
    from farside.conversion import Request  # and the pipeline: not for commands that only show settings

    profile_file = str(args.profile_file) if getattr(args, "profile_file", None) else None
    request = Request(
        getattr(args, "profile", None), profile_file, tuple(overrides_from(args).items()), radiance
    )
    request.check()
    return request


def default_db() -> Path:
    """The catalog ``index`` writes and ``ls``/``process --db`` read when none is named: ``$FARSIDE_DB``, else
    ``farside.db`` in the current folder."""
    return Path(os.environ.get(DB_ENVIRONMENT) or DEFAULT_DB)


def existing_db(args: argparse.Namespace) -> Path:
    from farside.cli.common import UsageError

    db = args.db or default_db()
    if not Path(db).is_file():
        raise UsageError(f"no catalog at {db}: run `farside index DIR` first, or name one with --db")
    return db


def add_filter_arguments(parser: argparse.ArgumentParser, status_default: str) -> None:
    group = parser.add_argument_group("catalog filters")
    group.add_argument("--db", type=Path, nargs="?", const=Path(""), metavar="CATALOG",
                       help=f"catalog database [default: ${DB_ENVIRONMENT} or ./{DEFAULT_DB}]")  # fmt: skip
    group.add_argument("--mission", help="CE3, CE4, CE5-L, HX1-Ro...")
    group.add_argument("--instrument", help="PCAM, TCAM, LCAM, NaTeCam, MSCam...")
    group.add_argument("--camera", help="L, R, A, B")
    group.add_argument("--mode", help="C, Q, I...")
    group.add_argument("--level", help="2A, 2B, 2C...")
    group.add_argument("--sequence", help="sequence id, e.g. 0009")
    group.add_argument("--since", type=_when, help="start time from (UTC, ISO 8601)")
    group.add_argument("--until", type=_when, help="start time up to (UTC, ISO 8601)")
    group.add_argument("--status", choices=("valid", "invalid", "all"), default=status_default,
                       help=f"validity verdict [default: {status_default}]")  # fmt: skip


def _when(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (YYYY-MM-DD[Thh:mm:ss])") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def filters_from(args: argparse.Namespace) -> Any:
    from farside.catalog import Filters

    valid = {"valid": True, "invalid": False, "all": None}[args.status]
    return Filters(
        mission=args.mission, instrument=args.instrument, camera=args.camera, mode=args.mode,
        level=args.level, sequence_id=args.sequence, since=args.since, until=args.until, valid=valid,
    )  # fmt: skip


def catalog_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from farside.catalog import query

    if args.db == Path(""):
        args.db = None
    return list(query(existing_db(args), filters_from(args)))


__all__ = ["add_filter_arguments", "add_settings_arguments", "catalog_rows", "request_from"]
