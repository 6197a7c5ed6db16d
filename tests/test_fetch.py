"""farside fetch against a local HTTP server (127.0.0.1 only) that serves fixture products, drops
connections mid-file, and answers 403, 404 and 500."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import kodak

from farside.errors import FarsideError
from farside.fetch import MAX_LIST_BYTES, DownloadError, download, fetch, read_download_list
from farside.synthetic import sequence_start, write_product

HEADER = "数据下载结果\n以下为下载地址列表\n共计文件若干\n"


class Portal:
    """A tiny portal: files from a folder, with faults keyed by file name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, str] = {}
        self.redirects: dict[str, str] = {}  # file name -> Location of a 302
        self.requests: Counter[str] = Counter()
        self.ranges: list[str] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                portal.requests[name] += 1
                if name in portal.redirects:
                    self.send_response(302)
                    self.send_header("Location", portal.redirects[name])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fault = portal.faults.get(name, "")
                if fault in ("403", "404") or (
                    fault == "500" or (fault == "500-once" and portal.requests[name] == 1)
                ):
                    code = int(fault[:3])
                    self.send_error(code)
                    return
                # /data/a/b/NAME serves portal.root/a/b/NAME where it exists, else portal.root/NAME
                rel = urllib.parse.unquote(self.path.split("/data/", 1)[-1])
                nested = portal.root / rel
                path = nested if "/" in rel and ".." not in rel and nested.is_file() else portal.root / name
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                start = 0
                if "Range" in self.headers:
                    portal.ranges.append(f"{name}:{self.headers['Range']}")
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if fault == "drop-once" and portal.requests[name] == 1:
                    self.wfile.write(body[start : start + len(body) // 3])  # then hang up mid-file
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body[start:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/data"

    def __enter__(self) -> Portal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "portal"
    labels = [
        write_product(kind, kodak(3 + i), root, shape=(96, 128, 3) if kind == "ce4-tcam" else (96, 128),
                      start=sequence_start(i))
        for i, kind in enumerate(["ce4-pcam-c", "ce4-pcam-q", "ce4-tcam", "ce4-lcam", "ce4-pcam-c"])
    ]  # fmt: skip
    with Portal(root) as portal:
        yield portal, labels


def _list(tmp_path: Path, portal: Portal, labels: list[Path], extra: tuple[str, ...] = ()) -> Path:
    lines = []
    for label in labels:
        lines += [f"{portal.base}/{label.name[:-1]}", f"{portal.base}/{label.name}"]
    listing = tmp_path / "downloadResult.txt"
    listing.write_text(HEADER + "\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return listing


def test_download_list_parsing(tmp_path):
    listing = tmp_path / "downloadResult.txt"
    listing.write_text(HEADER + "http://a/x.2B\nhttp://a/x.2BL\n\nhttp://a/x.2B\n", encoding="utf-8")
    assert read_download_list(listing) == ["http://a/x.2B", "http://a/x.2BL"]


def test_fetch_everything_despite_dropped_connections_and_transient_errors(tmp_path, served):
    portal, labels = served
    data_names = [label.name[:-1] for label in labels]
    portal.faults[data_names[0]] = "drop-once"
    portal.faults[data_names[2]] = "drop-once"
    portal.faults[labels[1].name] = "500-once"
    out = tmp_path / "downloads"
    result = fetch(read_download_list(_list(tmp_path, portal, labels)), out, workers=3, backoff=0.01)
    assert result.failures == [] and len(result.downloaded) == 10
    for label in labels:
        for name in (label.name, label.name[:-1]):
            assert (out / name).read_bytes() == (portal.root / name).read_bytes()
    # The dropped files were resumed with range requests, not fetched again from the start.
    assert any(r.startswith(data_names[0] + ":bytes=") and not r.endswith("=0-") for r in portal.ranges)
    assert portal.requests[labels[1].name] == 2
    assert not list(out.glob(".*.part"))
    again = fetch(read_download_list(_list(tmp_path, portal, labels)), out, backoff=0.01)
    assert len(again.skipped) == 10 and again.downloaded == []


def test_permanent_errors_and_bad_products_are_listed(tmp_path, served):
    portal, labels = served
    portal.faults[labels[0].name] = "403"
    portal.faults[labels[1].name[:-1]] = "500"
    truncated = portal.root / labels[3].name[:-1]
    truncated.write_bytes(truncated.read_bytes()[:100])  # the portal serves a truncated data file
    listing = _list(tmp_path, portal, labels, extra=(f"{portal.base}/CE4_GRAS_TCAM-I-143_missing.2C",))
    out = tmp_path / "downloads"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "farside",
            "fetch",
            str(listing),
            "-o",
            str(out),
            "--retries",
            "2",
            "--backoff",
            "0.01",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads((out / "fetch-report.json").read_text())
    failures = "\n".join(report["failures"])
    assert f"{labels[0].name}: HTTP 403" in failures
    assert f"{labels[1].name[:-1]}: gave up after 3 attempts: HTTP 500" in failures
    assert "missing.2C: HTTP 404" in failures
    assert truncated.name in failures and "truncated" in failures  # verified against its label
    assert portal.requests[labels[0].name] == 1  # 403 is final: no retries
    assert not (out / labels[0].name).exists() and not (out / labels[1].name[:-1]).exists()
    assert not list(out.glob(".*.part"))


def test_resume_a_part_file_left_by_an_earlier_run(tmp_path, served):
    portal, labels = served
    name = labels[2].name[:-1]
    out = tmp_path / "downloads"
    out.mkdir()
    body = (portal.root / name).read_bytes()
    (out / f".{name}.part").write_bytes(body[:5000])
    assert download(f"{portal.base}/{name}", out, backoff=0.01) == "downloaded"
    assert (out / name).read_bytes() == body
    assert portal.ranges == [f"{name}:bytes=5000-"]
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{portal.base}/nothing-here.2B", out, retries=1, backoff=0.01)


# --- the download list: only FarsideError, whatever the input ------------------------------------------


def _fails_cleanly(path: object) -> str:
    with pytest.raises(FarsideError) as caught:
        read_download_list(path)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_download_list_problems_raise_farside_error(tmp_path):
    assert "missing.txt" in _fails_cleanly(tmp_path / "missing.txt")
    assert "folder" in _fails_cleanly(tmp_path)
    assert "device" in _fails_cleanly("/dev/null")
    assert "not a file name" in _fails_cleanly(None)
    assert "file name" in _fails_cleanly(str(tmp_path / "a\x00b.txt"))
    assert "file name" in _fails_cleanly("\ud800.txt")
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    assert "loop.txt" in _fails_cleanly(loop)
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as stream:
        stream.truncate(MAX_LIST_BYTES + 1)  # sparse: costs no disk
    assert "bytes" in _fails_cleanly(huge)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(HEADER.encode() + b"http://a/x.2B\n\x00\x01\x02\xff\xfe")
    assert "binary" in _fails_cleanly(binary)
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(bytes(range(1, 256)) * 40)
    assert "no http(s) URLs" in _fails_cleanly(garbage)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.txt"
        locked.write_text(HEADER + "http://a/x.2B\n")
        locked.chmod(0)
        assert "cannot be read" in _fails_cleanly(locked)


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    outcome: list[str] = []
    reader = threading.Thread(target=lambda: outcome.append(_fails_cleanly(fifo)), daemon=True)
    reader.start()
    reader.join(10)  # opening a FIFO for reading blocks until a writer comes
    assert outcome and "FIFO" in outcome[0]


def test_download_list_fuzz_raises_only_farside_error(tmp_path):
    rng = random.Random(20190103)
    pieces = [b"http://a/x.2B", b"https://", b"ftp://a/b", b"\r\n", b"\n", b"%00", b"\xef\xbb\xbf"]
    pieces += [b"\xff\xfe", b"http://[::1/x", b"http://a:99999/x", "数据".encode("gb18030"), b" ", b"\x85"]
    listing = tmp_path / "fuzz.txt"
    for _ in range(400):
        if rng.random() < 0.5:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
        else:
            raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(30)))
        listing.write_bytes(raw)
        try:
            urls = read_download_list(listing)
        except FarsideError as exc:
            assert "\n" not in str(exc)
        else:
            assert urls and all(u.startswith(("http://", "https://")) for u in urls)
            assert all("\n" not in str(line) for line in urls.skipped_lines)


def test_utf16_list_with_a_byte_order_mark(tmp_path):
    listing = tmp_path / "downloadResult.txt"
    listing.write_bytes((HEADER + "http://a/x.2B\r\nhttp://a/x.2BL\r\n").encode("utf-16"))
    assert read_download_list(listing) == ["http://a/x.2B", "http://a/x.2BL"]


def test_urls_in_the_header_lines_are_reported(tmp_path):
    listing = tmp_path / "downloadResult.txt"
    listing.write_text("http://a/x.2B\nhttp://a/x.2BL\nhttp://a/y.2B\nhttp://a/y.2BL\n", encoding="utf-8")
    urls = read_download_list(listing)
    assert urls == ["http://a/y.2BL"]
    assert [(s.number, s.text) for s in urls.skipped_lines] == [
        (1, "http://a/x.2B"),
        (2, "http://a/x.2BL"),
        (3, "http://a/y.2B"),
    ]
    assert all("header" in s.reason for s in urls.skipped_lines)


# --- skipped lines are reported ----------------------------------------------------------------------


def test_lines_that_are_not_fetched_are_reported(tmp_path, served):
    portal, labels = served
    extra = (
        "ftp://127.0.0.1/data/x.2B",
        "file:///etc/passwd",
        "see the attached list",
        "http://[::1/x.2B",
        "https:///no-host.2B",
        f"{portal.base}/{labels[0].name}",  # a repeat
    )
    listing = _list(tmp_path, portal, labels, extra=extra)
    urls = read_download_list(listing)
    first = HEADER.count("\n") + 2 * len(labels) + 1
    assert [s.number for s in urls.skipped_lines] == list(range(first, first + len(extra)))
    assert [s.text for s in urls.skipped_lines] == list(extra)
    reasons = [s.reason for s in urls.skipped_lines]
    assert "ftp://" in reasons[0] and "file://" in reasons[1] and reasons[2] == "not a URL"
    assert "not a valid URL" in reasons[3] and "no host" in reasons[4]
    assert reasons[5] == f"repeats line {HEADER.count(chr(10)) + 2}"
    assert (
        str(urls.skipped_lines[1])
        == f"{listing} line {first + 1}: skipped 'file:///etc/passwd': {reasons[1]}"
    )
    out = tmp_path / "downloads"
    result = fetch(urls, out, backoff=0.01)
    assert result.failures == [] and len(result.downloaded) == 10
    assert result.skipped_lines == urls.skipped_lines
    report = json.loads((out / "fetch-report.json").read_text())
    assert [(s["line"], s["text"]) for s in report["skipped_lines"]] == [
        (first + i, text) for i, text in enumerate(extra)
    ]
    assert portal.requests.total() == 10


# --- unsafe file names fail alone --------------------------------------------------------------------


def test_unsafe_file_names_are_failures_and_the_rest_is_fetched(tmp_path, served):
    portal, labels = served
    bad = [
        ("x" * 300 + ".2B", "bytes long"),
        ("CE4%00.2B", "NUL"),
        ("a%2Fb.2B", "path separator"),
        ("..%2F..%2Fescaped.2B", "path separator"),
        ("%2E%2E", "'..'"),
        ("line%0Abreak.2B", "control characters"),
        (".hidden.2B", "starts with '.'"),
        ("", "no file name"),
    ]
    extra = tuple(f"{portal.base}/{name}" for name, _ in bad)
    listing = _list(tmp_path, portal, labels, extra=extra)
    before = set(tmp_path.rglob("*"))
    out = tmp_path / "downloads"
    result = fetch(read_download_list(listing), out, backoff=0.01)
    assert len(result.downloaded) == 10
    assert len(result.failures) == len(bad)
    for (_name, reason), failure in zip(bad, result.failures, strict=True):
        assert reason in failure and "\n" not in failure
    report = json.loads((out / "fetch-report.json").read_text())
    assert report["failures"] == result.failures
    created = set(tmp_path.rglob("*")) - before
    assert all(p == out or p.is_relative_to(out) for p in created)
    # Only unsafe lines: every one fails, the report is still written.
    alone = fetch(extra, tmp_path / "alone", backoff=0.01)
    assert len(alone.failures) == len(bad) and alone.report == tmp_path / "alone" / "fetch-report.json"
    assert json.loads(alone.report.read_text())["failures"] == alone.failures


# --- every download is kept: same names in different folders, the report's name ---------------------


def test_same_names_in_different_folders_are_all_kept_in_pairs(tmp_path, served):
    portal, labels = served
    root = portal.root
    p_a = write_product("ce4-pcam-c", kodak(7), root / "a", shape=(96, 128), start=sequence_start(9))
    p_b = write_product("ce4-pcam-c", kodak(8), root / "b", shape=(96, 128), start=sequence_start(9))
    q_a = write_product("ce4-pcam-q", kodak(9), root / "a", shape=(96, 128), start=sequence_start(8))
    q_c = write_product("ce4-pcam-q", kodak(10), root / "c", shape=(96, 128), start=sequence_start(8))
    assert p_a.name == p_b.name and q_a.name == q_c.name
    p, q, r = p_a.name, q_a.name, labels[0].name
    rel = [f"a/{p[:-1]}", f"b/{p}", f"b/{p[:-1]}", f"a/{p}",  # interleaved on purpose
           f"a/{q[:-1]}", f"a/{q}", f"c/{q}", f"c/{q[:-1]}", r[:-1], r]  # fmt: skip
    urls = [f"{portal.base}/{path}" for path in rel]
    out = tmp_path / "downloads"
    result = fetch(urls, out, backoff=0.01)
    assert result.failures == [] and len(result.downloaded) == 10
    where = {path: result.files[url] for path, url in zip(rel, urls, strict=True)}
    assert len(set(where.values())) == 10  # nothing overwritten
    for path, saved in where.items():
        assert saved.is_relative_to(out)
        assert saved.read_bytes() == (root / path).read_bytes()
    for folder in "abc":  # a label and its data file from one URL folder share a folder
        assert len({saved.parent for path, saved in where.items() if path.startswith(folder + "/")}) == 1
    assert where[f"a/{p}"].parent != where[f"b/{p}"].parent
    assert where[f"a/{q}"].parent != where[f"c/{q}"].parent
    assert where[r].parent == out and where[f"a/{p}"].parent.parent == out  # no collision: top level
    report = json.loads((out / "fetch-report.json").read_text())
    assert report["files"][urls[0]] == where[rel[0]].relative_to(out).as_posix()
    again = fetch(urls, out, backoff=0.01)  # the same list finds everything where it left it
    assert len(again.skipped) == 10 and again.failures == [] and again.files == result.files


def test_a_download_named_like_the_report_is_not_overwritten(tmp_path, served):
    portal, labels = served
    (portal.root / "fetch-report.json").write_bytes(b"the portal's own file\n")
    (portal.root / "Fetch-Report.JSON").write_bytes(b"another\n")
    names = ["fetch-report.json", "Fetch-Report.JSON", labels[0].name[:-1], labels[0].name]
    urls = [f"{portal.base}/{name}" for name in names]
    out = tmp_path / "downloads"
    result = fetch(urls, out, backoff=0.01)
    assert result.failures == [] and len(result.downloaded) == 4
    saved, other = result.files[urls[0]], result.files[urls[1]]
    assert saved.parent != out and saved.read_bytes() == b"the portal's own file\n"
    assert other.parent != out and other.read_bytes() == b"another\n"
    assert saved.parent != other.parent  # one name on a case-insensitive file system
    assert json.loads((out / "fetch-report.json").read_text())["downloaded"] == urls


# --- redirects ---------------------------------------------------------------------------------------


def test_redirects_off_http_are_refused(tmp_path, served):
    portal, labels = served
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    portal.redirects["to-ftp.2B"] = f"ftp://127.0.0.1:{port}/x.2B"
    portal.redirects["to-file.2B"] = "file:///etc/hostname"
    portal.redirects["to-http.2BL"] = f"{portal.base}/{labels[0].name}"
    out = tmp_path / "downloads"
    try:
        for name in ("to-ftp.2B", "to-file.2B"):
            with pytest.raises(DownloadError, match=r"redirect to .* refused"):
                download(f"{portal.base}/{name}", out, retries=2, backoff=0.01, timeout=2)
            assert portal.requests[name] == 1  # final: not retried
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected to the ftp:// address
    finally:
        listener.close()
    assert download(f"{portal.base}/to-http.2BL", out, backoff=0.01) == "downloaded"
    assert (out / "to-http.2BL").read_bytes() == labels[0].read_bytes()
    assert not list(out.glob(".*.part"))
    result = fetch([f"{portal.base}/to-file.2B"], out, backoff=0.01)
    assert (
        len(result.failures) == 1
        and "to-file.2B: HTTP 302 redirect to 'file:///etc/hostname' refused" in (result.failures[0])
    )


# --- verification never stops the run; the report is always written ----------------------------------


def test_exceptions_from_verification_are_failures(tmp_path, served, monkeypatch):
    import farside.products.reader as reader

    portal, labels = served
    original = reader.read
    raising = {
        labels[1].name: RuntimeError("bug"),
        labels[2].name: ValueError("odd"),
        labels[3].name: OSError(5, "EIO"),
    }

    def read(path):
        if Path(path).name in raising:
            raise raising[Path(path).name]
        return original(path)

    monkeypatch.setattr(reader, "read", read)
    out = tmp_path / "downloads"
    result = fetch(read_download_list(_list(tmp_path, portal, labels)), out, backoff=0.01)
    assert len(result.downloaded) == 10 and len(result.failures) == 3
    failures = "\n".join(result.failures)
    assert f"{labels[1].name}: RuntimeError: bug" in failures
    assert f"{labels[2].name}: odd" in failures and f"{labels[3].name}: [Errno 5] EIO" in failures
    assert json.loads(result.report.read_text())["failures"] == result.failures


def test_the_report_is_written_when_the_run_is_interrupted(tmp_path, served, monkeypatch):
    import farside.fetch as fetch_module

    portal, labels = served
    original = fetch_module.download

    def download_or_interrupt(url, *args, **kwargs):
        if url.endswith(labels[2].name):
            raise KeyboardInterrupt
        return original(url, *args, **kwargs)

    monkeypatch.setattr(fetch_module, "download", download_or_interrupt)
    out = tmp_path / "downloads"
    with pytest.raises(KeyboardInterrupt):
        fetch(read_download_list(_list(tmp_path, portal, labels)), out, workers=1, backoff=0.01)
    report = json.loads((out / "fetch-report.json").read_text())
    assert report["interrupted"] is True
    assert report["downloaded"] and len(report["downloaded"]) < 10
    assert f"{labels[2].name}: interrupted" in "\n".join(report["failures"])
    assert len(report["downloaded"]) + len(report["failures"]) == 10
    assert not list(out.glob(".fetch-report.json*"))
