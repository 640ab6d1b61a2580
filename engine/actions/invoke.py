"""Running one action attempt: look it up, check its input, call it, check its result.

Every failure leaves here as an `ActionError`, so the host has one thing to translate
into `$error`. Cancellation (`asyncio.CancelledError`) passes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import traceback
from dataclasses import replace
from typing import Any, Final

from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.catalog import ActionCatalog
from engine.actions.json_values import to_json_value
from engine.actions.reporting import TaskReporter

# How many lines of a handler's traceback `$error.details.traceback` keeps.
TRACEBACK_LINES: Final = 12


async def invoke(catalog: ActionCatalog, name: str, input: Any, context: ActionContext) -> Any:
    """Run action `name` once with `input`; its JSON result, or ActionError."""
    definition = catalog.get(name)
    if definition is None:
        raise _unknown(catalog, name)
    _check_input(definition, input)
    try:
        result = await _call(definition, input, context)
    except ActionError:
        raise
    except Exception as exc:
        raise ActionError(
            type(exc).__name__, str(exc) or type(exc).__name__, {"traceback": _tail(exc)}
        ) from exc
    try:
        return to_json_value(result)
    except ValueError as exc:
        raise ActionError(
            "invalid_result", f"{name} returned a value that is not JSON: {exc}"
        ) from None


def invoke_inline(definition: ActionDefinition, input: Any, context: ActionContext) -> Any:
    """Run a workflow-placed built-in in the caller (the workflow, the simulator): the
    same input check as `invoke`, then the plain handler, synchronously; or ActionError.

    No thread and no result check: only built-in actions are placed in the workflow,
    their handlers are plain, deterministic and return JSON by construction.
    """
    _check_input(definition, input)
    return definition.handler(input, context)


def _check_input(definition: ActionDefinition, input: Any) -> None:
    violations = definition.input_violations(input)
    if violations:
        raise ActionError(
            "invalid_input",
            f"{definition.name}: the input is invalid: " + "; ".join(violations),
            {"violations": violations},
        )


async def _call(definition: ActionDefinition, input: Any, context: ActionContext) -> Any:
    if definition.is_async:
        return await definition.handler(input, context)
    # A plain handler runs in a worker thread so that it cannot block the event loop.
    result = await _in_thread(definition, input, context)
    if inspect.isawaitable(result):  # a plain callable that returned a coroutine
        result = await result
    return result


async def _in_thread(definition: ActionDefinition, input: Any, context: ActionContext) -> Any:
    """Run a plain handler in a thread, with a context whose host callables are safe there.

    Heartbeats, log lines and progress hop back to the event loop's thread, where the
    host's callables live; an artifact waits there for the host's answer, so a refusal
    (too many artifacts) raises in the handler; `is_cancelled()` also turns true once this
    attempt was cancelled, since a thread cannot be interrupted and must notice by itself.
    """
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    def on_loop(function: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the attempt is over
            loop.call_soon_threadsafe(function, *args)

    def heartbeat(details: Any = None, /) -> None:
        on_loop(context.heartbeat, details)

    def is_cancelled() -> bool:
        return cancelled.is_set() or context.is_cancelled()

    threaded = replace(
        context,
        heartbeat=heartbeat,
        is_cancelled=is_cancelled,
        reporter=_ThreadReporter(context.reporter, loop, on_loop),
    )
    try:
        return await asyncio.to_thread(definition.handler, input, threaded)
    except asyncio.CancelledError:
        cancelled.set()
        raise


class _ThreadReporter:
    """A host reporter called from a handler's thread: every call runs on the loop."""

    def __init__(self, host: TaskReporter, loop: asyncio.AbstractEventLoop, on_loop: Any) -> None:
        self._host = host
        self._loop = loop
        self._on_loop = on_loop

    def log(self, level: str, message: str, data: dict[str, Any] | None, /) -> None:
        self._on_loop(self._host.log, level, message, data)

    def progress(self, done: float, total: float | None, message: str | None, /) -> None:
        self._on_loop(self._host.progress, done, total, message)

    def artifact(self, name: str, content: bytes, media_type: str, /) -> None:
        async def hand_over() -> None:
            self._host.artifact(name, content, media_type)

        asyncio.run_coroutine_threadsafe(hand_over(), self._loop).result()


def _unknown(catalog: ActionCatalog, name: str) -> ActionError:
    suggestions = catalog.suggest(name)
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    return ActionError(
        "unknown_action",
        f"no action named {name!r} in this worker's catalog{hint}",
        {"suggestions": suggestions} if suggestions else None,
    )


def _tail(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    return "\n".join(lines[-TRACEBACK_LINES:])
