"""Download the products of a Lunar and Planetary Data Release System download list.

The portal's ``downloadResult.txt`` has three header lines of Chinese text, then one URL per line; each
product appears as two lines (data file and label). The portal drops connections during long downloads, so
every file is fetched into a temporary name, resumed with HTTP range requests, retried with exponential
back-off, and renamed only when complete. Afterwards each data file is checked against its label's axes.

Where files go
--------------
Each URL is saved under the last segment of its path, unquoted: ``https://host/a/b/X.2B`` becomes
``OUT/X.2B``. A name that cannot be a plain file name (empty, ``.`` or ``..``, starting with ``.``, holding a
``/`` or ``\\`` or a NUL or other control character once unquoted, or longer than ``MAX_NAME_BYTES``) is
never written: the URL is reported as a failure.

Names are compared as a case-insensitive file system would, with a trailing ``L`` dropped so that a label
(``X.2BL``) goes with its data file (``X.2B``). When URLs from different folders of the server share such a
name, or one URL is named like the report (``fetch-report.json``, a name reserved for the report in
``OUT``), every file of that name goes into a subfolder of ``OUT`` named after its URL's folder: the path's
segments, unquoted, with characters other than letters, digits, ``.``, ``-`` and ``_`` replaced by ``_``,
joined with ``_`` (``https://host/a/b/X.2B`` becomes ``OUT/a_b/X.2B``; the server's root folder is
``_root``). A label and its data file from the same URL folder therefore always land in the same folder.
Should two URL folders reduce to the same subfolder name, or one URL folder hold the same name twice (URLs
that differ only in their query, say), the later ones get ``~2``, ``~3``... appended to the subfolder name.
Subfolder names never equal a top-level download, the report, or a file already in ``OUT``. The same list
always gives the same places, so a second run finds what the first completed; a file that a list without the
collision put at the top level is fetched again into its subfolder. Every target is checked to lie inside
``OUT``.

The report
----------
``OUT/fetch-report.json`` is written atomically at the end of every run: also when every line failed, when
verification raised, and when the run is interrupted (then with ``"interrupted": true``, before the
``KeyboardInterrupt`` goes on). It lists ``downloaded``, ``skipped`` (already complete) and ``failures`` as in
:class:`FetchResult`, ``skipped_lines`` (lines of the list that were not fetched: line number, text, reason)
and ``files`` (each URL's path relative to ``OUT``).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from farside.errors import FarsideError

HEADER_LINES = 3
REPORT_NAME = "fetch-report.json"
MAX_NAME_BYTES = 240  # the part file ".NAME.part" must fit the usual 255-byte limit as well
_CHUNK = 1 << 20
_FINAL_STATUS = {400, 401, 403, 404, 405, 410, 451}  # retrying cannot help


class DownloadError(Exception):
    """A download that failed for good; ``str()`` is one line naming the URL and the reason."""


MAX_LIST_BYTES = 64 << 20  # a portal list of a whole mission is a few MiB; anything larger is not a list
_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class SkippedLine:
    """A line of a download list that is not fetched: ``str()`` is one line with its number and the reason."""

    number: int
    text: str
    reason: str
    source: str = ""  # the list's file name

    def __str__(self) -> str:
        where = f"{self.source} line {self.number}" if self.source else f"line {self.number}"
        return f"{where}: skipped {_show(self.text)}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.source, "line": self.number, "text": self.text, "reason": self.reason}


class DownloadList(list[str]):
    """The URLs of a download list, in order, with the lines that were skipped in ``skipped_lines``."""

    def __init__(self, urls: Iterable[str] = (), skipped_lines: Iterable[SkippedLine] = ()) -> None:
        super().__init__(urls)
        self.skipped_lines: list[SkippedLine] = list(skipped_lines)


def _show(text: str, limit: int = 160) -> str:
    """``text`` quoted on one line (control characters escaped), shortened to about ``limit`` characters."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    return repr(shown)


def _show_path(path: object) -> str:
    try:
        text = os.fsdecode(path)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(path)
    return text if text.isprintable() else repr(text)


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched over HTTP(S), or None when it can."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for an impossible port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme.lower() not in _SCHEMES:
        if parts.scheme and url[len(parts.scheme) :].startswith("://"):
            return f"{parts.scheme}:// URLs are not fetched, only http:// and https://"
        return "not a URL"
    if any(not ch.isprintable() or ch.isspace() for ch in url):
        return "the URL holds spaces or control characters"
    if not parts.hostname:
        return "no host in the URL"
    return None


