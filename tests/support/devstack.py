"""`segue dev` as a user starts it (the installed `segue` script), isolated: its own data
directory, its own per-user state directory, any free ports; and a census of every process
it started, so that a test can check that none outlives it."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from tests.support.processes import ROOT, clean_env

SEGUE = str(Path(sys.executable).parent / "segue")
ANY_PORT = ["--port", "0", "--temporal-port", "0", "--ui-port", "0", "--demo-port", "0"]


def dev_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """No SEGUE_* settings, and a per-user state directory of the test's own."""
    return clean_env(XDG_STATE_HOME=str(state_dir), **extra)


@dataclass
class DevStack:
    """A running `segue dev` process and what it announced."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path
    record: dict[str, object] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return str(self.record["api"])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack: its descendants, its recorded servers, and any
        process whose command line names its data directory."""
        found: dict[int, psutil.Process] = {}
        with_children = psutil.Process(self.process.pid).children(recursive=True)
        for process in with_children:
            found[process.pid] = process
        for server in self.record.get("servers", []):  # type: ignore[attr-defined]
            with contextlib.suppress(psutil.Error):
                found[server["pid"]] = psutil.Process(server["pid"])
        found.update({process.pid: process for process in processes_naming(self.data_dir)})
        return list(found.values())

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        """Send `signum` and wait for the process; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def processes_naming(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line mentions `data_dir`."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info.get("cmdline") or []
        if process.info.get("status") != "zombie" and any(str(data_dir) in a for a in cmdline):
            found.append(process)
    return found


def spawn_dev(data_dir: Path, env: dict[str, str], *args: str, cwd: Path = ROOT) -> DevStack:
    """Start `segue dev --data-dir DATA_DIR ARGS` and return at once (output in a log)."""
    log = data_dir.parent / f"{data_dir.name}-dev.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [SEGUE, "dev", "--data-dir", str(data_dir), *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return DevStack(process, data_dir, log)


def start_dev(
    data_dir: Path, env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 90
) -> DevStack:
    """Start `segue dev --data-dir DATA_DIR ARGS` and wait until it has announced its API."""
    stack = spawn_dev(data_dir, env, *args, cwd=cwd)
    process = stack.process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        record = _read_record(data_dir)
        if record.get("api") and record.get("pid") == process.pid:
            stack.record = record
            return stack
        time.sleep(0.2)
    stack.stop(signal.SIGKILL)
    raise AssertionError(f"segue dev did not start:\n{stack.output()}")


def _read_record(data_dir: Path) -> dict[str, object]:
    try:
        record: dict[str, object] = json.loads((data_dir / "stack.json").read_text())
    except (OSError, ValueError):
        return {}
    return record


def wait_gone(processes: list[psutil.Process], timeout: float = 30) -> list[str]:
    """Wait until none of `processes` runs; the command lines of those still running."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [process for process in processes if _running(process)]
        if not alive or time.monotonic() > deadline:
            return [f"{process.pid} {_name(process)}" for process in alive]
        time.sleep(0.2)


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return "(gone)"  # it ended after it was seen running


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def kill_all(processes: list[psutil.Process]) -> None:
    """The last resort of a failed test: SIGKILL whatever is left."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
