"""Compact, exact serialisation of the coordinator state (msgpack or JSON).

Contexts are shared between executions (a chain passes one context along until
something is published), so they are written once into a table and referenced by
index; loading restores the sharing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from engine.coordinator.barriers import UNKNOWN_EXECUTION
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import ErrorEntry, ExecutionRef, RunStatus, TimerKind
from engine.coordinator.context import Context, ContextTable
from engine.coordinator.events import ErrorInfo, RunInfo
from engine.coordinator.lifecycle import ExecutionPhase, RunPhase
from engine.coordinator.payloads import payload_size
from engine.coordinator.rerun import RerunEntry
from engine.coordinator.state import (
    CoordinatorState,
    Execution,
    ItemsProgress,
    JoinBarrier,
    Ready,
    RetryPolicy,
    SlotWait,
    Timer,
)

FORMAT_VERSION = 1


def state_to_builtins(state: CoordinatorState) -> dict[str, Any]:
    """The state as plain lists, dicts and scalars."""
    contexts = ContextTable()
    executions = []
    for execution in state.executions.values():
        items = execution.items
        executions.append(
            [
                msgspec.to_builtins(execution.ref),
                contexts.ref(execution.context),
                execution.attempt,
                execution.command_retries,
                None
                if execution.policy is None
                else [
                    execution.policy.count,
                    execution.policy.delay,
                    execution.policy.backoff,
                    execution.policy.max_delay,
                ],
                execution.timeout,
                None
                if items is None
                else [
                    items.items,
                    items.concurrency,
                    items.next_index,
                    list(items.in_flight.items()),
                    items.retry_queue,
                    list(items.attempts.items()),
                    items.waiting_retry,
                    items.results,
                    items.done,
                    msgspec.to_builtins(items.first_error),
                    items.failed_items,
                    items.highest_attempt,
                ],
                execution.timer,
                # The format's flags, kept: `dispatched` (queued or out) and `sent` (out).
                execution.phase in _DISPATCHED,
                execution.phase is ExecutionPhase.SENT,
                execution.forced,
            ]
        )
    return {
        "format": FORMAT_VERSION,
        "run": msgspec.to_builtins(state.run),
        "behaviour": int(state.behaviour),
        "status": str(state.status),
        "flags": [*_RUN_FLAGS[state.phase], state.paused],
        "now_ms": state.now_ms,
        "initial": contexts.ref_or_none(state.initial),
        "output_context": contexts.ref_or_none(state.output_context),
        "counters": [state.next_execution, state.next_route, state.next_timer, state.stamp],
        "iterations": state.iterations,
        "latest_status": state.latest_status,
        "executions": executions,
        "ready": [[r.task, r.route, contexts.ref(r.context), r.forced] for r in state.ready],
        "barriers": [
            [b.task, b.route, list(b.arrived.items()), contexts.ref(b.context), b.fired]
            for by_route in state.barriers.values()
            for b in by_route.values()
        ],
        "timers": [[t_id, str(t.kind), t.execution, t.item] for t_id, t in state.timers.items()],
        "run_timer": state.run_timer,
        "in_flight": state.in_flight,
        # An item of -1 (the format's word for "its next items") or None (its attempt).
        "waiting_for_slot": [
            [wait.execution, -1 if wait.items else None] for wait in state.waiting_for_slot
        ],
        "errors": [msgspec.to_builtins(e) for e in state.errors],
        "errors_dropped": state.errors_dropped,
        "rerun": [
            [e.task, e.route, contexts.ref(e.context), e.source, e.execution] for e in state.rerun
        ],
        "contexts": contexts.rows,
    }


def state_from_builtins(data: dict[str, Any]) -> CoordinatorState:
    """Rebuild a state written by `state_to_builtins`."""
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"unknown coordinator state format {data.get('format')!r}")
    table = [Context.from_row(row) for row in data["contexts"]]

    def context(index: int | None) -> Context | None:
        return None if index is None else table[index]

    def required(index: int) -> Context:
        found = context(index)
        assert found is not None
        return found

    state = CoordinatorState()
    # Absent from states written before behaviours were recorded: the original one.
    state.behaviour = Behaviour(data.get("behaviour", Behaviour.ORIGINAL))
    measured = state.behaviour >= Behaviour.TIMED  # what counts item results
    state.run = None if data["run"] is None else msgspec.convert(data["run"], RunInfo)
    started, finished, failing, canceled, state.paused = data["flags"]
    state.phase = _run_phase(started, finished, failing, canceled, RunStatus(data["status"]))
    state.now_ms = data["now_ms"]
    state.initial = context(data["initial"])
    state.output_context = context(data["output_context"])
    state.next_execution, state.next_route, state.next_timer, state.stamp = data["counters"]
    state.iterations = dict(data["iterations"])
    state.latest_status = dict(data["latest_status"])
    state.timers = {
        t_id: Timer(TimerKind(kind), execution, item)
        for t_id, kind, execution, item in data["timers"]
    }
    for row in data["executions"]:
        ref = msgspec.convert(row[0], ExecutionRef)
        policy = None if row[4] is None else RetryPolicy(*row[4])
        items = None
        if row[6] is not None:
            raw = row[6]
            items = ItemsProgress(
                items=raw[0],
                concurrency=raw[1],
                next_index=raw[2],
                in_flight={int(k): v for k, v in raw[3]},
                retry_queue=list(raw[4]),
                attempts={int(k): v for k, v in raw[5]},
                waiting_retry=raw[6],
                results=raw[7],
                done=raw[8],
                first_error=None if raw[9] is None else msgspec.convert(raw[9], ErrorInfo),
                failed_items=raw[10],
                # Absent from snapshots written before it existed.
                highest_attempt=raw[11] if len(raw) > 11 else 0,
                result_bytes=sum(payload_size(r) for r in raw[7] if r is not None)
                if measured
                else 0,
            )
        state.executions[ref.id] = Execution(
            ref,
            required(row[1]),
            attempt=row[2],
            command_retries=row[3],
            policy=policy,
            timeout=row[5],
            items=items,
            phase=_execution_phase(row[8], row[9], row[7], items, state.timers),
            timer=row[7],
            forced=row[10],
        )
    state.ready = [
        Ready(task, route, required(ctx), forced) for task, route, ctx, forced in data["ready"]
    ]
    for task, route, arrived, ctx, fired in data["barriers"]:
        state.barriers.setdefault(task, {})[route] = JoinBarrier(
            task, route, _arrivals(arrived), required(ctx), fired
        )
    state.run_timer = data["run_timer"]
    state.in_flight = data["in_flight"]
    state.waiting_for_slot = [
        SlotWait(int(execution), items=item == -1) for execution, item in data["waiting_for_slot"]
    ]
    state.errors = [msgspec.convert(e, ErrorEntry) for e in data["errors"]]
    state.errors_dropped = data["errors_dropped"]
    state.rerun = [  # absent from states written before reruns existed
        RerunEntry(task, route, required(ctx), source, execution)
        for task, route, ctx, source, execution in data.get("rerun", [])
    ]
    return state


# The run's phase as the format's flags: started, finished, failing, canceled.
_RUN_FLAGS: Final[Mapping[RunPhase, tuple[bool, bool, bool, bool]]] = {
    RunPhase.PENDING: (False, False, False, False),
    RunPhase.RUNNING: (True, False, False, False),
    RunPhase.FAILING: (True, False, True, False),
    RunPhase.CANCELING: (True, False, False, True),
    RunPhase.SUCCEEDED: (True, True, False, False),
    RunPhase.FAILED: (True, True, True, False),
    RunPhase.CANCELED: (True, True, False, True),
}

_FINISHED_AS: Final[Mapping[RunStatus, RunPhase]] = {
    RunStatus.SUCCEEDED: RunPhase.SUCCEEDED,
    RunStatus.FAILED: RunPhase.FAILED,
    RunStatus.CANCELED: RunPhase.CANCELED,
}

_DISPATCHED: Final = frozenset({ExecutionPhase.QUEUED, ExecutionPhase.SENT})


def _run_phase(
    started: bool, finished: bool, failing: bool, canceled: bool, status: RunStatus
) -> RunPhase:
    """The phase a state written with flags is in (a cancel outranks a failure, as the
    flags' readers always ranked them)."""
    if not started:
        return RunPhase.PENDING
    if finished:
        phase = _FINISHED_AS.get(status)
        if phase is None:
            raise ValueError(f"a finished coordinator state with status {status!r}")
        return phase
    if canceled:
        return RunPhase.CANCELING
    return RunPhase.FAILING if failing else RunPhase.RUNNING


def _execution_phase(
    dispatched: bool,
    sent: bool,
    timer: int | None,
    items: ItemsProgress | None,
    timers: Mapping[int, Timer],
) -> ExecutionPhase:
    """The phase of an execution written with flags: out, queued for a slot, waiting
    for its timer (the timer's kind says which), running its items, or none of these."""
    if sent:
        return ExecutionPhase.SENT
    if dispatched:
        return ExecutionPhase.QUEUED
    if timer is not None:
        kind = timers.get(timer)
        retrying = kind is not None and kind.kind is TimerKind.RETRY
        return ExecutionPhase.BACKOFF if retrying else ExecutionPhase.DELAYED
    return ExecutionPhase.IDLE if items is None else ExecutionPhase.ITEMS


def _arrivals(rows: list[Any]) -> dict[str, int]:
    """A barrier's arrivals: `[source, execution]` pairs, or bare source names as states
    written before arrivals were counted per execution hold them (execution unknown)."""
    arrivals: dict[str, int] = {}
    for row in rows:
        if isinstance(row, str):
            arrivals[row] = UNKNOWN_EXECUTION
        else:
            arrivals[row[0]] = int(row[1])
    return arrivals


def dump_state(state: CoordinatorState) -> bytes:
    """msgpack bytes of the state."""
    return msgspec.msgpack.encode(state_to_builtins(state))


def load_state(data: bytes) -> CoordinatorState:
    return state_from_builtins(msgspec.msgpack.decode(data))


def dump_state_json(state: CoordinatorState) -> bytes:
    return msgspec.json.encode(state_to_builtins(state))


def load_state_json(data: bytes) -> CoordinatorState:
    return state_from_builtins(msgspec.json.decode(data))
