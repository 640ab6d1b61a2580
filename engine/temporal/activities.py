"""The activities a Segue worker runs: one action attempt, a trace batch, a workflow lookup.

Action failures leave as non-retryable `ApplicationError`s (the coordinator owns the
retry policy); only infrastructure failures — a worker that died, whose heartbeats
stopped — are retried by Temporal, and they reach the workflow as the same attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from opentelemetry import trace
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError

from engine.actions.api import ActionContext, ActionError
from engine.actions.catalog import ActionCatalog
from engine.actions.invoke import invoke
from engine.coordinator.payloads import MAX_PAYLOAD_BYTES, PAYLOAD_TOO_LARGE, payload_size
from engine.masking import Masker
from engine.secret_source import SECRET_UNKNOWN, SecretUnavailable, resolve_secrets
from engine.store._db import StorePool
from engine.temporal.action_metrics import ActionMetrics
from engine.temporal.limit_activities import LimitActivities
from engine.temporal.task_logs import Announce, AttemptKey, AttemptLog, TaskLogStore
from engine.temporal.types import (
    LOOKUP_WORKFLOW,
    RECORD_TRACE,
    RESOLVE_SECRETS,
    RUN_ACTION,
    ActionOutcome,
    ActionRequest,
    TaskArtifact,
    TaskProgress,
    TraceBatch,
    WorkflowFound,
)

# Seconds between the wrapper's heartbeats. They tell the server the worker is alive (the
# workflow's heartbeat timeout, when it sets one, is several times this) and bring back
# its cancellation: an attempt whose run was cancelled or timed out learns it at its
# next beat, within about this long (the worker's heartbeat throttle is the same).
HEARTBEAT_EVERY = 5.0

# Writes a trace batch somewhere (the PostgreSQL store in a deployment).
TraceSink = Callable[[TraceBatch], Awaitable[None]]
# Finds a registered workflow by name.
WorkflowLookup = Callable[[str], Awaitable[WorkflowFound | None]]


TRACE_UNRECORDABLE = "trace_unrecordable"

# Resolved at each use: the process's provider once tracing is installed, else no-op.
_TRACER = trace.get_tracer("segue.activities")


class TraceUnrecordable(Exception):
    """A trace batch that no retry can write (the sink says which errors are passing)."""


def _failure(error: ActionError, masker: Masker) -> ApplicationError:
    return ApplicationError(
        masker.message(error.message),
        masker.value(error.details),
        type=error.type,
        non_retryable=True,
    )


def _timed(error: ApplicationError, waited_s: float, ran_s: float) -> ApplicationError:
    """The failure with how long its attempt waited for a worker and ran, as a second
    detail (`$error.details` is the first one, as before: engine/temporal/dispatch.py
    `error_info`); a run on behaviour 6 traces them (`attempt_timings`)."""
    details = error.details or (None,)
    timings = {
        "queuedMs": max(0, round(waited_s * 1000)),
        "ranMs": max(0, round(ran_s * 1000)),
    }
    return ApplicationError(
        error.message,
        details[0],
        timings,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
        category=error.category,
    )


class SegueActivities:
    """The worker's activities, bound to its action catalog, trace sink and workflow lookup."""

    def __init__(
        self,
        catalog: ActionCatalog,
        *,
        trace_sink: TraceSink | None = None,
        workflow_lookup: WorkflowLookup | None = None,
        meter: MetricMeter | None = None,
        task_logs: TaskLogStore | None = None,
        limit_store: StorePool | None = None,
        max_result_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.catalog = catalog
        # The largest result an attempt may return: 1 MiB inline in Temporal's history;
        # more (16 MiB by default) where the claim-check carries large payloads by
        # reference (engine/temporal/claim_check.py).
        self.max_result_bytes = max_result_bytes
        # Concurrency limits across runs live in the store (engine/temporal/limit_activities.py).
        self.limits = LimitActivities(limit_store)
        self.trace_sink = trace_sink
        self.workflow_lookup = workflow_lookup
        # The runtime's meter (exported at SEGUE_METRICS_ADDRESS), else one that drops all.
        self.metrics = ActionMetrics(meter or MetricMeter.noop, frozenset(catalog.names()))
        self.task_logs = task_logs

    @activity.defn(name=RUN_ACTION)
    async def run_action(self, request: ActionRequest) -> ActionOutcome:
        """Run one attempt of an action, writing the trace events it carries meanwhile."""
        writing: asyncio.Future[None] | None = None
        if request.trace is not None and self.trace_sink is not None:
            writing = asyncio.ensure_future(self._write_trace(self.trace_sink, request.trace))
        definition = self.catalog.get(request.action)
        declared = definition.secret_values(request.input) if definition else []
        masker = Masker([*request.secrets, *declared])
        info = activity.info()
        waited = info.started_time - info.current_attempt_scheduled_time
        self.metrics.attempt_started(request.action, waited.total_seconds())
        began = time.monotonic()
        error_type: str | None = None
        try:
            # The attempt's span: a child of its task execution's (the workflow's), and
            # the parent of what the action calls (`http.request` sends `traceparent`).
            with _TRACER.start_as_current_span(
                f"attempt {request.task}",
                attributes={
                    "segue.run_id": request.run_id,
                    "segue.task": request.task,
                    "segue.action": request.action,
                    "segue.attempt": request.attempt,
                    "segue.execution": request.execution,
                },
            ):
                result = await self._attempt(request, masker)
                _check_result_size(request.action, result, self.max_result_bytes)
        except ApplicationError as error:
            error_type = error.type or "failed"
            raise _timed(error, waited.total_seconds(), time.monotonic() - began) from None
        except asyncio.CancelledError:
            error_type = "cancelled"
            raise
        except Exception as error:
            error_type = type(error).__name__
            raise
        finally:
            self.metrics.attempt_finished(request.action, error_type, time.monotonic() - began)
            traced = await _finished(writing)
        if definition is not None:
            declared.extend(definition.secret_values(result, result=True))
        return ActionOutcome(
            result,
            traced,
            declared,
            queued_ms=max(0, round(waited.total_seconds() * 1000)),
            ran_ms=max(0, round((time.monotonic() - began) * 1000)),
        )

    async def _write_trace(self, sink: TraceSink, batch: TraceBatch) -> None:
        """Write a batch through the sink; its oldest event's age is the store's lag."""
        try:
            await sink(batch)
        finally:
            # Set on a failed write too: the events are still not stored, and a store
            # that stays away shows as a lag that grows with every retry.
            if batch.events:
                oldest_ms = min(record.timestamp_ms for record in batch.events)
                self.metrics.trace_written(time.time() - oldest_ms / 1000)

    async def _attempt(self, request: ActionRequest, masker: Masker) -> Any:
        """One attempt of the action itself."""
        loop = asyncio.get_running_loop()
        last_beat = [loop.time()]  # when the handler last said it is alive
        # A local activity has no server-side heartbeat: its worker runs the workflow
        # too, and a cancel reaches it in-process. The handler's beats still count for
        # its own `heartbeat_timeout`.
        local = activity.info().is_local

        def heartbeat(details: Any = None, /) -> None:
            last_beat[0] = loop.time()
            if not local:
                activity.heartbeat(details)

        info = activity.info()
        attempt_log = AttemptLog(
            self.task_logs,
            AttemptKey(
                run_id=request.run_id,
                task=request.task,
                execution=request.execution,
                attempt=request.attempt,
                item=request.item,
                delivery=info.attempt,
            ),
            _run_signals(info.workflow_id, info.workflow_run_id),
            masker,
        )
        context = ActionContext(
            run_id=request.run_id,
            workflow=request.workflow,
            task=request.task,
            iteration=request.iteration,
            route=request.route,
            attempt=request.attempt,
            item=request.item,
            execution=request.execution,
            heartbeat=heartbeat,
            is_cancelled=activity.is_cancelled,
            reporter=attempt_log,
        )
        beating = None if local else asyncio.create_task(_keep_alive())
        definition = self.catalog.get(request.action)
        try:
            work: Awaitable[Any] = invoke(self.catalog, request.action, request.input, context)
            if definition is not None and definition.heartbeat_timeout:
                work = _watched(work, definition.heartbeat_timeout, last_beat, request.action)
            if request.timeout_seconds:
                try:
                    return await asyncio.wait_for(work, request.timeout_seconds)
                except TimeoutError:
                    raise ApplicationError(
                        f"{request.action} did not finish within {request.timeout_seconds:g} s",
                        type="timeout",
                        non_retryable=True,
                    ) from None
            return await work
        except ActionError as error:
            raise _failure(error, masker) from None
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
            # Before the result goes back: the run ends only after its logs are stored.
            await attempt_log.close()

    @activity.defn(name=RECORD_TRACE)
    async def record_trace(self, batch: TraceBatch) -> None:
        """Write a batch of trace events (idempotent: retried batches insert nothing twice)."""
        if self.trace_sink is None:
            return
        try:
            await self._write_trace(self.trace_sink, batch)
        except TraceUnrecordable as error:
            # Non-retryable: the workflow ends the run with this error (issue 11, case 1).
            raise ApplicationError(
                f"the run's trace cannot be recorded: {error}",
                type=TRACE_UNRECORDABLE,
                non_retryable=True,
            ) from None

    @activity.defn(name=LOOKUP_WORKFLOW)
    async def lookup_workflow(self, name: str) -> WorkflowFound:
        """The latest registered version of a workflow, for a child run."""
        found = await self.workflow_lookup(name) if self.workflow_lookup else None
        if found is None:
            raise ApplicationError(
                f"no workflow named {name!r} is registered",
                type="unknown_workflow",
                non_retryable=True,
            )
        return found

    @activity.defn(name=RESOLVE_SECRETS)
    async def resolve_secrets(self, names: list[str]) -> dict[str, str]:
        """A run's named secrets from this worker's environment and secrets directory."""
        try:
            return resolve_secrets(names)
        except SecretUnavailable as error:
            raise ApplicationError(str(error), type=SECRET_UNKNOWN, non_retryable=True) from None

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.run_action,
            self.record_trace,
            self.lookup_workflow,
            self.resolve_secrets,
            *self.limits.all(),
        ]


