"""A fake archive service on 127.0.0.1 that speaks Save Page Now 2, for the archive tests.

`POST /save` (form `url=…`) starts a job and answers `{"url", "job_id"}`; `GET /save/status/<job_id>`
answers `pending` for the first `pending_polls` polls, then `success` with a timestamp and the URL.
Each request is recorded (method, path, headers, form). A test picks how the service misbehaves,
separately for the save request (`save_mode`) and the status request (`status_mode`):

- "ok"         the protocol as documented;
- "error"      a job that failed (`status: error`, `status_ext`, `message`);
- "busy"       HTTP 429 with `Retry-After: 120`;
- "down"       HTTP 500;
- "malformed"  a 200 whose JSON is cut short;
- "html"       a 200 with an HTML page instead of JSON;
- "incomplete" JSON without the field that matters (no `job_id`; a success with no `timestamp`);
- "huge"       a JSON answer larger than the tests' size cap;
- "hang"       no answer for `HANG` seconds (the tests' timeout is far shorter).

With `keys` set, every request must carry `Authorization: LOW <access>:<secret>` or gets a 401.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

import pytest

TIMEOUT = 0.5  # BTW_ARCHIVE_TIMEOUT under the tests
HANG = TIMEOUT * 6
MAX_BYTES = 16 * 1024  # BTW_ARCHIVE_MAX_BYTES under the tests
TIMESTAMP = "20260105143000"


class Handler(BaseHTTPRequestHandler):
    server_version = "ArchiveTestServer/1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body: bytes, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data, status=200):
        self._send(status, json.dumps(data).encode())

    def _record(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        form = {name: values[0] for name, values in parse_qs(body).items()}
        self.server.requests.append((self.command, self.path, dict(self.headers), form))
        return form

    def _misbehaves(self, mode) -> bool:
        """Answer as `mode` says when it is one of the faults every request can have; False for "ok"."""
        if mode == "busy":
            self._send(429, b"<html><body>Too Many Requests</body></html>", "text/html", {"Retry-After": "120"})
        elif mode == "down":
            self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        elif mode == "malformed":
            self._send(200, b'{"url": "https://example.org/", "job_id": ')
        elif mode == "html":
            self._send(200, b"<!doctype html><html><body>Save Page Now</body></html>", "text/html")
        elif mode == "huge":
            self._json({"status": "pending", "resources": ["https://example.org/x"] * MAX_BYTES})
        elif mode == "hang":
            time.sleep(HANG)
            self._json({"status": "pending"})
        else:
            return False
        return True

    def _authorized(self) -> bool:
        if self.server.keys is None:
            return True
        access, secret = self.server.keys
        if self.headers.get("Authorization") == f"LOW {access}:{secret}":
            return True
        self._json({"message": "You need to be logged in to use Save Page Now."}, status=401)
        return False

    def do_POST(self):
        form = self._record()
        if not self._authorized() or self._misbehaves(self.server.save_mode):
            return
        if self.path != "/save" or not form.get("url"):
            self._json({"status": "error", "status_ext": "error:bad-request", "message": "No URL."}, status=400)
        elif self.server.save_mode == "error":
            self._json({"status": "error", "status_ext": "error:user-session-limit",
                        "message": "You have already reached the limit of active sessions."})
        elif self.server.save_mode == "incomplete":
            self._json({"url": form["url"], "message": "Saving."})
        else:
            job_id = "spn2-" + hashlib.sha1(f"{next(self.server.jobs)}".encode(), usedforsecurity=False).hexdigest()
            self.server.job_urls[job_id] = form["url"]
            self._json({"url": form["url"], "job_id": job_id})

    def do_GET(self):
        self._record()
        if not self._authorized() or self._misbehaves(self.server.status_mode):
            return
        job_id = unquote(self.path.removeprefix("/save/status/"))
        if not self.path.startswith("/save/status/") or job_id not in self.server.job_urls:
            self._json({"status": "error", "status_ext": "error:not-found", "message": "No such job."}, 404)
            return
        polls = self.server.polls[job_id] = self.server.polls.get(job_id, 0) + 1
        if self.server.status_mode == "error":
            self._json({"status": "error", "job_id": job_id, "status_ext": "error:not-found",
                        "message": "The server cannot find the requested resource."})
        elif polls <= self.server.pending_polls:
            self._json({"status": "pending", "job_id": job_id, "resources": []})
        elif self.server.status_mode == "incomplete":
            self._json({"status": "success", "job_id": job_id, "original_url": self.server.job_urls[job_id]})
        else:
            self._json({"status": "success", "job_id": job_id, "timestamp": TIMESTAMP,
                        "original_url": self.server.job_urls[job_id], "duration_sec": 6.2})


class ArchiveServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.jobs = itertools.count(1)
        self.reset()

    def reset(self):
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.save_mode = self.status_mode = "ok"
        self.pending_polls = 1
        self.keys: tuple[str, str] | None = None
        self.job_urls: dict[str, str] = {}
        self.polls: dict[str, int] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def saves(self) -> list[dict]:
        """The forms of the save requests made so far."""
        return [form for method, _, _, form in self.requests if method == "POST"]

    def polled(self) -> int:
        return sum(1 for method, _, _, _ in self.requests if method == "GET")


@pytest.fixture(scope="module")
def archive_server():
    server = ArchiveServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def archive_service(settings, archive_server):
    """The archive service switched on and pointed at the fake one, with limits small enough that
    nothing waits long."""
    archive_server.reset()
    settings.BTW_ARCHIVE_URL = archive_server.base
    settings.BTW_ARCHIVE_ACCESS_KEY = settings.BTW_ARCHIVE_SECRET_KEY = ""
    settings.BTW_ARCHIVE_TIMEOUT = TIMEOUT
    settings.BTW_ARCHIVE_MAX_BYTES = MAX_BYTES
    settings.BTW_ARCHIVE_MAX_ATTEMPTS = 3
    return archive_server
