"""farside: true-colour images from the raw camera releases of China's lunar and planetary missions.

The common path is two calls::

    import farside
    product = farside.read("CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL")
    farside.convert(product, "out/")          # or farside.render(product) for the array

and every step is available below it: :func:`demosaic`, :mod:`farside.calibrate`, :mod:`farside.colour`,
:mod:`farside.tone`, :func:`load_profile`, :class:`Settings`.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farside._numba_cache import ensure_numba_cache

ensure_numba_cache()

if TYPE_CHECKING:
    from farside.demosaic import demosaic, demosaic_methods
    from farside.errors import FarsideError, ProductError
    from farside.pipeline import Rendered, Settings, settings_for
    from farside.products import Meta, Product, ProductName, parse_name, read
    from farside.profiles import load_profile, profile_names
    from farside.radiometry import radiance

# The public names defined in submodules, each imported on first use (PEP 562): the package itself stays
# light, so a command or program that needs only part of farside (reading a label, the command line's
# help) does not load numba, OpenCV and every kernel with it.
_LAZY = {
    "FarsideError": "farside.errors",
    "ProductError": "farside.errors",
    "Meta": "farside.products",
    "Product": "farside.products",
    "ProductName": "farside.products",
    "parse_name": "farside.products",
    "read": "farside.products",
    "Rendered": "farside.pipeline",
    "Settings": "farside.pipeline",
    "settings_for": "farside.pipeline",
    "demosaic": "farside.demosaic",
    "demosaic_methods": "farside.demosaic",
    "load_profile": "farside.profiles",
    "profile_names": "farside.profiles",
    "radiance": "farside.radiometry",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


# Functions named like a subpackage of their own.
_FUNCTIONS_OVER_SUBPACKAGES = frozenset({"demosaic", "gallery"})


class _Package(types.ModuleType):
    """``farside.demosaic`` and ``farside.gallery`` stay the functions. The import system binds each
    subpackage on its parent as it is imported, and the subpackages are imported whenever something first
    needs them (the pipeline, a command), which may be after the function took the name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS_OVER_SUBPACKAGES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__version__ = "0.1.0"


def render(
    product: Product | str | os.PathLike[str],
    settings: Settings | None = None,
    **options: Any,
) -> Rendered:
    """Display image of a product (read first if given a path).

    ``settings`` defaults to the product's instrument profile; ``options`` are passed to
    :func:`settings_for` (``profile``, ``profile_file``, ``overrides``).
    """
    from farside.pipeline import render as render_product
    from farside.pipeline import settings_for
    from farside.products import Product, read

    if not isinstance(product, Product):
        product = read(product)
    return render_product(product, settings or settings_for(product, **options))


def convert(
    product: Product | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: Settings | None = None,
    **options: Any,
) -> tuple[Path, Rendered]:
    """Render a product and write the image (with provenance) and its JSON sidecar into ``out_dir``, named
    after the product's data file. Raises :class:`FarsideError` for a bad product.

    ``options`` are those of :func:`settings_for` (``profile``, ``profile_file``, ``overrides``).
    """
    from dataclasses import replace

    from farside.conversion import Request, plan, write_planned
    from farside.output import EXTENSIONS

    overrides = tuple((options.pop("overrides", None) or {}).items())
    planned = plan(product, out_dir, Request(overrides=overrides, **options))
    if settings is not None:
        planned = replace(planned, settings=settings)
        planned = replace(planned, target=planned.target.with_suffix(EXTENSIONS[settings.output_format]))
    path, rendered = write_planned(planned)
    return path, rendered


def panorama(
    inputs: str | os.PathLike[str] | list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    scale: float = 1.0,
    projection: str = "equirectangular",
    refine: bool = True,
    **options: Any,
) -> list[Any]:
    """Group the products in ``inputs`` (files or folders) into panorama sets, one per sweep of the mast,
    and write one panorama per set into ``out_dir`` with its sidecar; returns what became of each set
    (:class:`farside.scenes.panorama.SetOutcome`: the output written and one line per problem).

    ``options`` are those of :func:`settings_for` (``profile``, ``profile_file``, ``overrides``). Frames
    in memory go through :func:`farside.scenes.panorama.panorama` instead.
    """
    from farside.catalog import discover
    from farside.conversion import Request
    from farside.scenes.panorama import build_set, find_sets

    roots = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    overrides = tuple((options.pop("overrides", None) or {}).items())
    request = Request(overrides=overrides, **options)
    request.check()
    sets, problems = find_sets([c.path for c in discover(roots)], out_dir, request)
    outcomes = [build_set(frames, out_dir, scale, refine, projection) for frames in sets]
    if problems:
        from farside.scenes.panorama import SetOutcome

        outcomes.append(SetOutcome("unread products", [], None, problems))
    return outcomes


