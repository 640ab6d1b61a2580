"""`segue worker` as a process: it runs workflows and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from engine.temporal.worker import connect
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = pytest.mark.temporal

ECHO = """
version: 1
tasks:
  hello:
    action: core.echo
    input: {greeting: hi}
    next: [{publish: {said: <% $result.greeting %>}}]
output: <% $ctx.said %>
"""


def test_worker_process_runs_and_stops_on_sigterm(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli.main",
            "worker",
            "--address",
            temporal_address,
            "--task-queue",
            queue,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def run() -> Any:
            client = await connect(temporal_address)
            handle = await start_interpreter(client, queue, ECHO, name="echo")
            return await handle.result()

        result = background_loop.run(run(), timeout=60)
        assert result.status == "succeeded" and result.output == "hi"
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        assert time.monotonic() - started < 20
        output = worker.stdout.read().decode() if worker.stdout else ""
        assert "shutting down" in output
    finally:
        if worker.poll() is None:
            worker.kill()
