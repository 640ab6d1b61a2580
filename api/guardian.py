"""Stopping the stack's server processes, and the guardian that stops them when the
process that started them dies without doing it (SIGKILL, a crash, a lost terminal).

The guardian is a small process in a session of its own (so a terminal's Ctrl-C or
hang-up never reaches it). The stack writes one line per server process to its standard
input; when that pipe reaches end of file, whatever ended the stack, the guardian stops
every recorded process still alive and exits. After a clean stop there is nothing left
to stop, so the guardian simply exits.

Only the standard library and psutil are imported: the guardian starts in a blink.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import psutil  # type: ignore[import-untyped]

# How a process is stopped: a process group (the Temporal dev server and what it starts),
# or a PostgreSQL postmaster (fast shutdown, then immediate, then kill).
StopMode = Literal["group", "postgres"]


@dataclass(frozen=True)
class ServerProcess:
    """A server process the stack started; `started` (its creation time) guards against
    a recycled pid."""

    pid: int
    started: float
    mode: StopMode
    name: str

    @classmethod
    def of(cls, pid: int, mode: StopMode, name: str) -> ServerProcess:
        return cls(pid, psutil.Process(pid).create_time(), mode, name)

    def line(self) -> str:
        return f"{self.pid} {self.started!r} {self.mode} {self.name}\n"

    @classmethod
    def parse(cls, line: str) -> ServerProcess | None:
        parts = line.strip().split(maxsplit=3)
        if len(parts) != 4 or parts[2] not in ("group", "postgres"):
            return None
        mode: StopMode = "group" if parts[2] == "group" else "postgres"
        return cls(int(parts[0]), float(parts[1]), mode, parts[3])


def is_alive(pid: int, started: float) -> bool:
    """Whether `pid` is still the process that was created at `started`."""
    try:
        process = psutil.Process(pid)
        same = abs(float(process.create_time()) - started) < 1
        return same and str(process.status()) != "zombie"
    except psutil.Error:
        return False


def stop_server(server: ServerProcess, grace: float = 10.0) -> bool:
    """Stop `server` if it is still alive; whether there was anything to stop."""
    if not is_alive(server.pid, server.started):
        return False
    if server.mode == "group":
        steps = [(signal.SIGTERM, grace), (signal.SIGKILL, grace)]
    else:
        steps = [(signal.SIGINT, grace), (signal.SIGQUIT, grace), (signal.SIGKILL, grace)]
    for signum, wait in steps:
        try:
            if server.mode == "group":
                os.killpg(server.pid, signum)
            else:
                os.kill(server.pid, signum)
            psutil.Process(server.pid).wait(wait)
            return True
        except (psutil.TimeoutExpired, PermissionError):
            continue
        except (psutil.NoSuchProcess, ProcessLookupError, ChildProcessError):
            return True
    return True


class Guardian:
    """The guardian process of one stack: `watch` each server as it starts."""

    def __init__(self, log: Path) -> None:
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "api.guardian"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                text=True,
            )
        assert self._process.stdin is not None
        self._pipe: IO[str] = self._process.stdin

    def watch(self, server: ServerProcess) -> None:
        self._pipe.write(server.line())
        self._pipe.flush()

    def close(self) -> None:
        """End of watch: the guardian stops what is left, if anything, and exits."""
        with contextlib.suppress(OSError):
            self._pipe.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def guard(lines: IO[str]) -> None:
    """Read servers until end of file, then stop those still alive."""
    servers = [server for line in lines if (server := ServerProcess.parse(line))]
    print(f"segue guardian: the stack has ended; checking {len(servers)} servers", flush=True)
    for server in reversed(servers):  # the last started first, as a clean stop does
        if stop_server(server):
            print(f"segue guardian: stopped {server.name} (pid {server.pid})", flush=True)


if __name__ == "__main__":
    # Signals meant for the stack's terminal are not for the guardian: its job starts
    # when the stack is gone.
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    guard(sys.stdin)
