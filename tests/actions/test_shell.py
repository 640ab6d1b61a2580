"""`shell.run`: refused by default; when allowed, a real subprocess with limits."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.actions import ActionCatalog, ActionContext, ActionError, invoke

ALLOWED = ActionCatalog.builtin(allow_shell=True)
PYTHON = sys.executable


def run(input: dict[str, Any], context: ActionContext, catalog: ActionCatalog = ALLOWED) -> Any:
    return asyncio.run(invoke(catalog, "shell.run", input, context))


def failure(input: dict[str, Any], context: ActionContext, catalog: ActionCatalog = ALLOWED) -> Any:
    with pytest.raises(ActionError) as caught:
        run(input, context, catalog)
    return caught.value


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_refused_by_default(context: ActionContext) -> None:
    error = failure({"argv": ["true"]}, context, ActionCatalog.builtin())
    assert error.type == "forbidden"
    assert error.message == "shell.run is disabled; start the worker with --allow-shell"
    assert ActionCatalog.from_environment(entry_points=[]).get("shell.run") is not None


def test_runs_with_env_cwd_and_stdin(context: ActionContext, tmp_path: Path) -> None:
    script = (
        "import os, sys; data = sys.stdin.read();"
        "print(os.environ['SEGUE_GREETING'], data.upper(), os.getcwd(), 'PATH' in os.environ);"
        "print('to stderr', file=sys.stderr)"
    )
    result = run(
        {
            "argv": [PYTHON, "-c", script],
            "env": {"SEGUE_GREETING": "hi"},
            "cwd": str(tmp_path),
            "input": "from stdin",
        },
        context,
    )
    assert result == {
        "returncode": 0,
        "stdout": f"hi FROM STDIN {tmp_path} True\n",
        "stderr": "to stderr\n",
    }


def test_programs_never_see_the_workers_secrets(
    context: ActionContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "SEGUE_SECRET_API_KEY",
        "SEGUE_SECRETS_DIR",
        "SEGUE_CODEC_KEYS",
        "SEGUE_CODEC_KEYS_FILE",
        "SEGUE_API_TOKEN",
        "SEGUE_DATABASE_URL",
    ):
        monkeypatch.setenv(name, "withheld-value")
    monkeypatch.setenv("SEGUE_TASK_QUEUE", "kept")
    script = "import os; print(' '.join(f'{k}={v}' for k, v in os.environ.items()))"
    for given in ({}, {"env": {"EXTRA": "1"}}):
        shown = run({"argv": [PYTHON, "-c", script], **given}, context)["stdout"]
        assert "withheld-value" not in shown and "SEGUE_TASK_QUEUE=kept" in shown


def test_nonzero_exit_is_a_result_unless_checked(context: ActionContext) -> None:
    argv = [PYTHON, "-c", "import sys; print('partial'); sys.exit(3)"]
    result = run({"argv": argv}, context)
    assert result["returncode"] == 3 and result["stdout"] == "partial\n"
    error = failure({"argv": argv, "check": True}, context)
    assert error.type == "exit_status"
    assert "code 3" in error.message
    assert error.details["stdout"] == "partial\n"


def test_timeout_kills_the_process_and_its_children(context: ActionContext) -> None:
    script = (
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
        "print(child.pid, flush=True); time.sleep(30)"
    )
    started = time.monotonic()
    error = failure({"argv": [PYTHON, "-c", script], "timeout": 0.5}, context)
    assert time.monotonic() - started < 5
    assert error.type == "timeout"
    assert "0.5 s" in error.message and "killed" in error.message
    assert error.details["returncode"] == -9
    grandchild = int(error.details["stdout"])
    assert wait_dead(grandchild)


def test_cancellation_kills_the_process(context: ActionContext, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    )

    async def scenario() -> int:
        task = asyncio.create_task(
            invoke(ALLOWED, "shell.run", {"argv": [PYTHON, "-c", script]}, context)
        )
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(pid_file.read_text())

    assert wait_dead(asyncio.run(scenario()))


def test_output_is_truncated(context: ActionContext) -> None:
    result = run({"argv": [PYTHON, "-c", "print('x' * 100_000)"]}, context)
    assert len(result["stdout"]) == 64 * 1024
    assert result["stdout_truncated"] is True
    assert "stderr_truncated" not in result


def test_program_not_found(context: ActionContext) -> None:
    error = failure({"argv": ["/no/such/program"]}, context)
    assert error.type == "shell_error"
    assert "/no/such/program" in error.message
    error = failure({"argv": ["true"], "cwd": "/no/such/dir"}, context)
    assert (error.type, error.message) == ("shell_error", "cwd '/no/such/dir' is not a directory")


def test_shell_strings_are_not_accepted(context: ActionContext) -> None:
    error = failure({"argv": "echo hi | wc"}, context)
    assert error.type == "invalid_input"
    assert error.details["violations"] == ["input.argv: 'echo hi | wc' is not of type 'array'"]


def test_heartbeats_while_running(recorder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.actions.builtin.common.HEARTBEAT_INTERVAL", 0.05)
    run({"argv": [PYTHON, "-c", "import time; time.sleep(0.4)"]}, recorder.context())
    assert recorder.heartbeats and all("pid" in beat for beat in recorder.heartbeats)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # Lines as they were printed, each with its stream; CRLF endings and a last line
        # without a newline are lines too; bytes that are not UTF-8 are replaced.
        (
            "import sys; print('a'); print('b', file=sys.stderr); sys.stdout.write('c\\r\\nd')",
            [("a", "stdout"), ("c", "stdout"), ("d", "stdout"), ("b", "stderr")],
        ),
        ("import sys; sys.stdout.buffer.write(b'\\xff ok\\n')", [("\ufffd ok", "stdout")]),
        ("print()", [("", "stdout")]),
        ("pass", []),
    ],
)
def test_output_is_logged_line_by_line(
    recorder: Any, script: str, expected: list[tuple[str, str]]
) -> None:
    run({"argv": [PYTHON, "-c", script]}, recorder.context())
    logged = [(message, data["stream"]) for _, message, data in recorder.logs]
    # The two streams are read side by side: order is kept within each stream.
    for stream in ("stdout", "stderr"):
        assert [m for m, s in logged if s == stream] == [m for m, s in expected if s == stream]
    assert {level for level, _, _ in recorder.logs} <= {"info"}


def test_a_line_that_never_ends_is_logged_in_pieces(recorder: Any) -> None:
    script = "import sys; sys.stdout.write('x' * 20000)"
    run({"argv": [PYTHON, "-c", script]}, recorder.context())
    assert [len(message) for _, message, _ in recorder.logs] == [8192, 8192, 3616]
