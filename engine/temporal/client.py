"""Client-side Temporal operations on Segue runs, for the API (and later the CLI).

A run's Temporal workflow id is its run id. Every function here translates Temporal's
errors into the small `TemporalClientError` family below, so callers never parse RPC
status codes themselves.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine.statuses import FROM_TEMPORAL, ApiStatus
from engine.temporal.run_progress import LiveProgress
from engine.temporal.types import (
    INTERPRETER_WORKFLOW,
    QUERY_PROGRESS,
    SIGNAL_DELIVER,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    UPDATE_ANSWER,
    UPDATE_EVENT,
    InterpreterInput,
    SignalPayload,
    TakenWait,
)

_UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})
# Codes after which a call may or may not have taken effect: timeouts (CANCELLED is how
# the SDK reports its own `rpc_timeout` expiring, "Timeout expired") and broken streams.
_OUTCOME_UNKNOWN = frozenset({"DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN", "INTERNAL"})


class TemporalClientError(Exception):
    """Base of the errors of this module; `temporal_code` is Temporal's own code, if any."""

    code = "TEMPORAL_ERROR"

    def __init__(self, message: str, temporal_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.temporal_code = temporal_code

    @property
    def outcome_unknown(self) -> bool:
        """Whether the call may have taken effect although it failed (a timeout)."""
        return self.temporal_code in _OUTCOME_UNKNOWN


class TemporalUnavailable(TemporalClientError):
    """The Temporal frontend cannot be reached (or did not answer in time)."""

    code = "TEMPORAL_UNAVAILABLE"


class ExecutionNotFound(TemporalClientError):
    """Temporal has no such execution, or it has already closed (signal, cancel)."""

    code = "EXECUTION_NOT_FOUND"


class TemporalRefused(TemporalClientError):
    """Temporal answered with an error other than the ones above."""

    code = "TEMPORAL_REFUSED"


class AnswerRefused(TemporalClientError):
    """The run refused an answer or an event (its Update failed); `refusal` is the stable
    code the run gave (engine/temporal/answers.py), `details` its problem members."""

    code = "ANSWER_REFUSED"

    def __init__(self, message: str, refusal: str, details: dict[str, Any]) -> None:
        super().__init__(message, "UPDATE_FAILED")
        self.refusal = refusal
        self.details = details


class RunDescription(NamedTuple):
    """What Temporal says about a run's latest execution."""

    status: str  # in the API's words (engine/statuses.py)
    history_length: int
    temporal_run_id: str | None
    closed_at: datetime | None
    temporal_status: str  # Temporal's own name for it, e.g. CANCELED


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Turn Temporal's exceptions raised inside the block into `TemporalClientError`s."""
    try:
        yield
    except WorkflowAlreadyStartedError as error:
        raise TemporalRefused(str(error), "ALREADY_EXISTS") from error
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if not isinstance(cause, ApplicationError):
            raise TemporalRefused(str(cause or error), "UPDATE_FAILED") from error
        details = cause.details[0] if cause.details else {}
        raise AnswerRefused(
            cause.message,
            cause.type or "REFUSED",
            details if isinstance(details, dict) else {},
        ) from error
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError) as error:
        raise TemporalRefused(str(error), "QUERY_FAILED") from error
    except RPCError as error:
        status = RPCStatusCode(error.status)
        if status in _UNREACHABLE:
            raise TemporalUnavailable(error.message, status.name) from error
        if status is RPCStatusCode.NOT_FOUND:
            raise ExecutionNotFound(error.message, status.name) from error
        raise TemporalRefused(error.message, status.name) from error
    except RuntimeError as error:
        # A lazily connected client reports a failed connection this way.
        if "connect" not in str(error).lower():
            raise
        raise TemporalUnavailable(str(error), "UNAVAILABLE") from error


async def start_run(
    client: Client,
    params: InterpreterInput,
    *,
    task_queue: str,
    timeout: timedelta | None = None,
) -> str:
    """Start the interpreter for a run (workflow id = run id); the Temporal run id.

    Starting twice is harmless while the first execution runs (the existing one is
    used); a run id whose execution has closed is never started again."""
    async with translated_errors():
        handle = await client.start_workflow(
            INTERPRETER_WORKFLOW,
            params,
            id=params.run_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            rpc_timeout=timeout,
        )
    return handle.result_run_id or handle.first_execution_run_id or params.run_id


async def describe_run(
    client: Client, run_id: str, *, timeout: timedelta | None = None
) -> RunDescription:
    """The status, history length and Temporal run id of the run's latest execution."""
    async with translated_errors():
        found = await client.get_workflow_handle(run_id).describe(rpc_timeout=timeout)
    raw = found.status or WorkflowExecutionStatus.RUNNING
    return RunDescription(
        FROM_TEMPORAL.get(raw.name, ApiStatus.RUNNING),
        found.history_length,
        found.run_id,
        found.close_time,
        raw.name,
    )


