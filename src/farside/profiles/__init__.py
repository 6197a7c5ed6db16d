"""Instrument calibration profiles: every camera constant lives in a TOML file here, not in code.

A profile is the schema's defaults (:mod:`farside.settings`, shown by ``farside profile show default``)
overlaid with the instrument's file (chosen by its ``[match]`` table against the product's metadata), then
with a user file, then with single ``section.key=value`` overrides. Every layer is checked against the schema
as it is applied, so a mistake names the file (or flag) and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from farside.errors import ProfileError
from farside.products.meta import Meta
from farside.settings import OPTION_BY_KEY, defaults, plain

_MATCH_FIELDS = ("mission", "instrument", "mode", "level", "camera")


@dataclass(frozen=True)
class Profile:
    """A resolved profile: its name, where its layers came from, and the merged values."""

    name: str
    sources: tuple[str, ...]
    values: dict[str, Any]

    def get(self, dotted: str) -> Any:
        """Value of ``section.key``."""
        node: Any = self.values
        for part in dotted.split("."):
            node = node[part]
        return node


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML ({exc})") from None


@cache
def _bundled() -> dict[str, dict[str, Any]]:
    out = {}
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".toml"):
            data = _parse(entry.read_text(encoding="utf-8"), entry.name)
            out[data.get("name", entry.name[:-5])] = data
    return out


def profile_names() -> list[str]:
    """Names of the bundled instrument profiles."""
    return sorted(_bundled())


def _merge(base: dict[str, Any], layer: dict[str, Any], origin: str) -> None:
    for key, value in layer.items():
        if key in ("match", "name", "description"):
            if key != "match":
                base[key] = value
            continue
        if key not in base or not isinstance(base[key], dict):
            raise ProfileError(f"{origin}: unknown profile section {key!r}")
        if not isinstance(value, dict):
            raise ProfileError(f"{origin}: {key!r} must be a table")
        for name, item in value.items():
            _set(base, f"{key}.{name}", item, origin)


def _set(values: dict[str, Any], dotted: str, raw: Any, origin: str) -> None:
    option = OPTION_BY_KEY.get(dotted)
    if option is None:
        raise ProfileError(f"{origin}: unknown profile key {dotted!r}")
    try:
        parsed = option.parse(raw)
    except ValueError as exc:
        raise ProfileError(f"{origin}: {dotted}: {exc}") from None
    values[option.section][option.name] = plain(parsed)


def _matches(data: dict[str, Any], meta: Meta) -> int:
    """How many match fields agree, or -1 if any disagrees."""
    score = 0
    for field, allowed in data.get("match", {}).items():
        if field not in _MATCH_FIELDS:
            raise ProfileError(f"profile {data.get('name')}: unknown match field {field!r}")
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if getattr(meta, field) not in allowed:
            return -1
        score += 1
    return score if data.get("match") else -1


def profile_for(meta: Meta) -> str:
    """Name of the most specific bundled profile whose ``[match]`` fits ``meta`` (``default`` if none)."""
    best, best_score = "default", 0
    for name, data in sorted(_bundled().items()):
        score = _matches(data, meta)
        if score > best_score:
            best, best_score = name, score
    return best


def load_profile(
    name_or_meta: str | Meta,
    user_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Profile:
    """Resolve a profile.

    Parameters
    ----------
    name_or_meta : str or Meta
        A bundled profile's name, or a product's metadata to choose one by.
    user_file : path, optional
        A TOML file whose keys override the profile's, key by key.
    overrides : dict, optional
        ``{"section.key": value}``; string values are parsed as TOML where the key holds a number, list
        or boolean (so ``"sensor.bit_depth": "12"`` works from a command line).
    """
    bundled = _bundled()
    name = profile_for(name_or_meta) if isinstance(name_or_meta, Meta) else name_or_meta
    if name != "default" and name not in bundled:
        known = ", ".join(profile_names())
        raise ProfileError(f"no profile named {name!r} (bundled: default, {known})")
    values: dict[str, Any] = defaults()
    sources = ["default"]
    if name != "default":
        _merge(values, bundled[name], f"profile {name}")
        sources.append(name)
    if user_file is not None:
        path = Path(user_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ProfileError(f"{path}: cannot read profile ({reason})") from None
        layer = _parse(text, str(path))
        _merge(values, layer, str(path))
        flat = layer.get("sensor", {}).get("flat")
        if flat and not Path(flat).is_absolute():  # a flat named by a user file lies beside that file
            values["sensor"]["flat"] = str(path.parent / flat)
        sources.append(str(path))
    for dotted, raw in (overrides or {}).items():
        _set(values, dotted, raw, "setting")
        sources.append(f"{dotted}={raw}")
    return Profile(name=name, sources=tuple(sources), values=values)
