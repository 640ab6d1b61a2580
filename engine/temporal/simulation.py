"""`segue simulate --temporal`: a case through the unchanged production workflow on a real
Temporal server, with the mocks served by the harness's own action activity.

The harness worker registers the production Interpreter workflow and the production
activities, except two, registered under the production names: `run_action` (activity
and local activity alike) answers each attempt from the run's mocks book, keyed by its
task, iteration and item, and `record_trace` keeps the trace in memory, from which the
outcome's execution sequence is read. Tasks the workflow would carry out itself but the
simulator serves are rewritten to a served action (engine/simulator/served.py). Timers
(`core.sleep`, retry delays, run timeouts) take about a second each, whatever their
length: the harness's dev server skips time (Temporal's per-workflow time skipping)
whenever no activity is in flight.

The workflow takes each completion as it arrives, as in production; the simulator
completes a wave's dispatches in start order before it starts anything
(engine/simulator/waves.py). So the harness first simulates the case, then holds each
mocked result until its turn (engine/temporal/simulation_turns.py): the served
completions reach the workflow in the simulator's order, a wave's in one workflow task
(the harness worker's workflow tasks run on an executor the conductor can hold shut).
What remains different: an inline action completes within the workflow task that
started it, ahead of the activities started with it, and what it makes ready starts at
once (tests/temporal/test_simulate_temporal.py lists the cases where that decides).

Nothing here is on the production path: production payloads carry no mocks. The
simulation path the workflow once had (mocks in its input, a virtual clock, a wave
loop) was removed without a Behaviour gate: only simulations, which never outlive their
harness, ever took it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import TimeSkipper

from engine.actions.builtin import workflow_actions
from engine.actions.catalog import ActionCatalog
from engine.language.spec import WorkflowSpec
from engine.simulator.arrivals import completion_order
from engine.simulator.mocks import MockBook, parse_mocks
from engine.simulator.served import served_document
from engine.simulator.waves import VIRTUAL_EPOCH_MS
from engine.temporal.activities import SegueActivities
from engine.temporal.devserver import start_dev_server
from engine.temporal.simulation_turns import GatedExecutor, HeldRun, Turns
from engine.temporal.types import (
    INTERPRETER_WORKFLOW,
    RECORD_TRACE,
    RUN_ACTION,
    ActionOutcome,
    ActionRequest,
    InterpreterInput,
    InterpreterResult,
    TraceBatch,
    TraceRecord,
)
from engine.temporal.worker import build_worker, connect

# The dev server flag that lets workflows skip time (TimeSkipper stamps each start).
TIME_SKIPPING_FLAG = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
STALL_POLL_SECONDS = 0.2  # how often a run holding a `running` mock is looked at


@dataclass
class ServedRun:
    """One simulated run: its book, the actions its rewritten tasks had, its trace."""

    book: MockBook
    originals: dict[str, str]
    turns: Turns
    records: dict[int, TraceRecord] = field(default_factory=dict)
    # Attempts served `running`: they never complete; the harness cancels them when the
    # run is over (they send no heartbeat, so the workflow's cancel does not reach them).
    held: list[asyncio.Future[None]] = field(default_factory=list)

    def release(self) -> None:
        for future in self.held:
            future.cancel()


class SimulatedActivities(SegueActivities):
    """The production activities, but actions are served from the runs' mocks books and
    trace batches are kept in memory."""

    def __init__(self, catalog: ActionCatalog) -> None:
        super().__init__(catalog)
        self.runs: dict[str, ServedRun] = {}

    @activity.defn(name=RUN_ACTION)
    async def run_action(self, request: ActionRequest) -> ActionOutcome:
        """The mocked outcome of one attempt: a result, a failure, or (`running`) none,
        given once the attempts `segue simulate` completes before it have completed."""
        run = self.runs[request.run_id]
        if request.trace is not None:
            self._keep(run, request.trace)
        place = run.turns.place((request.task, request.iteration, request.item))
        if place is not None:
            await run.turns.wait_turn(place, activity.heartbeat)
        # Asked in the simulator's order too, so entries with `times` are used up alike.
        action = run.originals.get(request.task, request.action)
        outcome = run.book.outcome(
            request.task, request.iteration, request.item, action, request.input
        )
        if outcome.status == "running":
            held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            run.held.append(held)
            await held  # cancelled once the run is over
        info = activity.info()
        run.turns.answering(place, (info.workflow_run_id or "", info.activity_id))
        if outcome.status == "failed":
            error = outcome.error
            assert error is not None
            raise ApplicationError(
                error.message, error.details, type=error.type, non_retryable=True
            )
        return ActionOutcome(outcome.result, request.trace is not None)

    @activity.defn(name=RECORD_TRACE)
    async def record_trace(self, batch: TraceBatch) -> None:
        """Keep a run's trace events (a repeated batch keeps each event once)."""
        run = self.runs.get(batch.run_id)
        if run is not None:
            self._keep(run, batch)

    @staticmethod
    def _keep(run: ServedRun, batch: TraceBatch) -> None:
        for record in batch.events:
            run.records[record.seq] = record