def _read_list_bytes(path: object) -> bytes:
    """The bytes of a regular file of at most MAX_LIST_BYTES; FarsideError for anything else."""
    shown = _show_path(path)
    try:
        name = os.fspath(path)  # type: ignore[arg-type]
    except TypeError:
        raise FarsideError(f"{shown}: not a file name") from None
    try:
        info = os.stat(name)
        if not stat.S_ISREG(info.st_mode):
            raise FarsideError(f"{shown}: {_kind(info.st_mode)}, not a download list")
        if info.st_size > MAX_LIST_BYTES:
            raise FarsideError(
                f"{shown}: {info.st_size:,} bytes; a download list is at most {MAX_LIST_BYTES:,}"
            )
        # O_NONBLOCK: should the name have been swapped for a FIFO since the stat, opening it must not hang.
        handle = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(handle, "rb") as stream:
            opened = os.fstat(stream.fileno())
            if not stat.S_ISREG(opened.st_mode):
                raise FarsideError(f"{shown}: not a regular file, not a download list")
            # Sized from the file, not the limit, so a small list costs a small buffer; one that grew since
            # the stat is still caught by the extra byte.
            raw = stream.read(min(opened.st_size, MAX_LIST_BYTES) + 1)
            if len(raw) > opened.st_size:  # it grew since: read on, up to the limit
                raw += stream.read(MAX_LIST_BYTES + 1 - len(raw))
    except FarsideError:
        raise
    except OSError as exc:
        raise FarsideError(f"{shown}: cannot be read: {exc.strerror or type(exc).__name__}") from None
    except ValueError as exc:  # a NUL in the name, a name the file system encoding cannot hold
        raise FarsideError(f"{shown}: not a usable file name ({exc})") from None
    if len(raw) > MAX_LIST_BYTES:
        raise FarsideError(f"{shown}: more than {MAX_LIST_BYTES:,} bytes; not a download list")
    return raw


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _decode(raw: bytes) -> str | None:
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")  # the portal's Chinese Windows default


def read_download_list(path: str | os.PathLike[str]) -> DownloadList:
    """URLs from a portal download list, in order, without duplicates.

    The three header lines and blank lines are passed over silently (a header line that holds ``://`` is
    recorded as skipped); every other line that is not an http(s) URL, and every repeated URL, is recorded
    in ``skipped_lines`` as a :class:`SkippedLine`.

    Raises :class:`~farside.errors.FarsideError` (one line naming the file and the problem) and nothing
    else: for a missing or unreadable file, a folder, FIFO, device or other non-regular file, a file over
    ``MAX_LIST_BYTES``, binary content, or a list without a single URL.
    """
    raw = _read_list_bytes(path)
    shown = _show_path(path)
    text = _decode(raw)
    if text is None or "\x00" in text:
        raise FarsideError(f"{shown}: binary content, not a download list")
    urls = DownloadList()
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or (number <= HEADER_LINES and "://" not in line):
            continue
        if number <= HEADER_LINES:  # a list without the header, say: say so rather than drop the URL
            problem = f"one of the {HEADER_LINES} header lines, not fetched"
        else:
            problem = _url_problem(line)
        if problem is None and line in seen:
            problem = f"repeats line {seen[line]}"
        if problem is not None:
            urls.skipped_lines.append(SkippedLine(number, line, problem, shown))
            continue
        seen[line] = number
        urls.append(line)
    if not urls:
        raise FarsideError(f"{shown}: no http(s) URLs after the {HEADER_LINES} header lines")
    return urls


