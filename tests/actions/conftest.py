"""Fixtures for the action tests: contexts that record what actions report, and a real
HTTP server on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.actions import ActionContext


@dataclass
class Recorder:
    """A host stand-in: keeps every heartbeat and report (log line, progress, artifact),
    with the calling thread."""

    heartbeats: list[Any] = field(default_factory=list)
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    logs: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    artifacts: list[tuple[str, bytes, str]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    cancelled: bool = False

    def context(self, **overrides: Any) -> ActionContext:
        def heartbeat(details: Any = None, /) -> None:
            self.threads.add(threading.get_ident())
            self.heartbeats.append(details)

        fields: dict[str, Any] = {
            "run_id": "run-1",
            "workflow": "tests",
            "task": "step",
            "heartbeat": heartbeat,
            "reporter": _Reports(self),
            "is_cancelled": lambda: self.cancelled,
        }
        return ActionContext(**{**fields, **overrides})


class _Reports:
    """The host's TaskReporter, recording into a Recorder (arguments arrive checked)."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def log(self, level: str, message: str, data: dict[str, Any] | None, /) -> None:
        self._recorder.threads.add(threading.get_ident())
        self._recorder.logs.append((level, message, data))

    def progress(self, done: float, total: float | None, message: str | None, /) -> None:
        self._recorder.threads.add(threading.get_ident())
        self._recorder.progress.append((done, total, message))

    def artifact(self, name: str, content: bytes, media_type: str, /) -> None:
        self._recorder.threads.add(threading.get_ident())
        self._recorder.artifacts.append((name, content, media_type))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def context(recorder: Recorder) -> ActionContext:
    return recorder.context()


class _Handler(BaseHTTPRequestHandler):
    """Routes: /slow waits to be released; /big sends 100 KiB of text; /text sends plain
    text; /redirect goes to /echo; anything else echoes the request as JSON. `?status=N`
    sets the status code."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _respond(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "Tests")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        status = int(query.get("status", ["200"])[0])
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/slow":
            self.server.release.wait(5)
            self._respond(200, b"late", "text/plain")
        elif url.path == "/big":
            self._respond(status, "é".encode() * (50 * 1024), "text/plain; charset=utf-8")
        elif url.path == "/text":
            self._respond(status, b"service unavailable", "text/plain")
        elif url.path == "/redirect":
            self._respond(302, b"", "text/plain", Location="/echo")
        else:
            echo = {
                "method": self.command,
                "path": url.path,
                "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": raw.decode(),
            }
            if self.headers.get("Content-Type") == "application/json" and raw:
                echo["json"] = json.loads(raw)
            self._respond(status, json.dumps(echo).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The base URL of a live local server."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
