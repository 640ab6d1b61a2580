"""The demo service of `segue dev`: a health endpoint that turns healthy after a few
polls, for the examples (which `segue run` points at it; see `fill_demo_inputs`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _DemoHealth(BaseHTTPRequestHandler):
    """`GET /health/<name>`: 503 twice, then 200, then again from the start (per name)."""

    counts: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            seen = self.counts.get(self.path, 0) + 1
            self.counts[self.path] = seen % 3
        healthy = seen % 3 == 0
        body = json.dumps({"healthy": healthy, "poll": seen}).encode()
        self.send_response(200 if healthy else 503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def demo_service(port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _DemoHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