@dataclass
class Harness:
    """The harness worker's client, task queue and activities, and a client that starts
    runs with time skipping (None once the server said it does not skip time)."""

    client: Client
    task_queue: str
    activities: SimulatedActivities
    skipping: Client | None
    gate: GatedExecutor

    async def start(self, params: InterpreterInput) -> WorkflowHandle[Any, InterpreterResult]:
        """Start a run, skipping its idle time where the server can."""
        if self.skipping is not None:
            try:
                return await self._start(self.skipping, params)
            except RPCError as refused:
                if refused.status is not RPCStatusCode.UNIMPLEMENTED:
                    raise
                self.skipping = None  # a server without TIME_SKIPPING_FLAG: real time
        return await self._start(self.client, params)

    async def _start(
        self, client: Client, params: InterpreterInput
    ) -> WorkflowHandle[Any, InterpreterResult]:
        return await client.start_workflow(
            INTERPRETER_WORKFLOW,
            params,
            id=params.run_id,
            task_queue=self.task_queue,
            result_type=InterpreterResult,
        )


@asynccontextmanager
async def simulation_worker(address: str | None = None) -> AsyncIterator[Harness]:
    """The harness: its worker polls until the block ends. It starts a dev server of its
    own (with time skipping) unless an address is given or set in the environment; that
    server must run with TIME_SKIPPING_FLAG, else timers take their wall time."""
    server = None
    address = address or os.environ.get("SEGUE_TEMPORAL_ADDRESS")
    if address is None:
        server = start_dev_server(extra_args=TIME_SKIPPING_FLAG)
        address = server.address
    try:
        client = await connect(address)
        task_queue = f"segue-simulate-{uuid.uuid4().hex[:12]}"
        activities = SimulatedActivities(ActionCatalog.from_environment())
        gate = GatedExecutor()
        worker = build_worker(
            client, activities, task_queue=task_queue, workflow_task_executor=gate
        )
        try:
            async with worker:
                yield Harness(client, task_queue, activities, TimeSkipper(client).client, gate)
        finally:
            gate.shutdown(wait=False)  # ours to shut, once the worker has stopped
    finally:
        if server is not None:
            server.stop()


async def simulate_on_temporal(
    harness: Harness,
    spec: WorkflowSpec,
    yaml_text: str,
    run_input: dict[str, Any],
    mocks: list[dict[str, Any]],
) -> dict[str, Any]:
    """Run one case; the outcome in `segue simulate --json`'s shape."""
    entries = parse_mocks(mocks)
    document = served_document(yaml_text, spec, entries)
    run_id = f"simulation-{uuid.uuid4().hex[:12]}"
    originals = document.originals

    def reaches_harness(task: str, action: str) -> bool:
        return task in originals or action not in workflow_actions()

    order = completion_order(spec, run_input, parse_mocks(mocks), reaches_harness)
    served = ServedRun(MockBook(entries), originals, Turns(order))
    harness.activities.runs[run_id] = served
    params = InterpreterInput(
        run_id=run_id,
        workflow=spec.name or "workflow",
        version=spec.content_hash or "local",
        yaml=document.yaml,
        input=run_input,
        task_queue=harness.task_queue,
        started_at_ms=VIRTUAL_EPOCH_MS,
        trace=True,  # the harness keeps it: the executions are read from it
        action_retry_defaults={},  # as `segue simulate`: no catalog's retry layers
        local_actions=[],
    )
    # Describing and reading the history follow the run across continue-as-new.
    latest = harness.client.get_workflow_handle(run_id)
    conductor = asyncio.ensure_future(served.turns.conduct(HeldRun(latest, harness.gate)))
    try:
        handle = await harness.start(params)
        data = await _outcome(handle, latest, served)
    finally:
        conductor.cancel()
        harness.gate.opened.set()
        served.release()
        del harness.activities.runs[run_id]
    outcome = {
        "status": data["status"],
        "output": data["output"],
        "errors": data["errors"],
        "sequence": _sequence(served),
    }
    if served.turns.problems:  # the run left the simulator's course: say where
        outcome["warnings"] = list(served.turns.problems)
    return outcome