def _url_folder(url: str) -> tuple[str, str, str]:
    """What identifies the server folder of ``url``: scheme, host and the path up to its last ``/``."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rpartition("/")[0]


def file_name(url: str) -> str:
    """The file name ``url`` is saved under; :class:`DownloadError` when it cannot be a plain file name."""
    try:
        path = urllib.parse.urlsplit(url).path
    except ValueError as exc:
        raise DownloadError(f"{_show(url)}: not a valid URL ({exc})") from None
    name = urllib.parse.unquote(path.rpartition("/")[2], errors="replace")
    problem = None
    if not name:
        problem = "no file name in the URL"
    elif name in (".", ".."):
        problem = f"the file name is {name!r}"
    elif "\x00" in name:
        problem = "the file name holds a NUL byte (%00)"
    elif "/" in name or "\\" in name:
        problem = "the file name holds a path separator once unquoted"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        problem = "the file name holds control characters"
    elif name.startswith("."):
        problem = "the file name starts with '.' (hidden and temporary files are not written)"
    elif (size := len(name.encode("utf-8", errors="replace"))) > MAX_NAME_BYTES:
        problem = f"the file name is {size} bytes long (at most {MAX_NAME_BYTES})"
    if problem:
        raise DownloadError(f"{_show(url)}: {problem}; not downloaded")
    return name


def _folder_name(url: str) -> str:
    """A subfolder name made from the folder part of ``url``'s path (see the module docstring)."""
    folder = urllib.parse.urlsplit(url).path.rpartition("/")[0]
    segments = [urllib.parse.unquote(s, errors="replace") for s in folder.split("/")]
    cleaned = [re.sub(r"[^A-Za-z0-9._-]", "_", s) for s in segments if s and s not in (".", "..")]
    name = "_".join(cleaned).lstrip(".") or "_root"
    if len(name) > 100:
        name = name[:100]
    return name


def plan(urls: Iterable[str], out_dir: str | os.PathLike[str]) -> tuple[dict[str, Path], dict[str, str]]:
    """Where each URL is saved (see the module docstring), and why the others cannot be saved.

    Returns ``(targets, refused)``: URL to path inside ``out_dir``, and URL to a one-line failure.
    """
    folder = Path(out_dir)
    names: dict[str, str] = {}
    refused: dict[str, str] = {}
    for url in dict.fromkeys(urls):
        try:
            problem = _url_problem(url)
            if problem:
                raise DownloadError(f"{_show(url)}: {problem}; not downloaded")
            names[url] = file_name(url)
        except DownloadError as exc:
            refused[url] = str(exc)

    def key(name: str) -> str:
        folded = name.casefold()
        return folded[:-1] if folded.endswith("l") else folded

    groups: dict[str, list[str]] = {}
    for url, name in names.items():
        groups.setdefault(key(name), []).append(url)
    top: set[str] = set()
    nested: dict[str, None] = {}
    reserved = REPORT_NAME.casefold()
    for members in groups.values():
        folded = [names[u].casefold() for u in members]
        alone = len({_url_folder(u) for u in members}) == 1 and len(set(folded)) == len(folded)
        if alone and reserved not in folded:
            top.update(folded)
        else:
            nested.update(dict.fromkeys(members))
    # Subfolder names must not meet a top-level download, the report or a file left by an earlier run.
    used = top | {reserved}
    slots: dict[tuple[tuple[str, str, str], int], str] = {}
    taken: dict[str, set[str]] = {}  # subfolder -> names in it (case folded)
    targets: dict[str, Path] = {}
    for url in names:
        if url not in nested:
            targets[url] = folder / names[url]
    for url in (u for u in names if u in nested):  # in list order: the same list gives the same folders
        where, name, slot = _url_folder(url), names[url].casefold(), 1
        while True:
            if (where, slot) not in slots:
                base = _folder_name(url)
                candidate, n = base, 1
                while candidate.casefold() in used or not _usable_folder(folder / candidate):
                    n += 1
                    candidate = f"{base}~{n}"
                used.add(candidate.casefold())
                slots[where, slot] = candidate
            sub = slots[where, slot]
            if name not in taken.setdefault(sub, set()):
                taken[sub].add(name)
                targets[url] = folder / sub / names[url]
                break
            slot += 1
    return {url: targets[url] for url in names}, refused


def _usable_folder(path: Path) -> bool:
    """Whether ``path`` is a folder or nothing yet (not a file left by an earlier run)."""
    try:
        return path.is_dir() or not (path.exists() or path.is_symlink())
    except OSError:
        return False


def _part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.part")


def _total_size(response: object, start: int) -> int | None:
    headers = response.headers  # type: ignore[attr-defined]
    content_range = headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


