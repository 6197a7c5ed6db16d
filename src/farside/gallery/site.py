"""Writing a gallery site from folders of farside outputs, incrementally and so that a reader never sees a
half-written index.

The site::

    index.html                  the page (from templates/index.html); every view is in it
    assets/                     app.js, style.css, icon.svg, vendor/openseadragon/ (the package's static/)
    data/items.js               window.FARSIDE_GALLERY = {...}: one compact row per item (see below)
    data/detail/<digest>.js     FARSIDE_DETAIL({id: detail}, {digest: section}): the item views' metadata,
                                loaded when one opens; sections many items share (settings) given once
    thumbs/<id>.webp            thumbnails
    tiles/<id>-<digest>_files/  deep-zoom tiles of large images (DZI layout, plus image.dzi)
    media/<id>, media/<id>.json the full-size output and its sidecar (hard links when they can be)
    .farside-gallery.json       the manifest: what each output was when its files were made

Pages opened from ``file://`` may not fetch anything, so the data are scripts that set a global or call a
function. ``items.js`` holds ``columns`` (the names of a row's fields), ``values`` (the distinct values of
the coded columns: a row gives their index) and ``rows``, sorted into groups (mission, instrument,
sequence; groups by their first time) and by time within each. Detail is sharded by a hash of the item's
id, each shard named by a digest of its contents, so that a changed item rewrites one shard, and a reader
still holding the previous index finds the previous shards (one generation is kept).

Order of writing: new thumbnails, tiles (built under a hidden name, renamed into place), media links and
detail shards first; then ``data/items.js`` and ``index.html``, each replaced atomically; then the
manifest; last, the files no item uses any more are removed.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import sqlite3
import string
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from farside.gallery import scan
from farside.gallery.thumbnails import PANORAMA_BOX, THUMB_BOX, TILE_ABOVE, Made, Task, make
from farside.output import atomic_file, safe_file_name, write_atomic

FORMAT = 1  # raise when what the builder makes changes, so every item is made again
MANIFEST = ".farside-gallery.json"
PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
TEMPLATE = PACKAGE / "templates" / "index.html"
ITEMS_PER_SHARD = 128
SHARED_SECTION_BYTES = 200
SEARCH_NAMES = 1000  # product names an item can be searched by
COLUMNS = ("id", "kind", "mission", "instrument", "camera", "mode", "sequence", "time", "thumb_width",
           "thumb_height", "shard", "search")  # fmt: skip
CODED = ("kind", "mission", "instrument", "camera", "mode")


@dataclass
class Report:
    """What a build did: items in the site, items made this time (thumbnails, tiles), items kept from
    before, items removed, and one line per output left out."""

    site: Path
    items: int = 0
    made: int = 0
    kept: int = 0
    removed: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.site / "index.html"


def build(
    sources: Sequence[str | os.PathLike[str]],
    site: str | os.PathLike[str],
    *,
    title: str | None = None,
    db: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    tile_above: int = TILE_ABOVE,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Write (or bring up to date) the gallery site ``site`` of the outputs under ``sources``.

    Only outputs that are new or changed since the last build (by the size, modification time and inode of
    the file and its sidecar) get thumbnails and tiles made, ``workers`` at a time (default: one per
    core); outputs gone from the sources leave the site. ``db`` is a catalog (``farside index``) in which
    to find original products the sidecars' paths no longer lead to. Never raises for a bad output: it is
    one line in :attr:`Report.problems` and left out.
    """
    started = time.perf_counter()
    site = Path(site).resolve()
    for folder in ("data/detail", "thumbs", "tiles", "media", "assets"):
        (site / folder).mkdir(parents=True, exist_ok=True)
    report = Report(site)
    options = {
        "format": FORMAT,
        "tile_above": tile_above,
        "thumb": list(THUMB_BOX),
        "panorama": list(PANORAMA_BOX),
    }
    manifest = _load_manifest(site)
    previous = manifest.get("items", {}) if manifest.get("options") == options else {}
    # Sections many items share (a profile's settings) are held once, by digest (see _share).
    sections: dict[str, Any] = manifest.get("sections", {}) if previous else {}
    outputs, problems = scan.find_outputs(sources, exclude=site)
    report.problems.extend(problems)
    ids = assign_ids([o.media for o in outputs])
    entries: dict[str, dict[str, Any]] = {}
    present = _listing(site)
    todo: list[tuple[scan.Output, str, list[list[int]]]] = []
    for output in outputs:
        key = str(output.media)
        try:
            stamp = _stamp(output)
        except OSError as exc:
            report.problems.append(f"{output.media}: {exc.strerror or exc}; left out")
            continue
        old = previous.get(key)
        if old and old["stamp"] == stamp and old["id"] == ids[output.media] and _present(present, old):
            entries[key] = old
            continue
        todo.append((output, ids[output.media], stamp))
    report.kept = len(entries)
    catalog = _catalog(db) if todo else {}
    workers = max(1, workers or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers)
    try:
        threads = workers if len(todo) < workers else 1  # few items: each tiles on all the threads
        futures = {pool.submit(_make_entry, site, *job, catalog, tile_above, threads): job for job in todo}
        for done, future in enumerate(as_completed(futures), 1):
            output = futures[future][0]
            try:
                entry = future.result()
            except _LeftOut as exc:
                report.problems.append(str(exc))
            except Exception as exc:  # one bad output never stops a build
                report.problems.append(_failure(output.media, exc))
            else:
                entries[str(output.media)] = _share(entry, sections)
                report.made += 1
            if progress is not None:
                progress(done, len(todo))
    finally:
        # Interrupted: what has not started is dropped; the site's index is still the last one written.
        pool.shutdown(wait=True, cancel_futures=True)
    report.removed = sum(1 for key in manifest.get("items", {}) if key not in entries)
    report.items = len(entries)
    title = title or "farside gallery"
    same = not report.made and not report.removed and previous and manifest.get("title") == title
    if not (same and manifest.get("assets") == _assets_version() and _complete(site, manifest)):
        _write_site(site, entries, sections, manifest, options, title)
    report.seconds = time.perf_counter() - started
    return report


