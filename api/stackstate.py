"""Where a running `segue dev` is recorded, and how it is found again.

Each stack holds an exclusive lock on `<data dir>/lock` for as long as its process lives
(the kernel drops it whatever ends the process), so one data directory has one stack.
It writes a record twice: `<data dir>/stack.json` (what a later start needs to clean up
after an unclean exit) and one file per stack in the per-user state directory
(`$XDG_STATE_HOME/segue/stacks`, else `~/.local/state/segue/stacks`), which is how
`segue run` and the other commands find it from any directory. A record counts only
while its process is alive (pid and creation time); dead ones are removed when seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]

from api.guardian import ServerProcess, is_alive, stop_server

RECORD = "stack.json"
ANNOUNCED = "api-url"


class StackRunning(Exception):
    """Another stack already runs on this data directory."""

    def __init__(self, data_dir: Path, record: StackRecord | None) -> None:
        self.record = record
        if record is None:
            who = "another process"
        else:
            who = f"segue dev (pid {record.pid}, API {record.api or 'starting'})"
        super().__init__(
            f"{who} already runs on {data_dir}; stop it first, or use another --data-dir"
        )


@dataclass
class StackRecord:
    """A running stack: its owner process, its data directory and its addresses."""

    pid: int
    started: float
    data_dir: str
    api: str = ""
    demo: str = ""
    temporal: str = ""
    servers: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_this_process(cls, data_dir: Path) -> StackRecord:
        pid = os.getpid()
        return cls(pid=pid, started=psutil.Process(pid).create_time(), data_dir=str(data_dir))

    @classmethod
    def read(cls, path: Path) -> StackRecord | None:
        try:
            raw = json.loads(path.read_text())
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def alive(self) -> bool:
        return is_alive(self.pid, self.started)

    def server_processes(self) -> list[ServerProcess]:
        return [ServerProcess(**server) for server in self.servers]


def user_state_dir() -> Path:
    """The per-user directory of stack records (XDG base directory specification)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "segue" / "stacks"


def _user_record_path(data_dir: Path) -> Path:
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return user_state_dir() / f"{digest}.json"


class DataDirLock:
    """The exclusive lock of one data directory, held until `release` or process end."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = (data_dir / "lock").open("ab")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise StackRunning(data_dir, StackRecord.read(data_dir / RECORD)) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


def publish(record: StackRecord) -> None:
    """Write the record in the data directory and in the per-user state directory."""
    text = json.dumps(asdict(record), indent=2)
    data_dir = Path(record.data_dir)
    _write_atomically(data_dir / RECORD, text)
    user_record = _user_record_path(data_dir)
    user_record.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(user_record, text)
    if record.api:
        _write_atomically(data_dir / ANNOUNCED, record.api)


def withdraw(data_dir: Path) -> None:
    """Remove every trace of the stack of `data_dir` (at a clean stop)."""
    for path in (data_dir / RECORD, data_dir / ANNOUNCED, _user_record_path(data_dir)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def clean_leftovers(data_dir: Path) -> list[str]:
    """After an unclean exit (called with the lock held): stop the servers the previous
    stack left running and remove its stale files; what was done, one line each."""
    done: list[str] = []
    previous = StackRecord.read(data_dir / RECORD)
    if previous is not None:
        for server in reversed(previous.server_processes()):
            if stop_server(server):
                done.append(f"stopped {server.name} (pid {server.pid}) left by an earlier run")
    # Also what no record names: a stack interrupted between starting a server and
    # recording it, or a record lost.
    postmaster = _leftover_postmaster(data_dir / "postgres")
    unrecorded = [*_leftover_temporal(data_dir), *([postmaster] if postmaster else [])]
    for leftover in unrecorded:
        if stop_server(leftover):
            done.append(f"stopped {leftover.name} (pid {leftover.pid}) left by an earlier run")
    # pgserver stops PostgreSQL only when no other pid it recorded is alive; with the lock
    # held there is no other user, and a recycled stale pid would keep it running forever.
    with contextlib.suppress(FileNotFoundError):
        (data_dir / "postgres" / ".handle_pids.json").unlink()
    for path in (data_dir / RECORD, data_dir / ANNOUNCED, _user_record_path(data_dir)):
        if path.exists():
            path.unlink()
            done.append(f"removed stale {path}")
    return done


def _leftover_temporal(data_dir: Path) -> list[ServerProcess]:
    """Temporal servers still running on this data directory's SQLite file, recorded or
    not (a stack interrupted between starting one and recording it)."""
    db_file = str(data_dir / "temporal.db")
    found = []
    for process in psutil.process_iter(["cmdline", "create_time"]):
        cmdline = process.info.get("cmdline") or []
        if "start-dev" in cmdline and db_file in cmdline:
            found.append(
                ServerProcess(process.pid, process.info["create_time"], "group", "Temporal server")
            )
    return found


def _leftover_postmaster(pgdata: Path) -> ServerProcess | None:
    """The PostgreSQL server still running on `pgdata`, from its postmaster.pid."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        if "postgres" not in process.name():
            return None
        return ServerProcess(pid, process.create_time(), "postgres", "PostgreSQL")
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def live_stacks() -> list[StackRecord]:
    """The stacks running now, the most recently started first; stale records removed."""
    found = []
    directory = user_state_dir()
    for path in directory.glob("*.json") if directory.is_dir() else []:
        record = StackRecord.read(path)
        if record is not None and record.alive() and record.api:
            found.append(record)
        elif record is None or not record.alive():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return sorted(found, key=lambda record: record.started, reverse=True)


def stack_of(data_dir: Path) -> StackRecord | None:
    """The running stack of `data_dir`, if any."""
    record = StackRecord.read(data_dir / RECORD)
    return record if record is not None and record.alive() and record.api else None


def wait_for_record(data_dir: Path, alive: Any, timeout: float) -> StackRecord | None:
    """Poll until the stack of `data_dir` has announced its API, or `alive()` is false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        record = stack_of(data_dir)
        if record is not None:
            return record
        time.sleep(0.1)
    return None