# Run ids a visibility query can name verbatim in quotes: no quote, backslash or control
# character. A run id with one (a child run of a task so named) is left to its run page.
_QUERYABLE_ID = re.compile(r"[^'\"\\\x00-\x1f\x7f]{1,400}")
# Ids in one visibility query (`GET /runs` asks once per 200 rows of its page).
MAX_DESCRIBED = 200


async def describe_runs(
    client: Client, run_ids: Sequence[str], *, timeout: timedelta | None = None
) -> dict[str, RunDescription]:
    """What Temporal's visibility store says about each run's latest execution, in one
    list call (ids it does not know, or cannot name in a query, are left out).

    Visibility lags the executions by a moment, so this serves list views; the single
    run view asks `describe_run`, which is exact."""
    wanted = sorted({run_id for run_id in run_ids if _QUERYABLE_ID.fullmatch(run_id)})
    if not wanted:
        return {}
    if len(wanted) > MAX_DESCRIBED:
        raise ValueError(f"at most {MAX_DESCRIBED} runs are described at once")
    listed = ", ".join(f"'{run_id}'" for run_id in wanted)
    latest: dict[str, Any] = {}
    async with translated_errors():
        # A run continued as new has one execution per continuation: the newest speaks.
        async for found in client.list_workflows(
            f"WorkflowId IN ({listed})", page_size=4 * len(wanted), rpc_timeout=timeout
        ):
            known = latest.get(found.id)
            if known is None or found.start_time > known.start_time:
                latest[found.id] = found
    return {
        run_id: RunDescription(
            FROM_TEMPORAL.get(
                (found.status or WorkflowExecutionStatus.RUNNING).name, ApiStatus.RUNNING
            ),
            found.history_length,
            found.run_id,
            found.close_time,
            (found.status or WorkflowExecutionStatus.RUNNING).name,
        )
        for run_id, found in latest.items()
    }


async def cancel_run(
    client: Client, run_id: str, *, reason: str = "", timeout: timedelta | None = None
) -> None:
    """Ask Temporal to cancel the run; returns once Temporal accepted the request."""
    async with translated_errors():
        await client.get_workflow_handle(run_id).cancel(reason=reason, rpc_timeout=timeout)


async def signal_pause(client: Client, run_id: str, *, timeout: timedelta | None = None) -> None:
    """Ask the run to start nothing new until resumed (in-flight work continues)."""
    async with translated_errors():
        await client.get_workflow_handle(run_id).signal(SIGNAL_PAUSE, rpc_timeout=timeout)


async def signal_resume(client: Client, run_id: str, *, timeout: timedelta | None = None) -> None:
    async with translated_errors():
        await client.get_workflow_handle(run_id).signal(SIGNAL_RESUME, rpc_timeout=timeout)


async def deliver(
    client: Client, run_id: str, signal: SignalPayload, *, timeout: timedelta | None = None
) -> None:
    """Send a payload to a waiting task of the run (`deliver` signal)."""
    async with translated_errors():
        await client.get_workflow_handle(run_id).signal(SIGNAL_DELIVER, signal, rpc_timeout=timeout)


async def answer_wait(
    client: Client, run_id: str, answer: SignalPayload, *, timeout: timedelta | None = None
) -> TakenWait:
    """Answer a wait of the run (an Update): which wait took it; `AnswerRefused` if none."""
    async with translated_errors():
        taken: TakenWait = await client.get_workflow_handle(run_id).execute_update(
            UPDATE_ANSWER, answer, result_type=TakenWait, rpc_timeout=timeout
        )
    return taken


async def deliver_event(
    client: Client, run_id: str, event: SignalPayload, *, timeout: timedelta | None = None
) -> list[TakenWait]:
    """Offer an event to the run (an Update): the waits that took it; `AnswerRefused` if
    none did."""
    async with translated_errors():
        taken: list[TakenWait] = await client.get_workflow_handle(run_id).execute_update(
            UPDATE_EVENT, event, result_type=list[TakenWait], rpc_timeout=timeout
        )
    return taken


async def query_progress(
    client: Client, run_id: str, *, timeout: timedelta | None = None
) -> LiveProgress:
    """The interpreter's live `progress` (status, counters, running and waiting tasks).
    Needs a worker to answer: pass a `timeout` where a slow answer is worse than none."""
    async with translated_errors():
        try:
            answer: LiveProgress = await client.get_workflow_handle(run_id).query(
                QUERY_PROGRESS, result_type=LiveProgress, rpc_timeout=timeout
            )
        except TypeError as error:  # the converter's word for an answer of another shape
            raise TemporalRefused(f"unexpected progress answer: {error}") from None
    return answer


async def check_health(client: Client, *, timeout: timedelta | None = None) -> bool:
    """Whether the Temporal frontend answers its health check."""
    async with translated_errors():
        return await client.service_client.check_health(timeout=timeout)