def _run_signals(workflow_id: str | None, run_id: str | None) -> Announce | None:
    """Sends an attempt's progress and artifacts to the run that scheduled it (None
    without a client or a workflow: an activity run outside a worker, as in some tests)."""
    if workflow_id is None:
        return None
    try:
        client = activity.client()
    except RuntimeError:
        return None
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)

    async def send(name: str, payload: TaskProgress | TaskArtifact) -> None:
        await handle.signal(name, payload)

    return send


def _check_result_size(action: str, result: Any, limit: int) -> None:
    """A result Temporal would refuse fails the attempt for good, as a typed error, rather
    than as a retryable `PayloadsTooLarge` on every retry (issue 11, case 4). The check is
    here, in the activity, not in workflow code: raising the limit changes no decision a
    replay makes (a history holds the attempt's result or its failure either way)."""
    size = payload_size(result)
    if size > limit:
        raise ApplicationError(
            f"{action} returned {size:,} bytes as JSON, more than the {limit:,} a result may have",
            type=PAYLOAD_TOO_LARGE,
            non_retryable=True,
        )


async def _finished(writing: asyncio.Future[None] | None) -> bool:
    """Whether a carried trace write succeeded (a failed one is redone by the workflow)."""
    if writing is None:
        return False
    try:
        await asyncio.wait_for(writing, 30)
    except Exception:  # the workflow writes the events again through its pump
        return False
    return True


