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
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import FailureError
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from engine.coordinator.payloads import payload_size
from engine.masking import Masker
from engine.simulator.recorded import RecordedAttempt, RecordedRun
from engine.temporal.client import ExecutionNotFound, TemporalClientError, translated_errors
from engine.temporal.dispatch import error_info
from engine.temporal.interpreter import Interpreter
from engine.temporal.types import RUN_ACTION
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


@dataclass
class _Seen:
    """One `run_action` attempt as the replayed workflow made it."""

    request: Any
    ended: bool = False
    outcome: Any = None
    failure: BaseException | None = None


@dataclass
class _Spy(Interceptor):
    """Notes every `run_action` attempt of the replayed workflow and how it ended."""

    wanted: Collection[int]
    seen: list[_Seen] = field(default_factory=list)

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

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound

    def watch(self, activity: str, args: Any, handle: ActivityHandle[Any]) -> ActivityHandle[Any]:
        request = args[0] if activity == RUN_ACTION and args else None
        if getattr(request, "execution", None) not in self.wanted:
            return handle
        seen = _Seen(request)
        self.seen.append(seen)

        def ended(done: ActivityHandle[Any]) -> None:
            if done.cancelled():
                return  # never ended: its worker was told to stop
            seen.ended = True
            seen.failure = done.exception()
            seen.outcome = None if seen.failure else done.result()

        handle.add_done_callback(ended)
        return handle


async def recorded_attempts(client: Client, run_id: str, wanted: Collection[int]) -> RecordedRun:
    """The attempts of the `wanted` executions of run `run_id`, as its history holds
    them; `missing` says why none could be read."""
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
    secrets: set[str] = set()
    for attempt in seen:
        secrets.update(getattr(attempt.request, "secrets", None) or ())
        secrets.update(getattr(attempt.outcome, "secrets", None) or ())
    masker = Masker(secrets)
    attempts: dict[int, list[RecordedAttempt]] = {}
    for attempt in seen:
        request = attempt.request
        failure = attempt.failure
        error = None
        if failure is not None:
            error = (
                error_info(failure).to_json()
                if isinstance(failure, FailureError)
                else {"type": type(failure).__name__, "message": str(failure)}
            )
            error["message"] = masker.message(str(error["message"]))
        result = getattr(attempt.outcome, "result", None) if failure is None else None
        attempts.setdefault(request.execution, []).append(
            RecordedAttempt(
                execution=request.execution,
                attempt=request.attempt,
                item=request.item,
                result=masker.value(result),
                error=None if error is None else masker.value(error),
                ended=attempt.ended,
            )
        )
    return attempts


__all__ = ["MAX_HISTORY_EVENTS", "MAX_RECORDED_BYTES", "READ_SECONDS", "recorded_attempts"]