def anaglyph(
    inputs: str | os.PathLike[str] | list[str | os.PathLike[str]] | None,
    out_dir: str | os.PathLike[str],
    method: str = "dubois",
    layout: str = "anaglyph",
    parallax: float | None = None,
    *,
    catalog: str | os.PathLike[str] | None = None,
    filters: Any = None,
    **options: Any,
) -> Any:
    """Pair the stereo frames among ``inputs`` (files or folders; two product files alone are one pair) or
    a catalog's selection (``catalog`` with ``filters``, a :class:`farside.catalog.Filters` or a dict of its
    fields), and write one anaglyph per pair into ``out_dir`` with its sidecar; returns what became of each
    pair and of every product left out (:class:`farside.scenes.anaglyph.Anaglyphs`).

    ``method`` is one of :data:`farside.scenes.anaglyph.METHODS`, ``layout`` one of ``"anaglyph"``,
    ``"side-by-side"`` or ``"cross-eye"``; ``parallax`` puts that disparity (frame pixels) at the screen
    instead of the near ground's. ``options`` are those of :func:`settings_for` (``profile``,
    ``profile_file``, ``overrides``). Eyes in memory go through :func:`farside.scenes.stereo.align` and
    :func:`farside.scenes.anaglyph.compose` instead.
    """
    from farside.catalog import Filters, discover, query
    from farside.conversion import Request
    from farside.scenes.anaglyph import make_anaglyphs

    overrides = tuple((options.pop("overrides", None) or {}).items())
    request = Request(overrides=overrides, **options)
    request.check()
    roots = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs or [])
    found = discover(roots)
    paths = [c.path for c in found]
    explicit = len(roots) == 2 and all(Path(r).is_file() for r in roots) and len(found) == 2
    if catalog is not None:
        where = Filters(**filters) if isinstance(filters, dict) else filters
        paths += [Path(row["label_path"] or row["data_path"]) for row in query(catalog, where)]
        explicit = False
    return make_anaglyphs(paths, out_dir, request, method, layout, parallax, explicit)


def movie(
    inputs: str | os.PathLike[str] | list[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    **options: Any,
) -> Any:
    """Make one movie of the products in ``inputs`` (files or folders) at ``output`` (``.mp4``, ``.webm``
    or ``.gif``) with its sidecar: frames in time order, one shared look, deflickered, streamed in constant
    memory; returns what was done (:class:`farside.scenes.movie.MovieOutcome`: frames rendered, held and
    skipped, duration, one line per problem).

    ``options`` are those of :class:`farside.scenes.movie.MovieOptions` (``fps``, ``format``, ``scale``,
    ``deflicker``, ``window``, ``missing``, ``crf``, ``preset``, ``start``, ``stop``: a serial or a time as
    text) and of :func:`settings_for` (``profile``, ``profile_file``, ``overrides``).
    """
    from farside.scenes.movie import movie as make

    return make(inputs, output, **options)


def gallery(
    sources: str | os.PathLike[str] | list[str | os.PathLike[str]],
    site: str | os.PathLike[str],
    title: str | None = None,
    db: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Any:
    """Write (or bring up to date) a static web gallery of the farside outputs under ``sources`` (folders
    of images, panoramas, anaglyphs and movies with their sidecars) into ``site``; open
    ``site/index.html``. Only what is new or changed is made again. Returns a
    :class:`farside.gallery.Report` (items, what was made, one line per output left out).

    ``db`` is a catalog (``farside index``) to find original products in; ``options`` are those of
    :func:`farside.gallery.build` (``workers``, ``tile_above``).
    """
    from farside.gallery import build

    roots = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    return build(roots, site, title=title, db=db, **options)


__all__ = [
    "FarsideError",
    "Meta",
    "Product",
    "ProductError",
    "ProductName",
    "Rendered",
    "Settings",
    "__version__",
    "anaglyph",
    "convert",
    "demosaic",
    "demosaic_methods",
    "gallery",
    "load_profile",
    "movie",
    "panorama",
    "parse_name",
    "profile_names",
    "radiance",
    "read",
    "render",
    "settings_for",
]
