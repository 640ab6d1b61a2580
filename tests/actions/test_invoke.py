"""`invoke`: lookup, input checks, threads for plain handlers, error and result mapping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from engine.actions import ActionCatalog, ActionContext, ActionDefinition, ActionError, invoke
from tests.actions.conftest import Recorder


def catalog_with(name: str, handler: Callable[..., Any], **options: Any) -> ActionCatalog:
    return ActionCatalog([ActionDefinition(name, handler, **options)])


def failure(catalog: ActionCatalog, name: str, input: Any, context: ActionContext) -> ActionError:
    with pytest.raises(ActionError) as caught:
        asyncio.run(invoke(catalog, name, input, context))
    return caught.value


def test_unknown_action_suggests_close_names(context: ActionContext) -> None:
    error = failure(ActionCatalog.builtin(), "core.ecko", {}, context)
    assert error.type == "unknown_action"
    assert error.message == (
        "no action named 'core.ecko' in this worker's catalog; did you mean core.echo?"
    )
    assert error.details == {"suggestions": ["core.echo"]}
    plain = failure(ActionCatalog.builtin(), "nothing.like_it", {}, context)
    assert plain.message == "no action named 'nothing.like_it' in this worker's catalog"
    assert plain.details is None


def test_invalid_input_lists_every_violation(context: ActionContext) -> None:
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 1},
            "name": {"type": "string"},
            "items": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["count", "name"],
        "additionalProperties": False,
    }
    catalog = catalog_with("t.checked", lambda input, ctx: "ran", input_schema=schema)
    error = failure(catalog, "t.checked", {"count": 0, "items": ["a", 2, 3], "extra": 1}, context)
    assert error.type == "invalid_input"
    assert error.details["violations"] == [
        "input: 'name' is a required property",
        "input: Additional properties are not allowed ('extra' was unexpected)",
        "input.count: 0 is less than the minimum of 1",
        "input.items[1]: 2 is not of type 'string'",
        "input.items[2]: 3 is not of type 'string'",
    ]
    assert error.message.startswith("t.checked: the input is invalid: input: 'name' is a required")
    assert asyncio.run(invoke(catalog, "t.checked", {"count": 1, "name": "x"}, context)) == "ran"


def test_plain_handler_runs_in_a_thread_without_blocking_the_loop(context: ActionContext) -> None:
    def blocking(input: Any, ctx: ActionContext) -> str:
        time.sleep(0.3)
        return threading.current_thread().name

    catalog = catalog_with("t.blocking", blocking)

    async def scenario() -> tuple[list[str], int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(ticker())
        started = time.monotonic()
        names = await asyncio.gather(
            *(invoke(catalog, "t.blocking", None, context) for _ in range(3))
        )
        elapsed = time.monotonic() - started
        beat.cancel()
        return list(names), ticks, elapsed

    names, ticks, elapsed = asyncio.run(scenario())
    assert threading.main_thread().name not in names
    assert ticks >= 10  # the loop kept running while the handlers slept
    assert elapsed < 0.6  # three 0.3 s handlers ran side by side


def test_host_callables_are_called_on_the_loop_thread(recorder: Recorder) -> None:
    def chatty(input: Any, ctx: ActionContext) -> None:
        ctx.heartbeat({"at": 1})
        ctx.progress(1, 2, "halfway")
        ctx.log("info", "a line", n=1)
        ctx.artifact("notes.txt", "hello")
        ctx.heartbeat()

    catalog = catalog_with("t.chatty", chatty)
    asyncio.run(invoke(catalog, "t.chatty", None, recorder.context()))
    assert recorder.heartbeats == [{"at": 1}, None]
    assert recorder.progress == [(1, 2, "halfway")]
    assert recorder.logs == [("info", "a line", {"n": 1})]
    assert recorder.artifacts == [("notes.txt", b"hello", "text/plain; charset=utf-8")]
    assert recorder.threads == {threading.get_ident()}


def test_a_cancelled_plain_handler_sees_is_cancelled(context: ActionContext) -> None:
    noticed = threading.Event()

    def patient(input: Any, ctx: ActionContext) -> None:
        while not ctx.is_cancelled():
            time.sleep(0.01)
        noticed.set()

    catalog = catalog_with("t.patient", patient)

    async def scenario() -> None:
        task = asyncio.create_task(invoke(catalog, "t.patient", None, context))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert noticed.wait(2)


def test_exceptions_become_action_errors(context: ActionContext) -> None:
    def broken_helper() -> None:
        raise ValueError("the widget is bent")

    def broken(input: Any, ctx: ActionContext) -> None:
        broken_helper()

    async def broken_async(input: Any, ctx: ActionContext) -> None:
        empty: dict[str, int] = {}
        empty["missing"]

    catalog = ActionCatalog(
        [ActionDefinition("t.broken", broken), ActionDefinition("t.async_broken", broken_async)]
    )
    error = failure(catalog, "t.broken", None, context)
    assert (error.type, error.message) == ("ValueError", "the widget is bent")
    trace = error.details["traceback"]
    assert "broken_helper" in trace and trace.endswith("ValueError: the widget is bent")
    assert len(trace.splitlines()) <= 12
    assert isinstance(error.__cause__, ValueError)
    error = failure(catalog, "t.async_broken", None, context)
    assert (error.type, error.message) == ("KeyError", "'missing'")


def test_action_errors_pass_through(context: ActionContext) -> None:
    def refuses(input: Any, ctx: ActionContext) -> None:
        raise ActionError("quota", "over quota", {"limit": 3})

    error = failure(catalog_with("t.refuses", refuses), "t.refuses", None, context)
    assert error.to_json() == {"type": "quota", "message": "over quota", "details": {"limit": 3}}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1, 2}, "result: a value of type set is not JSON"),
        ({"when": object()}, "result.when: a value of type object is not JSON"),
        ({"ratio": float("nan")}, "result.ratio: nan is not a JSON number"),
        ({1: "a"}, "result: key 1 is not a string"),
        ([b"bytes"], "result[0]: a value of type bytes is not JSON"),
    ],
)
def test_results_must_be_json(context: ActionContext, value: Any, reason: str) -> None:
    error = failure(catalog_with("t.odd", lambda input, ctx: value), "t.odd", None, context)
    assert error.type == "invalid_result"
    assert error.message == f"t.odd returned a value that is not JSON: {reason}"


def test_results_are_normalised(context: ActionContext) -> None:
    catalog = catalog_with("t.tuple", lambda input, ctx: {"pair": (1, (2.5, None)), "ok": True})
    assert asyncio.run(invoke(catalog, "t.tuple", None, context)) == {
        "pair": [1, [2.5, None]],
        "ok": True,
    }


def test_callable_objects_and_coroutine_returning_lambdas(context: ActionContext) -> None:
    class Doubler:
        async def __call__(self, input: Any, ctx: ActionContext) -> Any:
            return input * 2

    async def later(value: Any) -> Any:
        return value

    catalog = ActionCatalog(
        [
            ActionDefinition("t.doubler", Doubler()),
            ActionDefinition("t.lazy", lambda input, ctx: later(input)),
        ]
    )
    assert catalog.get("t.doubler").is_async  # type: ignore[union-attr]

    async def calls() -> list[Any]:
        return [
            await invoke(catalog, "t.doubler", 21, context),
            await invoke(catalog, "t.lazy", "x", context),
        ]

    assert asyncio.run(calls()) == [42, "x"]
