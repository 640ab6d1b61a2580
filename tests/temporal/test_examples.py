"""The examples run on Temporal as they are, and `segue simulate --temporal` works as a
command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = pytest.mark.temporal
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _TurnsHealthy(BaseHTTPRequestHandler):
    """503 for the first two requests, 200 after."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        status = 200 if type(self).calls > 2 else 503
        self.send_response(status)
        self.send_header("content-type", "application/json")
        body = json.dumps({"ok": status == 200}).encode()
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


def test_monitoring_example_against_a_local_endpoint(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _TurnsHealthy)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    text = (EXAMPLES / "monitoring.yaml").read_text()
    run_input = {
        "url": f"http://127.0.0.1:{http.server_port}/health",
        "interval": 1,
        "max_checks": 5,
    }

    async def scenario() -> Any:
        client = await connect(temporal_address)
        queue = f"example-{uuid.uuid4().hex[:8]}"
        async with build_worker(client, SegueActivities(ActionCatalog.builtin()), task_queue=queue):
            handle = await start_interpreter(client, queue, text, run_input, name="monitoring")
            return await handle.result()

    try:
        result = background_loop.run(scenario())
    finally:
        http.shutdown()
    assert result.status == "succeeded"
    assert result.output == {"healthy": True, "checks": 3}


def test_simulate_temporal_command(temporal_address: str) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli.main",
            "simulate",
            str(EXAMPLES / "monitoring.yaml"),
            "--mocks",
            str(EXAMPLES / "monitoring.mocks.yaml"),
            "--temporal",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SEGUE_TEMPORAL_ADDRESS": temporal_address},
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    assert outcome["status"] == "succeeded"
    assert outcome["output"] == {"healthy": True, "checks": 3}
    assert [e["task"] for e in outcome["sequence"]] == [
        "check",
        "wait",
        "check",
        "wait",
        "check",
        "report",
    ]
