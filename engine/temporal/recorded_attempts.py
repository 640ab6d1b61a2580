"""A run's action attempts read back from Temporal's history, for an exact export.

The trace keeps a result only as a 1 KiB summary and does not say how each item of a
failed with-items execution ended (engine/simulator/export.py). Temporal's history holds
every attempt: an activity's request and result in its scheduled and completed events, a
local activity's result in a marker that does not hold its request. Rather than pair
events by hand, the history is replayed on the production workflow code (the same
`Replayer` the replay tests use) with an interceptor that sees each `run_action` request
and how its handle ends, whether Temporal ran it as an activity or a local activity, and
whether it was opened by the claim-check codec or not.

Bounded: the chain of executions (continue-as-new) is walked from the latest one back,
one history in memory at a time; past `MAX_HISTORY_EVENTS` events, `READ_SECONDS` or
`MAX_RECORDED_BYTES` of results nothing is used (an execution's attempts may span two
histories, so a partial read could be wrong) and the export says why it stays inexact.
Values are masked as the trace masks them: with every secret value the run knew (its
requests and outcomes carry them), messages with URLs redacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ChildWorkflowError, FailureError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle, ChildWorkflowHandle

from engine.coordinator import ErrorInfo
from engine.coordinator.behaviour import CURRENT_BEHAVIOUR
from engine.coordinator.payloads import payload_size
from engine.masking import Masker
from engine.simulator.recorded import ExecutionName, RecordedAttempt, RecordedRun
from engine.temporal.carried import carried_of
from engine.temporal.children import child_error
from engine.temporal.client import ExecutionNotFound, TemporalClientError, translated_errors
from engine.temporal.dispatch import child_output, error_info
from engine.temporal.interpreter import Interpreter
from engine.temporal.types import RUN_ACTION, UPDATE_ANSWER, UPDATE_EVENT, TakenWait
from engine.temporal.worker import workflow_runner

# A run longer than this is exported from its trace alone (each attempt takes 3 to 6
# history events; a 10,000-item with-items execution retried twice stays well inside).
MAX_HISTORY_EVENTS: Final = 500_000
# Replaying costs about what the worker spent deciding the run; an export that would
# take longer is answered from the trace rather than holding the request.
READ_SECONDS: Final = 60.0
# The export answers with every result read: past this many bytes of them as JSON (a
# run on behaviour 4, whose item results were not capped) it answers from the trace.
MAX_RECORDED_BYTES: Final = 64 * 1024 * 1024

# An activity's handle or a child run's: both are asyncio tasks of the workflow.
_Handle = TypeVar("_Handle", ActivityHandle[Any], ChildWorkflowHandle[Any, Any])


@dataclass
class _Seen:
    """One attempt of a wanted execution as the replayed workflow made it: an action
    attempt, a child run, or a wait's answer."""

    execution: int
    attempt: int
    item: int | None
    secrets: list[str] = field(default_factory=list)
    ended: bool = False
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class _Spy(Interceptor):
    """Notes every attempt of the wanted executions of the replayed workflow: its
    `run_action` activities, its child runs (named by task and iteration), and the
    answers its `answer` and `event` Updates gave waits."""

    wanted: Mapping[int, ExecutionName]
    seen: list[_Seen] = field(default_factory=list)
    # The wanted executions by the name their child runs are known by.
    by_name: dict[ExecutionName, int] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {name: execution for execution, name in self.wanted.items()}

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        spy = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                return spy.watch(input.activity, input.args, super().start_activity(input))

            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
                handle = super().start_local_activity(input)
                return spy.watch(input.activity, input.args, handle)

            async def start_child_workflow(
                self, input: StartChildWorkflowInput
            ) -> ChildWorkflowHandle[Any, Any]:
                handle = await super().start_child_workflow(input)
                return spy.watch_child(input.id, input.args, handle)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                taken = await super().handle_update_handler(input)
                if input.update in (UPDATE_ANSWER, UPDATE_EVENT) and input.args:
                    spy.answered(input.args[0], taken)
                return taken

        return Inbound

    def watch(self, activity: str, args: Any, handle: ActivityHandle[Any]) -> ActivityHandle[Any]:
        request = args[0] if activity == RUN_ACTION and args else None
        if request is None or getattr(request, "execution", None) not in self.wanted:
            return handle
        secrets = list(getattr(request, "secrets", None) or ())
        seen = _Seen(request.execution, request.attempt, request.item, secrets)

        def succeeded(outcome: Any) -> None:
            seen.result = getattr(outcome, "result", None)
            seen.secrets.extend(getattr(outcome, "secrets", None) or ())

        return self._until_ended(seen, handle, succeeded, error_info)

    def watch_child(
        self, child_id: str, args: Any, handle: ChildWorkflowHandle[Any, Any]
    ) -> ChildWorkflowHandle[Any, Any]:
        named = _child_named(child_id, getattr(args[0], "parent_run_id", None) if args else None)
        execution = self.by_name.get(named[0]) if named else None
        if named is None or execution is None:
            return handle
        _, item, attempt = named
        seen = _Seen(execution, attempt, item, list(carried_of(args[0]).masked))

        def succeeded(result: Any) -> None:
            seen.result = child_output(result)

        def failed(failure: FailureError) -> ErrorInfo:
            if isinstance(failure, ChildWorkflowError):
                # As the parent saw it; a run on behaviour 1 said `child_failed` where
                # this says `timeout` for a child run out of time.
                return child_error(failure, CURRENT_BEHAVIOUR)
            return error_info(failure)

        return self._until_ended(seen, handle, succeeded, failed)

    def _until_ended(
        self,
        seen: _Seen,
        handle: _Handle,
        succeeded: Callable[[Any], None],
        failed: Callable[[FailureError], ErrorInfo],
    ) -> _Handle:
        """Note `seen`, and how its activity or child run ends (a cancelled one never
        ended: its worker was told to stop)."""
        self.seen.append(seen)

        def ended(done: _Handle) -> None:
            if done.cancelled():
                return
            seen.ended = True
            failure = done.exception()
            if failure is None:
                succeeded(done.result())
            elif isinstance(failure, FailureError):
                seen.error = failed(failure).to_json()
            else:
                seen.error = {"type": type(failure).__name__, "message": str(failure)}

        handle.add_done_callback(ended)
        return handle

    def answered(self, answer: Any, taken: Any) -> None:
        """An Update's answer, for each wait it was taken by (the Update's result)."""
        for wait in taken if isinstance(taken, list) else [taken]:
            if isinstance(wait, TakenWait) and wait.execution in self.wanted:
                found = _Seen(wait.execution, wait.attempt, wait.item, ended=True)
                found.result = getattr(answer, "payload", None)
                self.seen.append(found)


