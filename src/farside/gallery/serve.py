"""Serving a gallery site on 127.0.0.1, for browsers that block scripts in pages opened from files.

The same as ``python -m http.server --bind 127.0.0.1 --directory SITE``, with the types a site needs
(WebP, MP4, WebM, JavaScript) stated whatever the system's MIME tables say, and quiet logs.
"""

from __future__ import annotations

import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".dzi": "application/xml",
}


class _Handler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        # A rebuilt site replaces data/items.js in place: make browsers ask again rather than guess.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def server(site: str | os.PathLike[str], port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for ``site`` bound to ``host``:``port`` (0: any free port; the bound one is
    ``server.server_address[1]``), not yet serving: call ``serve_forever()``."""
    folder = Path(site).resolve()
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder}: no gallery here (no index.html); build one with farside gallery")
    return ThreadingHTTPServer((host, port), partial(_Handler, directory=os.fspath(folder)))


def serve(site: str | os.PathLike[str], port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve ``site`` until interrupted."""
    with server(site, port, host) as httpd:
        httpd.serve_forever()