def assign_ids(paths: Iterable[Path]) -> dict[Path, str]:
    """Each output's id: its file name, or where two sources hold the same name, the name with a digest of
    its folder before the extension, so ids (and the site's file names) never collide and stay the same
    from one build to the next.

    >>> ids = assign_ids([Path("/a/x.png"), Path("/b/x.png"), Path("/a/y.png")])
    >>> ids[Path("/a/y.png")], ids[Path("/a/x.png")] != ids[Path("/b/x.png")]
    ('y.png', True)
    """
    safe = {path: safe_file_name(path.name) for path in paths}
    names: dict[str, int] = {}
    for name in safe.values():
        names[name.lower()] = names.get(name.lower(), 0) + 1
    out = {}
    for path, name in safe.items():
        if names[name.lower()] > 1:
            digest = hashlib.sha1(str(path.parent).encode()).hexdigest()[:8]
            stem, dot, extension = name.partition(".")
            name = f"{stem}-{digest}{dot}{extension}"
        out[path] = name
    return out


class _LeftOut(ValueError):
    """An output left out, with the whole line that says why."""


def _failure(path: Path, exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        message = "not enough memory to make its views"
    elif isinstance(exc, OSError) and exc.strerror:
        message = exc.strerror
    elif isinstance(exc, ValueError | OSError):
        message = str(exc) or type(exc).__name__
    else:  # zlib, struct, Pillow...: a damaged file, most likely
        message = f"cannot be read ({type(exc).__name__}: {exc})"
    return f"{path}: {' '.join(message.split())}; left out"


def _stamp(output: scan.Output) -> list[list[int]]:
    stamp = []
    for path in (output.media, output.sidecar):
        info = path.stat()
        stamp.append([info.st_size, info.st_mtime_ns, info.st_ino])
    return stamp


def _listing(site: Path) -> set[str]:
    """The names, relative to the site, of what its item folders hold (listed once, not a call per file)."""
    names = set()
    for folder in ("thumbs", "media", "tiles"):
        with os.scandir(site / folder) as entries:
            names.update(f"{folder}/{entry.name}" for entry in entries)
    return names


def _present(listing: set[str], entry: dict[str, Any]) -> bool:
    return all(name in listing for name in entry["files"])


def _url(*parts: str) -> str:
    return "/".join(quote(part) for part in parts)


def _make_entry(
    site: Path,
    output: scan.Output,
    item_id: str,
    stamp: list[list[int]],
    catalog: dict[str, dict[str, str | None]],
    tile_above: int,
    threads: int,
) -> dict[str, Any]:
    """Read one item's sidecar, make its files (thumbnail, tiles, media links) and its entry: the row and
    detail the site shows, with the files it owns. (Sidecars are read here, on the worker, so that no more
    than a few are held at once.)"""
    try:
        sidecar = scan.read_sidecar(output.sidecar)
    except ValueError as exc:
        raise _LeftOut(str(exc)) from None
    except OSError as exc:
        raise _LeftOut(_failure(output.sidecar, exc)) from None
    fields = scan.describe(sidecar, output.media.name)
    digest = hashlib.sha1(json.dumps(stamp).encode()).hexdigest()[:8]
    tiles_name = f"{item_id}-{digest}_files"
    task = Task(output.media, fields.kind, site / "thumbs" / f"{item_id}.webp", site / "tiles" / tiles_name,
                tile_above, threads)  # fmt: skip
    made: Made = make(task, _url("tiles", tiles_name) + "/")
    files = [f"thumbs/{item_id}.webp", f"media/{item_id}", f"media/{item_id}.json"]
    _place(output.media, site / "media" / item_id)
    _place(output.sidecar, site / "media" / f"{item_id}.json")
    full = _url("media", item_id)
    view = dict(made.view)
    if view["type"] == "dzi":
        files.append(f"tiles/{tiles_name}")
    elif view["type"] == "video":
        view.update(url=full, poster=_url("thumbs", f"{item_id}.webp"))
    else:
        view["url"] = full
    detail: dict[str, Any] = {
        "name": output.media.name,
        "kind": fields.kind,
        "full": full,
        "sidecar": _url("media", f"{item_id}.json"),
        "bytes": stamp[0][0],
        "width": made.size[0],
        "height": made.size[1],
        "view": view,
        "products": _products(site, sidecar, catalog),
        "sections": scan.panel(sidecar, fields, made.size, made.extra),
    }
    projection = sidecar.get("projection")
    if fields.kind == "panorama" and isinstance(projection, dict):
        detail["projection"] = {k: v for k, v in projection.items() if not isinstance(v, dict | list)}
    return {
        "id": item_id,
        "stamp": stamp,
        "fields": {
            "kind": fields.kind,
            "mission": fields.mission,
            "instrument": fields.instrument,
            "camera": fields.camera,
            "mode": fields.mode,
            "sequence": fields.sequence,
            "time": fields.time,
            "products": list(fields.products),
        },
        "thumb": list(made.thumb_size),
        "detail": detail,
        "files": files,
    }


def _place(source: Path, target: Path) -> None:
    """Put ``source`` into the site as ``target``: a hard link where the file system allows one, else a
    copy; either way under a temporary name first, renamed into place."""
    try:
        if target.exists() and os.path.samefile(source, target):
            return
    except OSError:
        pass
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{id(target)}.part")
    try:
        os.link(source, temporary)
    except OSError:  # another file system, or one without hard links
        with open(source, "rb") as stream, atomic_file(target) as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        return
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _products(site: Path, sidecar: dict[str, Any], catalog: dict[str, dict[str, str | None]]) -> list[dict]:
    """The original products of an item, each with a link relative to the site where the file is there."""
    out = []
    for text in scan.source_paths(sidecar):
        name = text.replace("\\", "/").rsplit("/", 1)[-1]
        path = text if os.path.isabs(text) and os.path.isfile(text) else None
        if path is None:
            from farside.products.names import parse_name

            try:
                row = catalog.get(parse_name(name).product_id, {})
            except ValueError:
                row = {}
            path = next(
                (p for p in (row.get("label_path"), row.get("data_path")) if p and os.path.isfile(p)), None
            )
        href = None
        if path is not None:
            try:
                href = quote(Path(os.path.relpath(path, site)).as_posix())
            except ValueError:  # another drive (Windows): no relative path
                href = Path(path).resolve().as_uri()
        out.append({"name": name, "path": path or text, "href": href})
    return out


def _catalog(db: str | os.PathLike[str] | None) -> dict[str, dict[str, str | None]]:
    """Label and data paths of every product in a catalog (opened read only), by product id: a release's
    catalog is small beside its images, and workers then look products up without a connection each."""
    if db is None:
        return {}
    uri = Path(db).resolve().as_uri() + "?mode=ro"
    rows: dict[str, dict[str, str | None]] = {}
    with sqlite3.connect(uri, uri=True) as connection:
        for product_id, label, data in connection.execute(
            "SELECT product_id, label_path, data_path FROM products"
        ):
            if product_id:
                rows[product_id] = {"label_path": label, "data_path": data}
    return rows


# --- the site's files -----------------------------------------------------------------------------------


def _load_manifest(site: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _epoch(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso).timestamp())


def ordered(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries in the index's order: grouped by mission, instrument and sequence, groups by their first
    time, items by time within a group (then by id); items without a time last."""
    entries = list(entries)

    def group(entry: dict[str, Any]) -> tuple[str, str, str]:
        f = entry["fields"]
        return f["mission"], f["instrument"], f["sequence"]

    def when(entry: dict[str, Any]) -> tuple[bool, str]:
        t = entry["fields"]["time"]
        return t is None, t or ""

    first: dict[tuple[str, str, str], tuple[bool, str]] = {}
    for entry in entries:
        key = group(entry)
        first[key] = min(first.get(key, (True, "")), when(entry)) if key in first else when(entry)
    return sorted(entries, key=lambda e: (first[group(e)], group(e), when(e), e["id"]))


def _shard_count(items: int) -> int:
    count = 1
    while count * ITEMS_PER_SHARD < items:
        count *= 2
    return count


def _share(entry: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """The entry with each large section of its detail (``SHARED_SECTION_BYTES`` or more, as JSON) put in
    ``sections`` under a digest of it and named by that digest: thousands of frames processed alike have
    the same settings, which then take room once in the manifest and once in each detail shard."""
    shared = []
    for section in entry["detail"]["sections"]:
        text = json.dumps(section, separators=(",", ":"), ensure_ascii=False)
        if len(text) < SHARED_SECTION_BYTES:
            shared.append(section)
            continue
        digest = hashlib.sha1(text.encode()).hexdigest()[:16]
        sections.setdefault(digest, section)
        shared.append(digest)
    entry["detail"]["sections"] = shared
    return entry


def _write_site(
    site: Path,
    entries: dict[str, dict[str, Any]],
    sections: dict[str, Any],
    manifest: dict[str, Any],
    options: dict[str, Any],
    title: str,
) -> None:
    rows = ordered(entries.values())
    shards = _shard_count(len(rows))
    shard_of = {e["id"]: zlib.crc32(e["id"].encode()) % shards for e in rows}
    details: list[dict[str, Any]] = [{} for _ in range(shards)]
    for entry in sorted(rows, key=lambda e: e["id"]):
        details[shard_of[entry["id"]]][entry["id"]] = entry["detail"]
    shard_names = []
    for detail in details:
        used = sorted({s for d in detail.values() for s in d["sections"] if isinstance(s, str)})
        payload = (
            "FARSIDE_DETAIL("
            + json.dumps(detail, separators=(",", ":"), ensure_ascii=False)
            + ","
            + json.dumps({d: sections[d] for d in used}, separators=(",", ":"), ensure_ascii=False)
            + ");\n"
        ).encode()
        name = f"data/detail/{hashlib.sha1(payload).hexdigest()[:16]}.js"
        if not (site / name).is_file():
            write_atomic(site / name, payload)
        shard_names.append(name)
    _copy_static(site / "assets")
    values: dict[str, list[str]] = {column: [] for column in CODED}
    codes: dict[str, dict[str, int]] = {column: {} for column in CODED}

    def code(column: str, value: str) -> int:
        table = codes[column]
        if value not in table:
            table[value] = len(values[column])
            values[column].append(value)
        return table[value]

    items = []
    for entry in rows:
        f = entry["fields"]
        # A landing movie lists thousands of frames: the first ones are enough to find it by.
        extra = [p for p in f["products"][:SEARCH_NAMES] if p not in entry["id"]]
        items.append([
            entry["id"], *(code(column, f[column]) for column in CODED), f["sequence"], _epoch(f["time"]),
            *entry["thumb"], shard_of[entry["id"]], " ".join(extra),
        ])  # fmt: skip
    from farside import __version__

    data = {
        "format": FORMAT,
        "title": title,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "software": f"farside {__version__}",
        "columns": list(COLUMNS),
        "values": values,
        "shards": shard_names,
        "rows": items,
    }
    script = (
        "window.FARSIDE_GALLERY = " + json.dumps(data, separators=(",", ":"), ensure_ascii=False) + ";\n"
    ).encode()
    write_atomic(site / "data" / "items.js", script)
    page = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=html.escape(title),
        data_version=hashlib.sha1(script).hexdigest()[:12],
        assets_version=_assets_version(),
    )
    write_atomic(site / "index.html", page.encode("utf-8"))
    kept_shards = set(shard_names) | set(manifest.get("shards", []))
    new_manifest = {
        "format": FORMAT,
        "options": options,
        "title": title,
        "assets": _assets_version(),
        "shards": shard_names,
        "previous_shards": sorted(set(manifest.get("shards", [])) - set(shard_names)),
        "items": entries,
        "sections": {
            d: sections[d]
            for d in sorted(
                {s for e in entries.values() for s in e["detail"]["sections"] if isinstance(s, str)}
            )
        },
    }
    write_atomic(site / MANIFEST, json.dumps(new_manifest, separators=(",", ":")).encode())
    _remove_unused(site, entries, manifest, kept_shards)


def _complete(site: Path, manifest: dict[str, Any]) -> bool:
    """Whether the site has what its manifest says was written last: nothing to write again when no item
    changed."""
    names = ["index.html", "data/items.js", *manifest.get("shards", [])]
    return all((site / name).is_file() for name in names)


def _remove_unused(
    site: Path, entries: dict[str, dict[str, Any]], manifest: dict[str, Any], shards: set[str]
) -> None:
    """Remove what no item uses any more: files of items gone or remade under other names, detail shards
    older than the previous build's, and partial files a build that was stopped left behind."""
    used = {name for entry in entries.values() for name in entry["files"]}
    for entry in manifest.get("items", {}).values():
        for name in entry.get("files", []):
            if name not in used:
                _remove(site / name)
    for path in (site / "data" / "detail").glob("*.js"):
        if f"data/detail/{path.name}" not in shards:
            path.unlink(missing_ok=True)
    for folder in ("thumbs", "tiles", "media", "data", "data/detail"):
        for path in (site / folder).glob(".*.part"):
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _assets_version() -> str:
    digest = hashlib.sha1()
    for name in ("app.js", "style.css"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


def _copy_static(target: Path) -> None:
    """The package's static files into the site's ``assets/``, each written only if it differs."""
    for source in sorted(STATIC.rglob("*")):
        if not source.is_file() or source.name.startswith("."):
            continue
        destination = target / source.relative_to(STATIC)
        payload = source.read_bytes()
        if destination.is_file() and destination.read_bytes() == payload:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(destination, payload)
