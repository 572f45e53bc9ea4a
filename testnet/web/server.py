"""Serve ``index.html`` and a JSON snapshot of the cluster on a loopback port (a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

INDEX = Path(__file__).with_name("index.html")

Snapshot = Callable[[], dict[str, Any]]


class StatusServer:
    """``GET /`` the page, ``GET /status.json`` the snapshot; stop with :meth:`close`."""

    def __init__(self, snapshot: Snapshot, *, host: str = "127.0.0.1", port: int = 0) -> None:
        page = INDEX.read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in ("/", "/index.html"):
                    self._send(200, page, "text/html; charset=utf-8")
                elif path == "/status.json":
                    try:
                        body = json.dumps(snapshot(), default=str).encode()
                    except Exception as err:  # a snapshot bug must not kill the server thread
                        body = json.dumps({"error": repr(err)}).encode()
                    self._send(200, body, "application/json")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="status-page")
        self._thread.start()

    @property
    def url(self) -> str:
        """The page's URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
