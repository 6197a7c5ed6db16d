"""``farside profile`` and ``farside demosaic-methods``: what the pipeline can be told."""

from __future__ import annotations

import argparse
from typing import Any

from farside.cli.common import add_command
from farside.cli.options import add_settings_arguments, overrides_from
from farside.errors import ProfileError


def profile_toml(values: dict[str, Any]) -> str:
    """A resolved profile as TOML, each key with its meaning from the settings schema."""
    from farside.settings import OPTION_BY_KEY, toml_text

    lines = [f"{k} = {toml_text(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for section, table in values.items():
        if not isinstance(table, dict):
            continue
        lines.append(f"\n[{section}]")
        for key, value in table.items():
            option = OPTION_BY_KEY[f"{section}.{key}"]
            lines.append(f"{key} = {toml_text(value)}    # {option.help}")
    return "\n".join(lines)


def cmd_profile_show(args: argparse.Namespace) -> int:
    from farside.profiles import load_profile, profile_names

    names = [args.name] if args.name in (*profile_names(), "default") else None
    if names is None:
        # An instrument (tcam, pcam...) shows every profile for it, one TOML document each.
        names = [n for n in profile_names() if args.name.lower() in n]
    if not names:
        raise ProfileError(
            f"no profile matches {args.name!r}; bundled: default, {', '.join(profile_names())}"
        )
    for number, name in enumerate(names):
        profile = load_profile(name, args.profile_file, overrides_from(args))
        if number:
            print("\n# " + "-" * 60)
        print(f"# profile {profile.name}: {' + '.join(profile.sources)}")
        print(profile_toml(profile.values))
    return 0


def cmd_profile_list(args: argparse.Namespace) -> int:
    from farside.profiles import load_profile, profile_names

    print(f"{'default':18} Generic frame: the schema's defaults, which every profile starts from.")
    for name in profile_names():
        print(f"{name:18} {load_profile(name).values.get('description', '')}")
    return 0


def cmd_demosaic_methods(args: argparse.Namespace) -> int:
    from farside.demosaic import DEFAULT_METHOD, demosaic_methods

    for name, summary in demosaic_methods().items():
        marker = " (default)" if name == DEFAULT_METHOD else ""
        print(f"{name:12} {summary}{marker}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    profile = add_command(
        commands, "profile", "instrument calibration profiles", "Instrument calibration profiles."
    )
    profile_commands = profile.add_subparsers(dest="profile_command", required=True)
    show = add_command(
        profile_commands,
        "show",
        "print the effective profile",
        "Print the effective profile as TOML: the bundled one with a user file and flags applied.",
        "farside profile show ce4-pcam-colour",
        "farside profile show tcam",
        "farside profile show default --set tone.stretch=gamma",
    )
    show.add_argument("name", help="profile name or instrument (e.g. ce4-pcam-colour, tcam, default)")
    add_settings_arguments(show)
    show.set_defaults(func=cmd_profile_show)
    listing = add_command(profile_commands, "list", "list bundled profiles", "List bundled profiles.")
    listing.set_defaults(func=cmd_profile_list)
    methods = add_command(
        commands, "demosaic-methods", "list demosaic methods", "List the demosaic methods available."
    )
    methods.set_defaults(func=cmd_demosaic_methods)