async def _outcome(
    handle: WorkflowHandle[Any, InterpreterResult],
    latest: WorkflowHandle[Any, Any],
    run: ServedRun,
) -> dict[str, Any]:
    """The run's result; or, when it can go no further (only `running` mocks in flight,
    no timer), `running` as `segue simulate` says, and the run is ended."""
    result = asyncio.ensure_future(handle.result())
    try:
        while not result.done():
            await asyncio.wait([result], timeout=STALL_POLL_SECONDS)
            if result.done():
                break
            if run.held and await _idle(latest, run) and await _stalled(latest, run):
                try:
                    await latest.terminate("simulation: nothing more can happen")
                except RPCError:
                    continue  # it ended meanwhile: take its result
                return {"status": "running", "output": None, "errors": []}
        outcome: InterpreterResult | dict[str, Any] = result.result()
    except WorkflowFailureError as failure:
        cause = failure.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            raise
        outcome = cause.details[0]
    finally:
        result.cancel()
    return asdict(outcome) if isinstance(outcome, InterpreterResult) else dict(outcome)


async def _idle(handle: WorkflowHandle[Any, Any], run: ServedRun) -> bool:
    """Whether the workflow has taken everything it was given (no workflow task
    pending) and every activity in flight is a held one (a cheap look before the
    history is read)."""
    description = (await handle.describe()).raw_description
    if description.workflow_execution_info.status != WORKFLOW_RUNNING:
        return False  # it has just ended: its result is on the way
    if description.HasField("pending_workflow_task"):
        return False
    return len(description.pending_activities) == len(run.held)


WORKFLOW_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
_RUN_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
}
_ACTIVITY_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}


async def _stalled(handle: WorkflowHandle[Any, Any], run: ServedRun) -> bool:
    """Whether the run's history shows it idle: no workflow task pending, no timer
    running, and no activity in flight but the held ones."""
    open_activities: set[int] = set()
    timers: set[str] = set()
    task_pending = False
    async for event in handle.fetch_history_events():
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            open_activities.add(event.event_id)
        elif kind in _ACTIVITY_CLOSED:
            attributes = _attributes(event)
            open_activities.discard(attributes.scheduled_event_id)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            timers.add(event.timer_started_event_attributes.timer_id)
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            timers.discard(event.timer_fired_event_attributes.timer_id)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            timers.discard(event.timer_canceled_event_attributes.timer_id)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_pending = True
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task_pending = False
        elif kind in _RUN_CLOSED:
            return False  # it has just ended: its result is on the way
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            task_pending = True  # retried
    return not task_pending and not timers and len(open_activities) == len(run.held)


def _attributes(event: Any) -> Any:
    for name in (
        "activity_task_completed_event_attributes",
        "activity_task_failed_event_attributes",
        "activity_task_timed_out_event_attributes",
        "activity_task_canceled_event_attributes",
    ):
        if event.HasField(name):
            return getattr(event, name)
    raise ValueError("not an activity's end")


def _sequence(run: ServedRun) -> list[dict[str, Any]]:
    """[task, iteration, route, status] per execution, in start order, from the trace."""
    rows: dict[int, dict[str, Any]] = {}
    for _, record in sorted(run.records.items()):
        data = record.data or {}
        execution = data.get("execution")
        if not isinstance(execution, int):
            continue
        if record.type == "STARTED":
            rows[execution] = {
                "task": record.node_id,
                "iteration": data.get("iteration"),
                "route": data.get("route"),
                "status": "running",
            }
        elif record.type in ("COMPLETED", "FAILED") and execution in rows:
            rows[execution]["status"] = data.get("status", "succeeded")
    return [rows[execution] for execution in sorted(rows)]
