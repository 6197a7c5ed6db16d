"""Instrument calibration profiles: every camera constant lives in a TOML file here, not in code.

A profile is ``default.toml`` overlaid with the instrument's file (chosen by its ``[match]`` table against
the product's metadata), then with a user file, then with single ``section.key=value`` overrides.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from farside.errors import ProfileError
from farside.products.meta import Meta

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
    return sorted(name for name in _bundled() if name != "default")


def _merge(base: dict[str, Any], layer: dict[str, Any], origin: str, path: str = "") -> None:
    for key, value in layer.items():
        where = f"{path}{key}"
        if key in ("match", "name", "description") and not path:
            if key != "match":
                base[key] = value
            continue
        if key not in base:
            raise ProfileError(f"{origin}: unknown profile key {where!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ProfileError(f"{origin}: {where!r} must be a table")
            _merge(base[key], value, origin, f"{where}.")
        else:
            base[key] = value


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


def _coerce(raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if isinstance(current, int | float | list):
        return tomllib.loads(f"v = {raw}")["v"]
    return raw


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
    if name not in bundled:
        known = ", ".join(profile_names())
        raise ProfileError(f"no profile named {name!r} (bundled: {known})")
    values = copy.deepcopy(bundled["default"])
    values.pop("match", None)
    sources = ["default"]
    if name != "default":
        _merge(values, bundled[name], f"profile {name}")
        sources.append(name)
    if user_file is not None:
        path = Path(user_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read profile ({exc.strerror or exc})") from None
        layer = _parse(text, str(path))
        _merge(values, layer, str(path))
        flat = layer.get("sensor", {}).get("flat")
        if flat and not Path(flat).is_absolute():  # a flat named by a user file lies beside that file
            values["sensor"]["flat"] = str(path.parent / flat)
        sources.append(str(path))
    for dotted, raw in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in values or not isinstance(values[section], dict) or key not in values[section]:
            raise ProfileError(f"unknown profile key {dotted!r}")
        current = values[section][key]
        try:
            values[section][key] = _coerce(raw, current) if isinstance(raw, str) else raw
        except (ValueError, tomllib.TOMLDecodeError):
            raise ProfileError(f"{dotted}: cannot use {raw!r} here (now {current!r})") from None
        sources.append(f"{dotted}={raw}")
    return Profile(name=name, sources=tuple(sources), values=values)
