"""`segue dev` and a self-started `segue run` as processes: whatever ends them (SIGINT,
SIGTERM, SIGHUP, SIGKILL), no process they started remains; one stack per data
directory; a busy port is an error; the stack is found from another directory; the
leftovers of an unclean exit are cleaned at the next start."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tests.support.devstack import (
    ANY_PORT,
    SEGUE,
    dev_env,
    kill_all,
    processes_naming,
    spawn_dev,
    start_dev,
    wait_gone,
)
from tests.support.processes import ROOT

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data directory and an environment with a per-user state directory of its own;
    anything still running that names the data directory is killed at the end."""
    # Not under pytest's base directory: as root, pgserver runs PostgreSQL as another user
    # that must traverse the parents, and a concurrent pytest session resets the mode of
    # pytest-of-<user> to 0700.
    data_dir = Path(tempfile.mkdtemp(prefix="segue-e2e-")) / "data"
    try:
        yield data_dir, dev_env(tmp_path / "state")
    finally:
        kill_all(processes_naming(data_dir))
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def _ctrl_c_as_typed() -> None:
    """In the child: SIGINT as a terminal delivers it. A suite started in the background
    by a shell without job control inherits SIGINT ignored, and Python then never turns
    it into KeyboardInterrupt; a user's Ctrl-C reaches a foreground `segue run`."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _segue(
    env: dict[str, str], *args: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGUE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _seen(process: psutil.Process, what: str) -> str:
    """The process's name or command line, or "" once it has exited: the stack's
    short-lived processes (and those that end with it) may go between two looks."""
    try:
        found = getattr(process, what)()
    except psutil.NoSuchProcess:
        return ""
    return " ".join(found) if isinstance(found, list) else str(found)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_nothing_outlives_segue_dev(dirs: tuple[Path, dict[str, str]], signum: int) -> None:
    data_dir, env = dirs
    stack = start_dev(data_dir, env, *ANY_PORT)
    started = stack.processes()
    names = {_seen(process, "name") for process in started}
    assert any("temporal" in name for name in names) and any("postgres" in n for n in names)
    stack.stop(signum)
    # SIGKILL leaves the work to the guardian: give it time to stop PostgreSQL.
    assert wait_gone(started) == [], stack.output()
    assert processes_naming(data_dir) == []
    if signum != signal.SIGKILL:
        assert stack.process.returncode == 0, stack.output()
        assert not (data_dir / "api-url").exists() and not (data_dir / "stack.json").exists()


def test_second_start_names_the_first(dirs: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = dirs
    stack = start_dev(data_dir, env, *ANY_PORT)
    try:
        second = _segue(env, "dev", "--data-dir", str(data_dir), *ANY_PORT, cwd=ROOT, timeout=30)
        assert second.returncode == 1
        assert f"pid {stack.process.pid}" in second.stderr and stack.api in second.stderr
        # The first stack is untouched: still recorded, still answering.
        assert (data_dir / "api-url").read_text() == stack.api
        runs = _segue(env, "runs", cwd=data_dir.parent)
        assert runs.returncode == 0, runs.stderr
    finally:
        started = stack.processes()
        stack.stop()
    assert wait_gone(started) == []


def test_busy_port_is_a_clear_error(dirs: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = dirs
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["dev", "--data-dir", str(data_dir), *ANY_PORT, "--port", str(port)]
        refused = _segue(env, *args, cwd=ROOT, timeout=30)
    assert refused.returncode == 1
    assert f"port {port} (API) is in use" in refused.stderr and "--port" in refused.stderr
    assert processes_naming(data_dir) == []


def test_found_from_another_directory(dirs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    data_dir, env = dirs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stack = start_dev(data_dir, env, *ANY_PORT)
    try:
        example = str(ROOT / "examples" / "monitoring.yaml")
        run = _segue(env, "run", example, "--input", '{"interval": 0.2}', cwd=elsewhere, timeout=90)
        # The example polled the demo service of this stack, not whatever holds port 8090.
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == '{"checks": 3, "healthy": true}'
        assert not (elsewhere / ".segue").exists(), "a second stack was started"
        runs = _segue(env, "runs", cwd=elsewhere)
        assert runs.returncode == 0 and "monitoring" in runs.stdout
    finally:
        started = stack.processes()
        stack.stop()
    assert wait_gone(started) == []


def test_leftovers_of_an_unclean_exit_are_cleaned(dirs: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = dirs
    stack = start_dev(data_dir, env, *ANY_PORT)
    started = stack.processes()
    # The worst case: the stack and its guardian killed at once; the servers live on.
    guardians = [p for p in started if "api.guardian" in _seen(p, "cmdline")]
    assert guardians
    for process in [psutil.Process(stack.process.pid), *guardians]:
        process.kill()
    stack.process.wait(10)
    servers = [p for p in started if p.is_running() and p not in guardians]
    assert any("postgres" in _seen(p, "name") for p in servers)
    # A stale announcement pointing at an unrelated server, as in the issue.
    with socket.socket() as unrelated:
        unrelated.bind(("127.0.0.1", 0))
        unrelated.listen()
        (data_dir / "api-url").write_text(f"http://127.0.0.1:{unrelated.getsockname()[1]}")
        here = {**env, "SEGUE_DATA_DIR": str(data_dir)}
        lost = _segue(here, "runs", cwd=data_dir.parent)
    assert lost.returncode == 2 and "no API found" in lost.stderr, lost.stderr
    # Even with the record lost, the next start finds the servers by their files.
    (data_dir / "stack.json").unlink()

    again = start_dev(data_dir, env, *ANY_PORT)
    try:
        assert wait_gone(servers) == []
        output = again.output()
        assert "left by an earlier run" in output and "PostgreSQL" in output, output
    finally:
        started = again.processes()
        again.stop()
    assert wait_gone(started) == []


def test_ctrl_c_on_a_self_started_run(dirs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    data_dir, env = dirs
    env = {**env, "SEGUE_DATA_DIR": str(data_dir)}
    slow = tmp_path / "slow.yaml"
    slow.write_text("version: 1\nstart: [pause]\ntasks:\n  pause:\n    delay: 600\n")
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [SEGUE, "run", str(slow)],
            env=env,
            cwd=tmp_path,
            stderr=out,
            preexec_fn=_ctrl_c_as_typed,
        )
    try:
        deadline = time.monotonic() + 90
        while "pause" not in log.read_text():
            assert run.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        started = processes_naming(data_dir)
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130
    finally:
        if run.poll() is None:
            run.kill()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "goes on when a stack starts there again" in text and "segue cancel" in text, text
    assert wait_gone(started) == []


def test_ctrl_c_leaves_the_run_going_on_a_running_stack(
    dirs: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data_dir, env = dirs
    slow = tmp_path / "slow.yaml"
    slow.write_text("version: 1\nstart: [pause]\ntasks:\n  pause:\n    delay: 600\n")
    stack = start_dev(data_dir, env, *ANY_PORT)
    try:
        log = tmp_path / "run.log"
        with log.open("w") as out:
            run = subprocess.Popen(
                [SEGUE, "run", str(slow)],
                env=env,
                cwd=tmp_path,
                stderr=out,
                preexec_fn=_ctrl_c_as_typed,
            )
        try:
            deadline = time.monotonic() + 60
            while "pause" not in log.read_text():
                assert run.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            run.send_signal(signal.SIGINT)
            assert run.wait(30) == 130
        finally:
            if run.poll() is None:
                run.kill()
        text = log.read_text()
        assert "Traceback" not in text and "goes on" in text, text
        run_id = text.split("run ", 1)[1].split()[0]
        running = _segue(env, "runs", "--status", "Running", cwd=tmp_path)
        assert run_id in running.stdout, running.stdout + running.stderr
        assert _segue(env, "cancel", run_id, cwd=tmp_path).returncode == 0
    finally:
        started = stack.processes()
        stack.stop()
    assert wait_gone(started) == []


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_signal_while_temporal_starts_leaves_nothing(
    dirs: tuple[Path, dict[str, str]], signum: int
) -> None:
    """The signal lands in Temporal's readiness wait (its process runs, its port is not
    open yet): the server is stopped at once (SIGKILL: by the guardian), not left for
    the next start to clean."""
    data_dir, env = dirs
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flags = ["--port", "0", "--temporal-port", str(port), "--ui-port", "0", "--demo-port", "0"]
    stack = spawn_dev(data_dir, env, *flags)
    try:
        deadline = time.monotonic() + 60
        temporal: list[psutil.Process] = []
        while not temporal:
            assert time.monotonic() < deadline and stack.process.poll() is None, stack.output()
            temporal = [
                process
                for process in processes_naming(data_dir)
                if "start-dev" in " ".join(process.info.get("cmdline") or [])
            ]
            time.sleep(0.02)
        assert not _port_open(port), "missed the window: Temporal was already listening"
        status = stack.stop(signum)
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
    assert wait_gone(temporal) == [], stack.output()
    assert processes_naming(data_dir) == [], stack.output()
    if signum != signal.SIGKILL:
        assert status == 0, stack.output()
        assert not (data_dir / "stack.json").exists()