class RedirectRefused(Exception):
    """The server redirected to a URL that is not http(s)."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib's own handler also follows ``ftp://``)."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        location = headers.get("location") or headers.get("uri") or ""
        try:
            target = urllib.parse.urljoin(req.full_url, location)
            scheme = urllib.parse.urlsplit(target).scheme.lower()
        except ValueError:
            target, scheme = location, ""
        if scheme not in _SCHEMES:
            fp.close()
            raise RedirectRefused(
                f"HTTP {code} redirect to {_show(target)} refused: only http(s) is followed"
            )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)
_ASCII_SAFE = "".join(chr(c) for c in range(33, 127))


class _Interrupted(Exception):
    pass


def download(
    url: str,
    out_dir: Path,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    *,
    target: Path | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Download one URL into ``out_dir`` (or to ``target``); returns ``"downloaded"`` or ``"skipped"``.

    ``"skipped"`` means the file is already complete. Raises :class:`DownloadError` when it fails for good,
    also for a URL that is not http(s) or whose file name is unsafe (see :func:`file_name`).
    """
    problem = _url_problem(url)
    if problem:
        raise DownloadError(f"{_show(url)}: {problem}")
    if target is None:
        target = Path(out_dir) / file_name(url)
    try:
        if target.is_file():
            return "skipped"
        if target.exists() or target.is_symlink():
            raise DownloadError(f"{url}: {target} exists and is not a file")
    except OSError as exc:
        raise DownloadError(f"{url}: {target}: {exc.strerror or exc}") from None
    part = _part_path(target)
    request_url = urllib.parse.quote(url, safe=_ASCII_SAFE)  # non-ASCII characters as UTF-8 escapes
    last_error = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            _sleep(backoff * 2 ** (attempt - 1), stop)
        if stop is not None and stop.is_set():
            raise DownloadError(f"{url}: interrupted; the part file is resumed next time")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            start = part.stat().st_size if part.is_file() else 0
            request = urllib.request.Request(request_url, headers={"User-Agent": "farside"})
            if start:
                request.add_header("Range", f"bytes={start}-")
            with _OPENER.open(request, timeout=timeout) as response:
                if start and response.status != 206:
                    start = 0  # the server ignored the range: start again
                total = _total_size(response, start)
                with open(part, "r+b" if start else "wb") as stream:
                    stream.seek(start)
                    stream.truncate()
                    while chunk := response.read1(_CHUNK):  # what has come: the stop is seen soon
                        stream.write(chunk)
                        if stop is not None and stop.is_set():
                            raise _Interrupted
            size = part.stat().st_size
            if total is not None and size != total:
                last_error = f"connection closed after {size:,} of {total:,} bytes"
                continue
            os.replace(part, target)
            return "downloaded"
        except _Interrupted:
            raise DownloadError(f"{url}: interrupted; the part file is resumed next time") from None
        except RedirectRefused as exc:
            raise DownloadError(f"{url}: {exc}") from None
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416:  # our partial file is not a prefix the server recognises
                part.unlink(missing_ok=True)
                last_error = "HTTP 416 for the resumed range"
                continue
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code in _FINAL_STATUS:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: {last_error}") from None
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            last_error = " ".join(str(reason).split()) or type(exc).__name__
    raise DownloadError(f"{url}: gave up after {retries + 1} attempts: {last_error}")


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


@dataclass
class FetchResult:
    """What :func:`fetch` did; ``failures`` and ``skipped_lines`` are one line each, ready to print."""

    downloaded: list[str] = field(default_factory=list)  # URLs
    skipped: list[str] = field(default_factory=list)  # URLs whose file was already complete
    failures: list[str] = field(default_factory=list)
    skipped_lines: list[SkippedLine] = field(default_factory=list)  # lines of the list not fetched
    files: dict[str, Path] = field(default_factory=dict)  # URL -> where it is (or would be) saved
    interrupted: bool = False
    report: Path | None = None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def verify(out_dir: Path, names: Iterable[str | os.PathLike[str]]) -> list[str]:
    """One line per fetched product whose data does not fit its label (or lacks its partner).

    ``names`` are the fetched files, relative to ``out_dir``. Nothing is raised: any exception from
    finding or reading a product becomes a line.
    """
    from farside.catalog import discover
    from farside.products.reader import read

    paths = [Path(out_dir) / n for n in names]
    try:
        candidates = discover(p for p in paths if p.is_file())
    except Exception as exc:
        return [f"{out_dir}: verification could not start: {type(exc).__name__}: {_one_line(exc)}"]
    problems = []
    for candidate in candidates:
        try:
            read(candidate.path)
        except FarsideError as exc:
            problems.append(_one_line(exc))
        except (OSError, ValueError) as exc:
            problems.append(f"{candidate.path}: {_one_line(exc)}")
        except Exception as exc:  # a bug in the reader must not cost the report
            problems.append(f"{candidate.path}: {type(exc).__name__}: {_one_line(exc)}")
    return problems


