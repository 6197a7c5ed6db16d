"""Download the products of a Lunar and Planetary Data Release System download list.

The portal's ``downloadResult.txt`` has three header lines of Chinese text, then one URL per line; each
product appears as two lines (data file and label). The portal drops connections during long downloads, so
every file is fetched into a temporary name, resumed with HTTP range requests, retried with exponential
back-off, and renamed only when complete. Afterwards each data file is checked against its label's axes.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from farside.errors import FarsideError, ProductError

HEADER_LINES = 3
REPORT_NAME = "fetch-report.json"
_CHUNK = 1 << 20
_FINAL_STATUS = {400, 401, 403, 404, 405, 410, 451}  # retrying cannot help


class DownloadError(Exception):
    """A download that failed for good; ``str()`` is one line naming the URL and the reason."""


def read_download_list(path: str | os.PathLike[str]) -> list[str]:
    """URLs from a portal download list, in order, without duplicates (headers and blank lines skipped)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    urls: list[str] = []
    for line in text.splitlines()[HEADER_LINES:]:
        line = line.strip()
        if line.lower().startswith(("http://", "https://")) and line not in urls:
            urls.append(line)
    if not urls:
        raise FarsideError(f"{path}: no URLs after the {HEADER_LINES} header lines")
    return urls


def file_name(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name or name in (".", ".."):
        raise DownloadError(f"{url}: no file name in the URL")
    return name


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


def download(url: str, out_dir: Path, retries: int = 5, backoff: float = 1.0, timeout: float = 60.0) -> str:
    """Download one URL into ``out_dir``; returns ``"downloaded"`` or ``"skipped"`` (already complete).

    Raises :class:`DownloadError` when it fails for good.
    """
    target = out_dir / file_name(url)
    if target.exists():
        return "skipped"
    part = _part_path(target)
    last_error = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        start = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "farside"})
        if start:
            request.add_header("Range", f"bytes={start}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if start and response.status != 206:
                    start = 0  # the server ignored the range: start again
                total = _total_size(response, start)
                with open(part, "r+b" if start else "wb") as stream:
                    stream.seek(start)
                    stream.truncate()
                    while chunk := response.read(_CHUNK):
                        stream.write(chunk)
            size = part.stat().st_size
            if total is not None and size != total:
                last_error = f"connection closed after {size:,} of {total:,} bytes"
                continue
            os.replace(part, target)
            return "downloaded"
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file is not a prefix the server recognises
                part.unlink(missing_ok=True)
                last_error = "HTTP 416 for the resumed range"
                continue
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code in _FINAL_STATUS:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: {last_error}") from None
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            last_error = " ".join(str(reason).split()) or type(exc).__name__
    raise DownloadError(f"{url}: gave up after {retries + 1} attempts: {last_error}")


@dataclass
class FetchResult:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    report: Path | None = None


def verify(out_dir: Path, names: list[str]) -> list[str]:
    """One line per fetched product whose data does not fit its label (or lacks its partner)."""
    from farside.catalog import discover
    from farside.products.reader import read

    wanted = set(names)
    problems = []
    for candidate in discover([out_dir]):
        files = {p.name for p in (candidate.label_path, candidate.data_path) if p is not None}
        if not files & wanted:
            continue
        try:
            read(candidate.path)
        except ProductError as exc:
            problems.append(str(exc))
    return problems


def fetch(
    urls: list[str],
    out_dir: str | os.PathLike[str],
    workers: int = 4,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> FetchResult:
    """Download ``urls`` concurrently into ``out_dir``, then verify each product against its label."""
    from farside.output import write_atomic

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    result = FetchResult()

    def one(url: str) -> tuple[str, str, str | None]:
        try:
            return url, download(url, folder, retries, backoff, timeout), None
        except DownloadError as exc:
            return url, "failed", str(exc)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for url, status, error in pool.map(one, urls):
            if error:
                result.failures.append(error)
            else:
                (result.downloaded if status == "downloaded" else result.skipped).append(url)
    fetched = [file_name(u) for u in result.downloaded + result.skipped]
    result.failures.extend(verify(folder, fetched))
    report = {"downloaded": result.downloaded, "skipped": result.skipped, "failures": result.failures}
    result.report = write_atomic(folder / REPORT_NAME, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return result
