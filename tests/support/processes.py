"""Starting `segue` commands as separate processes (API, worker) with their output in a
log file, and stopping them as a supervisor would: SIGTERM, then SIGKILL after a grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def spawn_segue(
    args: list[str], env: dict[str, str], log: Path, *, grace: float = 20.0
) -> tuple[subprocess.Popen[bytes], Callable[[], None]]:
    """`python -m api.cli ARGS` from the repository root; the process and its `stop`."""
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.close()

    return process, stop


# The tests' "remote" services listen on loopback, which the egress policy denies by
# default: workers the tests start may reach it (docs/actions.md, "Egress policy").
TEST_EGRESS_ALLOW = "127.0.0.0/8,::1"


def run_segue(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`segue ARGS` as a user types it (`python -m api.cli`), without SEGUE_* settings."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any SEGUE_* setting, plus loopback egress for
    the tests' local services, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGUE_")}
    env["SEGUE_EGRESS_ALLOW"] = TEST_EGRESS_ALLOW
    env.update(extra)
    return env


def start_worker(address: str, queue: str, database: str, log: Path) -> subprocess.Popen[bytes]:
    """A `segue worker` process on `queue`, writing the trace to `database`."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--address", address, "--task-queue", queue],
        cwd=ROOT,
        env=clean_env(SEGUE_DATABASE_URL=database),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def start_api(
    port: int, database: str, address: str, queue: str, log: Path
) -> subprocess.Popen[bytes]:
    """A `segue api --insecure-dev` process on 127.0.0.1:`port` (no token: loopback only)."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "api", "--insecure-dev", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(
            SEGUE_DATABASE_URL=database,
            SEGUE_TEMPORAL_ADDRESS=address,
            SEGUE_TASK_QUEUE=queue,
        ),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_for_api(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until `url`/health answers 200; fails if the process exits or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the API exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the API at {url} never became healthy within {timeout:g} s")


def stop_api(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the API as a supervisor would: SIGTERM (uvicorn stops accepting connections
    but lets open responses, streams included, finish), then SIGKILL after `grace` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
