"""A real HTTP server on 127.0.0.1 for the source tests: every way a source can behave, one path each.

Started by the tests in a thread (`source_server` fixture); the fetcher reaches it because the test
settings name 127.0.0.1 in `BTW_FETCH_ALLOWED_HOSTS`. Limits are set small (`fetch_limits`) so the
slow paths end in well under a second.

Pages that change between fetches: `server.pages[path] = (status, body, headers)` answers before the
fixed paths (an `ETag` header there is honoured: a matching `If-None-Match` gets a 304). `/inflight/…`
answers after `server.delay` seconds and counts requests in flight per Host header (`server.peak`).
Several host names for one server: the `host_names` fixture resolves `a.test`, `b.test`… to 127.0.0.1.
"""

from __future__ import annotations

import gzip
import itertools
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MAX_BYTES = 64 * 1024
READ_TIMEOUT = 0.5
TOTAL_TIMEOUT = 2.0
MAX_REDIRECTS = 3

NORMAL_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>  Foxconn and OpenAI \n partner </title>"
    b"<style>p { color: red }</style></head><body><h1>Partnership</h1>\n<p>Racks,   cabling\n and power.</p>"
    b"<script>var tracking = 'not text';</script></body></html>"
)


class Handler(BaseHTTPRequestHandler):
    server_version = "SourceTestServer/1"
    counter = itertools.count(1)

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body=b"", content_type="text/html; charset=utf-8", headers=None, length=True):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: C901  (one branch per behaviour: a table would read worse)
        path = self.path.split("?", 1)[0]  # a query string only makes URLs distinct
        self.server.requests.append((path, dict(self.headers)))
        if path in self.server.pages:
            self._send_page(*self.server.pages[path])
        elif path.startswith("/inflight/"):
            self._counted(path)
        elif path == "/page":
            self._send(200, NORMAL_PAGE, headers={"ETag": '"v1"', "Last-Modified": "Mon, 01 Dec 2025 10:00:00 GMT"})
        elif path == "/changing":
            n = next(self.counter)
            self._send(200, f"<html><head><title>Edition {n}</title></head><body>Edition {n}</body></html>".encode())
        elif path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            self._send(302, headers={"Location": f"/redirect/{hops - 1}" if hops > 1 else "/page"})
        elif path == "/redirect-metadata":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/redirect-internal":
            self._send(302, headers={"Location": f"http://internal.test:{self.server.server_port}/page"})
        elif path == "/redirect-ftp":
            self._send(301, headers={"Location": "ftp://files.example.org/report.pdf"})
        elif path == "/slow":
            time.sleep(READ_TIMEOUT * 4)
            self._send(200, b"<html><body>too late</body></html>")
        elif path == "/drip":  # answers at once, then a byte at a time: only the deadline ends it
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(int(TOTAL_TIMEOUT * 10)):
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(0.2)
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            headers = {"Retry-After": "120"} if status == 429 else {}
            self._send(status, f"<html><title>Status {status}</title><body>status {status}</body></html>".encode(),
                       headers=headers)
        elif path == "/big":  # no Content-Length: only counting stops it
            self._send(200, b"x" * (MAX_BYTES * 4), content_type="text/plain", length=False)
        elif path == "/big-declared":
            self._send(200, b"x" * (MAX_BYTES * 2), content_type="text/plain")
        elif path == "/gzip":
            self._send(200, gzip.compress(NORMAL_PAGE), headers={"Content-Encoding": "gzip"})
        elif path == "/gzip-bomb":
            self._send(200, gzip.compress(b"<p>" + b"a" * (MAX_BYTES * 8)), headers={"Content-Encoding": "gzip"})
        elif path == "/report.pdf":
            self._send(200, b"%PDF-1.7\n\x00\x01binary filing", content_type="application/pdf")
        elif path == "/notes.txt":
            self._send(200, b"Plain   notes\nkept as they are.", content_type="text/plain; charset=utf-8")
        elif path == "/empty":
            self._send(200, b"")
        elif path == "/echo":
            self._send(200, f"host={self.headers.get('Host')} ua={self.headers.get('User-Agent')}".encode(),
                       content_type="text/plain")
        else:
            self._send(404, b"<html><body>no such page</body></html>")


    def _send_page(self, status, body=b"", headers=None):
        headers = dict(headers or {})
        etag = headers.get("ETag")
        if etag and self.headers.get("If-None-Match") == etag:
            self._send(304, headers={"ETag": etag}, length=False)
        else:
            self._send(status, body, headers=headers)

    def _counted(self, path):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        self.server.enter(host)
        try:
            time.sleep(self.server.delay)
        finally:
            self.server.leave(host)
        self._send(200, f"<html><title>{path}</title><body>Counted page {path} on {host}.</body></html>".encode())


class SourceServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict]] = []
        self.pages: dict[str, tuple] = {}
        self.delay = 0.05
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0

    def handle_error(self, request, client_address):
        """A client that stopped reading (the size limit, a timeout) is what those tests want: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def reset(self):
        """Forget what earlier tests asked and set (the server lives for a whole test module)."""
        self.requests.clear()
        self.pages.clear()
        self.delay = 0.05
        with self.lock:
            self.in_flight.clear()
            self.peak.clear()
            self.peak_total = 0

    def enter(self, host):
        with self.lock:
            self.in_flight[host] = self.in_flight.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.in_flight[host])
            self.peak_total = max(self.peak_total, sum(self.in_flight.values()))

    def leave(self, host):
        with self.lock:
            self.in_flight[host] -= 1

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_port}{path}"


@pytest.fixture(scope="module")
def source_server():
    server = SourceServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fetch_limits(settings, source_server):
    """The test settings: the local server allowed, limits small enough that nothing waits long."""
    settings.BTW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.BTW_FETCH_CONNECT_TIMEOUT = 1.0
    settings.BTW_FETCH_READ_TIMEOUT = READ_TIMEOUT
    settings.BTW_FETCH_TOTAL_TIMEOUT = TOTAL_TIMEOUT
    settings.BTW_FETCH_MAX_BYTES = MAX_BYTES
    settings.BTW_FETCH_MAX_REDIRECTS = MAX_REDIRECTS
    source_server.reset()
    return settings


TEST_HOSTS = ("a.test", "b.test", "c.test", "d.test")


@pytest.fixture
def host_names(fetch_limits, monkeypatch):
    """`a.test` … `d.test` resolve to the local server (and are allowed): several hosts, one server."""
    from profiles.sources import fetch

    real = fetch.resolve
    monkeypatch.setattr(fetch, "resolve", lambda host, port: ["127.0.0.1"] if host in TEST_HOSTS else real(host, port))
    fetch_limits.BTW_FETCH_ALLOWED_HOSTS = [*fetch_limits.BTW_FETCH_ALLOWED_HOSTS, *TEST_HOSTS]
    return TEST_HOSTS
