"""Converting one product, the same way everywhere: ``farside convert``, ``farside process`` (local workers
or Dask) and :func:`farside.convert` all go through :func:`convert_one`.

A :class:`Request` is what the user asked for (profile, profile file, overrides), checked once with
:meth:`Request.check` before any product is touched. :func:`plan` reads a product and decides its settings
and output (raising for a bad product); :func:`execute` renders and writes it, and :func:`convert_one` does
both; these two never raise for a bad product: the :class:`Outcome` says what happened, with one line
naming the file and the problem.

Outputs are named after the product's data file (``X.2B`` -> ``X.2B.png``), reduced to a safe file name
inside the output folder, so a label can never make farside write elsewhere; two inputs that would share an
output are reported (:class:`Claims`), never written over each other.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farside.errors import FarsideError, SettingsError, printable
from farside.output import output_path, safe_file_name

RADIANCE_SUFFIX = ".radiance.tif"


@dataclass(frozen=True)
class Request:
    """How to convert: a profile (chosen per product when None), a user profile file and overrides."""

    profile: str | None = None
    profile_file: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    radiance: bool = False

    def settings_for(self, product: Any) -> Any:
        from farside.pipeline import settings_for

        return settings_for(product, self.profile, self.profile_file, dict(self.overrides))

    def check(self) -> None:
        """Resolve the settings for every profile this request may use; raises the first problem as a
        :class:`~farside.errors.FarsideError` (a usage error: nothing has been converted yet)."""
        from farside.demosaic import METHODS
        from farside.profiles import load_profile, profile_names
        from farside.settings import Settings

        names = [self.profile] if self.profile else ["default", *profile_names()]
        for name in names:
            settings = Settings.from_profile(load_profile(name, self.profile_file, dict(self.overrides)))
            if settings.flat and not Path(settings.flat).is_file():
                raise SettingsError(f"{settings.flat}: flat field not found (profile {name})")
            if settings.demosaic not in METHODS:
                raise SettingsError(f"demosaic method {settings.demosaic!r} is not available here")


@dataclass
class Outcome:
    """What became of one product: ``converted``, ``skipped`` (up to date) or ``failed`` (with the
    reason, one line)."""

    path: str
    status: str
    output: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float | None = None


@dataclass
class Planned:
    """A product read, its settings resolved and its output decided."""

    path: str
    product: Any
    settings: Any
    target: Path
    stamp: dict[str, Any]

    @property
    def identity(self) -> tuple[str, str]:
        """The product itself: its label and data file, resolved (a label and its data are one product)."""
        return (str(self.product.label_path.resolve()), str(self.product.data_path.resolve()))

    def released(self) -> Planned:
        """The same plan with its product's data no longer mapped: a set of thousands of products (a descent,
        a release's sweeps) held as plans keeps no file open and no page of data; :meth:`reopened` maps it
        again when its turn comes."""
        from dataclasses import replace

        return replace(self, product=replace(self.product, image=None))

    def reopened(self) -> Planned:
        """The plan with its product's data mapped (read again if :meth:`released`)."""
        if self.product.image is not None:
            return self
        from dataclasses import replace

        from farside.products.reader import read

        return replace(self, product=read(self.product.label_path))


def output_key(path: str | os.PathLike[str]) -> str:
    """The output name (without extension) a product path will get, known before the product is read: the
    data file's name; for a label the data file is named like it without the trailing ``L``."""
    name = Path(path).name
    from farside.products.names import parse_name

    try:
        parsed = parse_name(name)
    except FarsideError:
        return safe_file_name(name)
    return safe_file_name(name[:-1] if parsed.is_label else name)


def input_stamp(paths: Iterable[Path]) -> list[list[Any]]:
    """Full path, size and modification time of each input file: what makes an output stale."""
    stamp = []
    for path in sorted({Path(p).resolve() for p in paths}):
        info = path.stat()
        stamp.append([str(path), info.st_size, info.st_mtime_ns])
    return stamp


def settings_digest(settings_dict: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings_dict, sort_keys=True, default=str).encode()).hexdigest()[:16]


def failure_line(path: str, exc: BaseException) -> str:
    """One line naming the file and the problem, whatever the exception."""
    if isinstance(exc, MemoryError):
        message = "not enough memory to convert this product"
    elif isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != path else ""
        message = f"{exc.strerror}{where}"
    elif isinstance(exc, FarsideError | ValueError):
        message = str(exc) or type(exc).__name__
    else:
        message = f"internal error ({type(exc).__name__}: {exc}); please report it"
    message = " ".join(message.split())
    shown = printable(path)
    if shown in message:
        return message
    return f"{shown}: {message}"


def plan(path: str | os.PathLike[str] | Any, out_dir: str | os.PathLike[str], request: Request) -> Planned:
    """Read a product (or take a :class:`~farside.products.Product`), resolve its settings and its output.
    Raises for a bad product; :func:`convert_one` turns that into an :class:`Outcome`."""
    from farside.products.reader import Product, read

    product = path if isinstance(path, Product) else read(path)
    settings = request.settings_for(product)
    suffix = RADIANCE_SUFFIX if request.radiance else _extension(settings.output_format)
    target = output_path(product.data_path, out_dir, suffix)
    stamp = {
        "input": input_stamp({product.label_path, product.data_path}),
        "settings": settings_digest({**settings.to_dict(), "radiance": request.radiance}),
    }
    source = os.fspath(path) if not isinstance(path, Product) else str(product.label_path)
    return Planned(source, product, settings, target, stamp)