async def _watched(work: Awaitable[Any], limit: float, last_beat: list[float], action: str) -> Any:
    """Run an action that declared a `heartbeat_timeout`; fail the attempt (a `timeout`
    the coordinator may retry) once its handler has not heartbeated for that long, so a
    hung handler is found in seconds, not at the task's timeout."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    try:
        while True:
            remaining = last_beat[0] + limit - loop.time()
            if remaining <= 0:
                raise ApplicationError(
                    f"{action} sent no heartbeat for {limit:g} s (its heartbeat_timeout)",
                    type="timeout",
                    non_retryable=True,
                )
            done, _ = await asyncio.wait([task], timeout=remaining)
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()


async def _keep_alive() -> None:
    """Heartbeat on the action's behalf, so a dead worker is noticed within seconds and a
    cancelled attempt learns it (Temporal delivers cancellation in heartbeat answers; an
    attempt that never beats runs on to its end after its run was cancelled).

    The first beat waits: most actions end well before it, so they cost the server no
    heartbeat call at all (an immediate beat is one more round trip per activity: +20%
    on a 200-way fan-out)."""
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        activity.heartbeat()


def directory_lookup(directory: Path) -> WorkflowLookup:
    """Find workflows as `<name>.yaml` files in a directory (no database needed)."""

    async def lookup(name: str) -> WorkflowFound | None:
        path = directory / f"{name}.yaml"
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
        return WorkflowFound(name, hashlib.sha256(text.encode()).hexdigest()[:12], text)

    return lookup
