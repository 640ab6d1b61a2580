"""The egress policy seen from a run: a workflow that reaches for an internal service
fails with `egress_denied`, and nothing of that service lands in the trace."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.actions import egress
from engine.actions.egress import EgressPolicy
from tests.api.conftest import Harness, unique

REACH = """\
version: 1
input:
  url: {type: string}
tasks:
  fetch:
    action: http.request
    input: {url: <% $ctx.url %>}
    next:
      - when: $failed()
        publish: {error: <% $error %>}
        do: fail
output:
  body: <% $ctx.body %>
"""


class _Secret(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = json.dumps({"db_password": "hunter2"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def internal_service() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Secret)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    egress.configure(EgressPolicy.from_env({}))  # the default policy, loopback closed
    try:
        yield int(server.server_address[1])
    finally:
        egress.configure(None)
        server.shutdown()
        server.server_close()


def test_a_run_cannot_reach_an_internal_service(harness: Harness, internal_service: int) -> None:
    name = unique("ssrf")
    harness.register(name, REACH)
    url = f"http://2130706433:{internal_service}/api/v1/namespaces?token=abc"
    run_id = harness.start(name, {"url": url})
    final = harness.wait_for(run_id)
    assert final["status"] == "FAILED"
    trace = harness.client.get(f"/runs/{run_id}/trace").text
    assert "egress_denied" in trace
    assert "(127.0.0.1)" in trace and "loopback" in trace
    assert "hunter2" not in trace and "token=abc" not in json.dumps(final)
    assert _Secret.hits == []
