"""farside fetch against a local HTTP server (127.0.0.1 only) that serves fixture products, drops
connections mid-file, and answers 403, 404 and 500."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import kodak

from farside.fetch import DownloadError, download, fetch, read_download_list
from farside.synthetic import sequence_start, write_product

HEADER = "数据下载结果\n以下为下载地址列表\n共计文件若干\n"


class Portal:
    """A tiny portal: files from a folder, with faults keyed by file name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.ranges: list[str] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                portal.requests[name] += 1
                fault = portal.faults.get(name, "")
                if fault in ("403", "404") or (
                    fault == "500" or (fault == "500-once" and portal.requests[name] == 1)
                ):
                    code = int(fault[:3])
                    self.send_error(code)
                    return
                path = portal.root / name
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