def fetch(
    urls: Iterable[str],
    out_dir: str | os.PathLike[str],
    workers: int = 4,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    skipped_lines: Iterable[SkippedLine] | None = None,
) -> FetchResult:
    """Download ``urls`` concurrently into ``out_dir``, then verify each product against its label.

    ``skipped_lines`` (by default those of a :class:`DownloadList` passed as ``urls``) are carried into
    the result and the report. Where files go and what the report holds: see the module docstring. The
    report is written in every case, also on ``KeyboardInterrupt``, which is raised again afterwards.
    """
    folder = Path(out_dir)
    if skipped_lines is None:
        skipped_lines = getattr(urls, "skipped_lines", ())
    result = FetchResult(skipped_lines=list(skipped_lines))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FarsideError(f"{folder}: cannot create the output folder: {exc.strerror or exc}") from None
    urls = list(dict.fromkeys(urls))
    outcome: dict[str, tuple[str, str | None]] = {}
    checks: list[str] = []  # verification problems
    stop = threading.Event()
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        targets, refused = plan(urls, folder)
        result.files = targets
        for url, reason in refused.items():
            outcome[url] = ("failed", reason)
        futures: dict[Future[str], str] = {}
        for url, target in targets.items():
            if not _inside(target, folder):
                outcome[url] = ("failed", f"{url}: {target} lies outside {folder}; not downloaded")
                continue
            job = pool.submit(download, url, folder, retries, backoff, timeout, target=target, stop=stop)
            futures[job] = url
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                url = futures[future]
                try:
                    outcome[url] = (future.result(), None)
                except DownloadError as exc:
                    outcome[url] = ("failed", str(exc))
                except Exception as exc:
                    outcome[url] = ("failed", f"{url}: {type(exc).__name__}: {_one_line(exc)}")
        _collect(result, urls, outcome, checks)
        fetched = [targets[u].relative_to(folder) for u in (*result.downloaded, *result.skipped)]
        checks.extend(verify(folder, fetched))
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(exc, Exception):  # a bug: still say what was done before it
            checks.append(f"{folder}: the run stopped early: {type(exc).__name__}: {_one_line(exc)}")
        else:
            result.interrupted = True
        _collect(result, urls, outcome, checks)
        _write_report(result, folder)
        raise
    pool.shutdown()
    _collect(result, urls, outcome, checks)
    _write_report(result, folder)
    return result


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop, say
        return False


def _collect(
    result: FetchResult, urls: list[str], outcome: dict[str, tuple[str, str | None]], checks: list[str]
) -> None:
    """Fill the result's lists in the order of ``urls``; verification problems come last."""
    result.downloaded, result.skipped, result.failures = [], [], []
    for url in urls:
        status, error = outcome.get(url, ("", None))
        if status == "downloaded":
            result.downloaded.append(url)
        elif status == "skipped":
            result.skipped.append(url)
        elif error:
            result.failures.append(error)
        elif result.interrupted:
            result.failures.append(f"{url}: interrupted before it was complete")
    result.failures.extend(checks)


def _write_report(result: FetchResult, folder: Path) -> None:
    from farside.output import write_atomic

    def relative(path: Path) -> str:
        try:
            return path.relative_to(folder).as_posix()
        except ValueError:
            return str(path)

    report = {
        "downloaded": result.downloaded,
        "skipped": result.skipped,
        "failures": result.failures,
        "skipped_lines": [line.as_dict() for line in result.skipped_lines],
        "files": {url: relative(path) for url, path in result.files.items()},
        "interrupted": result.interrupted,
    }
    payload = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8", errors="replace")
    try:
        result.report = write_atomic(folder / REPORT_NAME, payload)
    except OSError as exc:
        result.report = None
        result.failures.append(f"{folder / REPORT_NAME}: cannot write the report: {exc.strerror or exc}")