def _extension(fmt: str) -> str:
    from farside.output import EXTENSIONS

    return EXTENSIONS[fmt]


def up_to_date(planned: Planned) -> bool:
    """The output and its sidecar exist and record the same inputs and settings."""
    from farside.output import sidecar_path

    side = sidecar_path(planned.target)
    if not (planned.target.is_file() and side.is_file()):
        return False
    try:
        return json.loads(side.read_text(encoding="utf-8")).get("job") == planned.stamp
    except (OSError, ValueError):
        return False


def write_planned(planned: Planned, look: Any = None, linear: Any = None) -> tuple[Path, Any]:
    """Render (or compute radiance for) a planned product and write it with its sidecar; raises for a bad
    product. Returns the written path and the :class:`~farside.pipeline.Rendered` (None for radiance).
    ``linear``: see :func:`farside.pipeline.render`."""
    from farside.output import write_radiance, write_rendered
    from farside.pipeline import render
    from farside.radiometry import radiance

    if planned.target.name.endswith(RADIANCE_SUFFIX):
        image, description = radiance(planned.product, planned.settings)
        path = write_radiance(
            planned.product, image, description, planned.settings, planned.target, planned.stamp
        )
        return path, None
    rendered = render(planned.product, planned.settings, look, linear)
    return write_rendered(planned.product, rendered, planned.target, planned.stamp), rendered


def execute(planned: Planned, look: Any = None, linear: Any = None) -> Outcome:
    """Render and write a planned product. Never raises for a bad product."""
    started = time.perf_counter()
    try:
        written, rendered = write_planned(planned.reopened(), look, linear)
    except Exception as exc:  # one bad product never stops a run
        return Outcome(planned.path, "failed", error=failure_line(planned.path, exc), seconds=_since(started))
    warnings = rendered.warnings if rendered is not None else []
    return Outcome(planned.path, "converted", str(written), warnings=warnings, seconds=_since(started),
                   peak_rss_mb=peak_rss_mb())  # fmt: skip


# How much of a set's linearized frames shared_look keeps for rendering them (beyond it, frames are
# linearized again when rendered, so that a set of any size needs memory for one frame at a time).
KEPT_BYTES = 512 * 2**20


def shared_look(planned: Sequence[Planned], kept: dict[str, Any] | None = None) -> tuple[Any, list[Outcome]]:
    """One white balance and stretch for a set of products (panorama tiles, movie frames), from all their
    samples together, and failures for those that could not be read. The look is None if none could.
    Products are read one at a time, so a large set never needs to fit in memory at once.

    With ``kept``, the frames linearized on the way are put there by product path, up to
    :data:`KEPT_BYTES` of them, for rendering (``linear`` of :func:`execute` and
    :func:`farside.pipeline.render`) without linearizing them again."""
    from farside import pipeline

    failures: list[Outcome] = []
    room = KEPT_BYTES

    def readable() -> Iterator[tuple[Planned, Any]]:
        nonlocal room
        for item in planned:
            try:
                item = item.reopened()  # released again when the next one is read
                linear = pipeline.linearize(item.product, item.settings)
            except Exception as exc:
                failures.append(Outcome(item.path, "failed", error=failure_line(item.path, exc)))
                continue
            if kept is not None and linear.frame.nbytes <= room:
                kept[item.path] = linear
                room -= linear.frame.nbytes
            yield item, linear

    frames = readable()
    first = next(frames, None)  # the first readable frame's settings and label choose the look's modes
    if first is None:
        return None, failures
    linears = itertools.chain([first[1]], (linear for _, linear in frames))
    look = pipeline.shared_look(linears, first[0].settings, first[0].product, frames=len(planned))
    return look, failures


def convert_one(
    path: str | os.PathLike[str] | Any,
    out_dir: str | os.PathLike[str],
    request: Request | None = None,
    skip_up_to_date: bool = False,
) -> Outcome:
    """Convert one product into ``out_dir``; never raises for a bad product.

    With ``skip_up_to_date`` an output whose sidecar records the same inputs and settings is left alone.
    """
    started = time.perf_counter()
    source = os.fspath(path) if isinstance(path, str | os.PathLike) else str(path.label_path)
    try:
        planned = plan(path, out_dir, request or Request())
    except Exception as exc:
        return Outcome(source, "failed", error=failure_line(source, exc), seconds=_since(started))
    if skip_up_to_date and up_to_date(planned):
        return Outcome(planned.path, "skipped", str(planned.target), seconds=_since(started))
    outcome = execute(planned)
    outcome.seconds = _since(started)
    return outcome


class Claims:
    """Which input owns which output, so that two inputs never write one file.

    >>> claims = Claims()
    >>> claims.claim("out/a.2B.png", "in1/a.2BL") is None
    True
    >>> claims.claim("out/a.2B.png", "in2/a.2BL")
    'in1/a.2BL'
    """

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, target: str | os.PathLike[str], source: str) -> str | None:
        """Claim ``target`` for ``source``; returns the other source that already holds it, if any."""
        key = os.path.normcase(os.path.abspath(target))
        owner = self._owners.setdefault(key, source)
        return None if owner == source else owner


def collision_message(source: str, owner: str, target: str | os.PathLike[str]) -> str:
    return (
        f"{source}: its output {target} is already the output of {owner}; "
        "left out so neither is overwritten (convert it into another folder)"
    )


def peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _since(started: float) -> float:
    return time.perf_counter() - started


__all__ = [
    "Claims",
    "Outcome",
    "Planned",
    "Request",
    "convert_one",
    "execute",
    "output_path",
    "plan",
    "safe_file_name",
]
