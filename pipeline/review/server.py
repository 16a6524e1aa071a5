"""The review server: the page, the run's audio (with byte ranges, so the player can seek) and
one write, a verdict into `<run>/reviews.jsonl`. Bound to 127.0.0.1 only; it serves the files
the page lists and nothing else.
"""

from __future__ import annotations

import errno
import json
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.core import reviews
from pipeline.review.data import ReviewDataError, ReviewRun, fingerprint, for_page, load_run
from pipeline.review.render import render_shell, with_state

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024
CHUNK = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False  # a second server on a port in use must fail, not share it

    def __init__(self, run: ReviewRun, port: int, audit_dir: Path | None = None) -> None:
        self.run = run
        self.audit_dir = audit_dir
        self.lock = threading.Lock()
        super().__init__((HOST, port), Handler)
        self._key = fingerprint(run.run_dir, audit_dir)
        self._shell = render_shell(run, "server")

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return  # the browser dropped a connection (a seek, a closed tab): nothing to report
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def page(self) -> bytes:
        """The page with the verdicts as they are now; the run is read and the page rendered
        again only when its files changed (a new export, audit or difficulty tags)."""
        with self.lock:
            key = fingerprint(self.run.run_dir, self.audit_dir)
            if key != self._key:
                self.run = load_run(self.run.run_dir, self.audit_dir, self.run.name)
                self._shell = render_shell(self.run, "server")
                self._key = key
            return with_state(self._shell, self.run, "server").encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per audio range request would drown the terminal

    def _host_ok(self) -> bool:
        # A page from elsewhere reaching 127.0.0.1 through a rebound DNS name sends its own Host.
        port = self.server.port
        return self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
              ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
        path = self.path.split("?", 1)[0].lstrip("/")
        if path in ("", "index.html"):
            try:
                body = self.server.page()
            except (ReviewDataError, reviews.ReviewError) as exc:
                return self._send(HTTPStatus.INTERNAL_SERVER_ERROR,
                                  f"spiral review: {exc}\n".encode(), "text/plain; charset=utf-8")
            return self._send(HTTPStatus.OK, body, "text/html; charset=utf-8",
                              {"Content-Security-Policy": "default-src 'self'; script-src "
                               "'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "media-src 'self' blob:; connect-src 'self'"})
        src = self.server.run.files.get(path)
        if src is None:
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such file: /{path}"})
        self._file(src)

    def _file(self, src: Path) -> None:
        try:
            fh = src.open("rb")
        except OSError as exc:
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"{src.name}: {exc.strerror}"})
        with fh:
            size = src.stat().st_size
            start, end, status = 0, size - 1, HTTPStatus.OK
            m = _RANGE.fullmatch(self.headers.get("Range", "").strip())
            if m and (m[1] or m[2]):
                if m[1]:
                    start = int(m[1])
                    end = min(int(m[2]), size - 1) if m[2] else size - 1
                else:
                    start = max(0, size - int(m[2]))
                if start > end or start >= size:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = HTTPStatus.PARTIAL_CONTENT
            self.send_response(status)
            self.send_header("Content-Type", mimetypes.guess_type(src.name)[0]
                             or "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            fh.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the player dropped a range it no longer needs

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
        if self.path != "/api/verdict":
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
        # A JSON content type and a custom header: a form on another site cannot send these
        # without a CORS preflight, which this server never grants.
        if (self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json"
                or self.headers.get("X-Spiral-Review") != "1"):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "expected a JSON request from "
                                                              "the review page"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "body missing or too large"})
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
        try:
            row = save_verdict(self.server.run, body)
        except (reviews.ReviewError, ReviewDataError) as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except OSError as exc:
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                              {"error": f"{reviews.path(self.server.run.run_dir)}: {exc}"})
        self._json(HTTPStatus.OK, {"ok": True, "review": row})


def save_verdict(run: ReviewRun, body: Any) -> dict[str, Any] | None:
    """Validate one verdict from the page and store it; returns the row as the page holds it."""
    if not isinstance(body, dict):
        raise reviews.ReviewError("expected a JSON object {id, verdict, note}")
    seeds = run.seeds()
    item_id = body.get("id")
    if item_id not in seeds:
        raise reviews.ReviewError(f"id {item_id!r}: not an item of run {run.name}")
    verdict = body.get("verdict") or None
    row = reviews.record(run.run_dir, item_id, verdict, body.get("note") or "", seeds[item_id])
    return None if row is None else for_page(row, seeds[item_id])


def start(run: ReviewRun, port: int, audit_dir: Path | None = None) -> ReviewServer:
    """A bound server (call serve_forever); a port in use raises ReviewDataError."""
    try:
        return ReviewServer(run, port, audit_dir)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ReviewDataError(f"--port {port}: already in use on {HOST}; choose another "
                                  "(--port 0 picks a free one)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ReviewDataError(f"--port {port}: not allowed to listen on it; choose a port "
                                  "above 1023") from None
        raise ReviewDataError(f"--port {port}: cannot listen on {HOST}: "
                              f"{exc.strerror or exc}") from None