def _child_named(child_id: str, parent: str | None) -> tuple[ExecutionName, int, int] | None:
    """(task and iteration, item, attempt) of a child run named as `dispatch.child`
    names it: `{parent}.{task}.{iteration}.{item or 0}.{attempt}`; None: not so named."""
    if parent is None or not child_id.startswith(f"{parent}."):
        return None
    parts = child_id[len(parent) + 1 :].rsplit(".", 3)
    if len(parts) != 4 or not all(part.isdigit() for part in parts[1:]):
        return None
    task, iteration, item, attempt = parts
    return ExecutionName(task, int(iteration)), int(item), int(attempt)


async def recorded_attempts(
    client: Client, run_id: str, wanted: Mapping[int, ExecutionName]
) -> RecordedRun:
    """The attempts of the `wanted` executions of run `run_id` (by execution id, with
    the name a child run is known by), as its history holds them; `missing` says why
    none could be read."""
    spy = _Spy(wanted)
    counted = _Counted()
    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=client.data_converter,
        interceptors=[spy],
    )
    try:
        async with asyncio.timeout(READ_SECONDS):
            async with replayer.workflow_replay_iterator(
                _chain(client, run_id, counted)
            ) as replayed:
                async for result in replayed:
                    if result.replay_failure is not None:
                        failure = result.replay_failure
                        return RecordedRun({}, f"its history did not replay ({failure})")
    except ExecutionNotFound:
        return RecordedRun({}, "Temporal no longer holds the run's history (retention)")
    except _TooLong:
        return RecordedRun(
            {}, f"the run's history has more than {MAX_HISTORY_EVENTS} events; the trace is used"
        )
    except TimeoutError:
        return RecordedRun({}, f"reading the run's history took longer than {READ_SECONDS:g} s")
    except TemporalClientError as error:
        return RecordedRun({}, f"the run's history could not be read ({error.message})")
    attempts = _attempts(spy.seen)
    size = sum(payload_size(a.result) for found in attempts.values() for a in found)
    if size > MAX_RECORDED_BYTES:
        return RecordedRun(
            {}, f"the results read add up to {size:,} bytes, more than {MAX_RECORDED_BYTES:,}"
        )
    return RecordedRun(attempts)


class _TooLong(Exception):
    pass


@dataclass
class _Counted:
    events: int = 0


async def _chain(client: Client, run_id: str, counted: _Counted) -> AsyncIterator[WorkflowHistory]:
    """The histories of the run's executions, the latest first, then each one it was
    continued from."""
    execution: str | None = None
    while True:
        async with translated_errors():
            history = await client.get_workflow_handle(run_id, run_id=execution).fetch_history()
        counted.events += len(history.events)
        if counted.events > MAX_HISTORY_EVENTS:
            raise _TooLong
        yield history
        started = history.events[0].workflow_execution_started_event_attributes
        execution = started.continued_execution_run_id or None
        if execution is None:
            return


def _attempts(seen: list[_Seen]) -> dict[int, list[RecordedAttempt]]:
    masker = Masker({secret for attempt in seen for secret in attempt.secrets})
    attempts: dict[int, list[RecordedAttempt]] = {}
    for attempt in seen:
        error = None
        if attempt.error is not None:
            error = {**attempt.error, "message": masker.message(str(attempt.error["message"]))}
        attempts.setdefault(attempt.execution, []).append(
            RecordedAttempt(
                execution=attempt.execution,
                attempt=attempt.attempt,
                item=attempt.item,
                result=masker.value(attempt.result),
                error=None if error is None else masker.value(error),
                ended=attempt.ended,
            )
        )
    return attempts


__all__ = ["MAX_HISTORY_EVENTS", "MAX_RECORDED_BYTES", "READ_SECONDS", "recorded_attempts"]
