"""Running one action attempt: look it up, check its input, call it, check its result.

Every failure leaves here as an `ActionError`, so the host has one thing to translate
into `$error`. Cancellation (`asyncio.CancelledError`) passes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import threading
import traceback
from dataclasses import replace
from typing import Any, Final

from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.catalog import ActionCatalog

# How many lines of a handler's traceback `$error.details.traceback` keeps.
TRACEBACK_LINES: Final = 12
# Results nested deeper than this are refused (and cycles with them).
MAX_RESULT_DEPTH: Final = 200


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

    Heartbeat and progress calls hop back to the event loop's thread, where the host's
    callables live; `is_cancelled()` also turns true once this attempt was cancelled, since
    a thread cannot be interrupted and must notice by itself.
    """
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    def on_loop(function: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the attempt is over
            loop.call_soon_threadsafe(function, *args)

    def heartbeat(details: Any = None, /) -> None:
        on_loop(context.heartbeat, details)

    def progress(message: str, data: Any = None, /) -> None:
        on_loop(context.progress, message, data)

    def is_cancelled() -> bool:
        return cancelled.is_set() or context.is_cancelled()

    threaded = replace(context, heartbeat=heartbeat, progress=progress, is_cancelled=is_cancelled)
    try:
        return await asyncio.to_thread(definition.handler, input, threaded)
    except asyncio.CancelledError:
        cancelled.set()
        raise


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


def to_json_value(value: Any, path: str = "result", depth: int = 0) -> Any:
    """`value` as plain JSON data (tuples become lists); ValueError naming the first bad path."""
    if depth > MAX_RESULT_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_RESULT_DEPTH} levels")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, member in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            converted[key] = to_json_value(member, f"{path}.{key}", depth + 1)
        return converted
    raise ValueError(f"{path}: a value of type {type(value).__name__} is not JSON")
