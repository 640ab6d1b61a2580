"""`shell.run`: run one program (an argv list, never a shell string) on the worker.

Off unless the worker was started with `--allow-shell`: a workflow author should not get
a shell on the worker by default. The process runs in its own session so that a timeout
or a cancellation kills it together with everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any, Final

from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.builtin.common import (
    HEARTBEAT_TIMEOUT,
    OUTPUT_LIMIT,
    decode_limited,
    heartbeating,
)
from engine.secret_source import DIR_VARIABLE, ENV_PREFIX

DEFAULT_TIMEOUT: Final = 60.0
# Output lines longer than this are logged in pieces of this size.
LOG_LINE_BYTES: Final = 8 * 1024
DISABLED_MESSAGE: Final = "shell.run is disabled; start the worker with --allow-shell"
DESCRIPTION: Final = "Run a program from an argv list; returns {returncode, stdout, stderr}"

INPUT_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "cwd": {"type": "string", "minLength": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "input": {"type": "string"},
        "check": {"type": "boolean"},
    },
    "required": ["argv"],
    "additionalProperties": False,
}


class _Capture:
    """One output stream: kept up to OUTPUT_LIMIT bytes for the result, drained to the
    end, and logged line by line while the process runs (`data.stream` names it)."""

    def __init__(self, context: ActionContext, name: str) -> None:
        self.data = bytearray()
        self.truncated = False
        self._context = context
        self._name = name
        self._partial = bytearray()

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            room = OUTPUT_LIMIT - len(self.data)
            self.data += chunk[: max(room, 0)]
            self.truncated = self.truncated or len(chunk) > room
            self._log_lines(chunk)
        if self._partial:  # a last line without a newline
            self._log(bytes(self._partial))
            self._partial.clear()

    def _log_lines(self, chunk: bytes) -> None:
        *complete, rest = (self._partial + chunk).split(b"\n")
        for line in complete:
            self._log(line)
        self._partial = bytearray(rest)
        # A line that never ends is logged in pieces rather than held without bound.
        while len(self._partial) >= LOG_LINE_BYTES:
            self._log(bytes(self._partial[:LOG_LINE_BYTES]))
            del self._partial[:LOG_LINE_BYTES]

    def _log(self, line: bytes | bytearray) -> None:
        text = line.decode("utf-8", errors="replace").removesuffix("\r")
        self._context.log("info", text, stream=self._name)

    def text(self) -> tuple[str, bool]:
        return decode_limited(bytes(self.data), self.truncated)


# The worker's own credentials: a program a workflow runs gets none of them (a workflow
# reads the secrets it names through `$secret`, and only those).
WITHHELD_PREFIXES: Final = (ENV_PREFIX, "SEGUE_CODEC_KEYS")
WITHHELD: Final = frozenset({DIR_VARIABLE, "SEGUE_API_TOKEN", "SEGUE_DATABASE_URL"})


def inherited_environment() -> dict[str, str]:
    """The worker's environment without its secrets, for the programs it runs."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in WITHHELD and not name.startswith(WITHHELD_PREFIXES)
    }


async def run(input: dict[str, Any], context: ActionContext) -> dict[str, Any]:
    """Run `argv`; a nonzero return code fails the attempt only with `check: true`."""
    argv: list[str] = input["argv"]
    timeout = float(input.get("timeout", DEFAULT_TIMEOUT))
    stdin_text: str | None = input.get("input")
    env = {**inherited_environment(), **input.get("env", {})}
    cwd: str | None = input.get("cwd")
    if cwd is not None and not os.path.isdir(cwd):
        raise ActionError(
            "shell_error", f"cwd {cwd!r} is not a directory", {"argv": argv, "cwd": cwd}
        )
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin_text is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise ActionError(
            "shell_error",
            f"cannot start {argv[0]!r}: {exc.strerror or exc}",
            {"argv": argv, "cwd": cwd},
        ) from None

    stdout, stderr = _Capture(context, "stdout"), _Capture(context, "stderr")
    try:
        async with heartbeating(context, lambda: {"pid": process.pid}), asyncio.timeout(timeout):
            await asyncio.gather(
                _feed(process.stdin, stdin_text),
                stdout.drain(process.stdout),
                stderr.drain(process.stderr),
                process.wait(),
            )
    except TimeoutError:
        await _kill(process)
        raise ActionError(
            "timeout",
            f"{argv[0]} did not finish within {timeout:g} s and was killed",
            _output(process.returncode, stdout, stderr),
        ) from None
    finally:
        if process.returncode is None:  # canceled, or a failure while waiting
            await _kill(process)

    result = _output(process.returncode, stdout, stderr)
    if input.get("check") and process.returncode != 0:
        raise ActionError("exit_status", f"{argv[0]} exited with code {process.returncode}", result)
    return result


async def _feed(stream: asyncio.StreamWriter | None, text: str | None) -> None:
    if stream is None or text is None:
        return
    try:
        stream.write(text.encode("utf-8"))
        await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):  # the program did not read it all
        pass


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the process and its whole session, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _output(returncode: int | None, stdout: _Capture, stderr: _Capture) -> dict[str, Any]:
    result: dict[str, Any] = {"returncode": returncode}
    for name, capture in (("stdout", stdout), ("stderr", stderr)):
        text, truncated = capture.text()
        result[name] = text
        if truncated:
            result[f"{name}_truncated"] = True
    return result


def _disabled(input: Any, context: ActionContext) -> None:
    raise ActionError("forbidden", DISABLED_MESSAGE)


def shell_actions(allow_shell: bool) -> tuple[ActionDefinition, ...]:
    """The `shell.*` definitions; with `allow_shell=False` every call fails as `forbidden`."""
    if not allow_shell:
        # No input schema: the answer is "disabled" whatever the input.
        return (ActionDefinition("shell.run", _disabled, description=DESCRIPTION),)
    return (
        ActionDefinition(
            "shell.run",
            run,
            description=DESCRIPTION,
            input_schema=INPUT_SCHEMA,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
        ),
    )
