"""Compact, exact serialisation of the coordinator state (msgpack or JSON).

Contexts are shared between executions (a chain passes one context along until
something is published), so they are written once into a table and referenced by
index; loading restores the sharing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.coordinator.barriers import UNKNOWN_EXECUTION
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import ErrorEntry, ExecutionRef, RunStatus, TimerKind
from engine.coordinator.context import Context, ContextTable
from engine.coordinator.events import ErrorInfo, RunInfo
from engine.coordinator.rerun import RerunEntry
from engine.coordinator.state import (
    CoordinatorState,
    Execution,
    ItemsProgress,
    JoinBarrier,
    Ready,
    RetryPolicy,
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
                execution.dispatched,
                execution.sent,
                execution.forced,
            ]
        )
    return {
        "format": FORMAT_VERSION,
        "run": msgspec.to_builtins(state.run),
        "behaviour": int(state.behaviour),
        "status": str(state.status),
        "flags": [state.started, state.finished, state.failing, state.canceled, state.paused],
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
        "waiting_for_slot": [list(entry) for entry in state.waiting_for_slot],
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
    state.run = None if data["run"] is None else msgspec.convert(data["run"], RunInfo)
    state.status = RunStatus(data["status"])
    state.started, state.finished, state.failing, state.canceled, state.paused = data["flags"]
    state.now_ms = data["now_ms"]
    state.initial = context(data["initial"])
    state.output_context = context(data["output_context"])
    state.next_execution, state.next_route, state.next_timer, state.stamp = data["counters"]
    state.iterations = dict(data["iterations"])
    state.latest_status = dict(data["latest_status"])
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
            )
        state.executions[ref.id] = Execution(
            ref,
            required(row[1]),
            attempt=row[2],
            command_retries=row[3],
            policy=policy,
            timeout=row[5],
            items=items,
            timer=row[7],
            dispatched=row[8],
            sent=row[9],
            forced=row[10],
        )
    state.ready = [
        Ready(task, route, required(ctx), forced) for task, route, ctx, forced in data["ready"]
    ]
    # Absent from states written before behaviours were recorded: the original one.
    state.behaviour = Behaviour(data.get("behaviour", Behaviour.ORIGINAL))
    for task, route, arrived, ctx, fired in data["barriers"]:
        state.barriers.setdefault(task, {})[route] = JoinBarrier(
            task, route, _arrivals(arrived), required(ctx), fired
        )
    state.timers = {
        t_id: Timer(TimerKind(kind), execution, item)
        for t_id, kind, execution, item in data["timers"]
    }
    state.run_timer = data["run_timer"]
    state.in_flight = data["in_flight"]
    state.waiting_for_slot = [(int(a), b) for a, b in data["waiting_for_slot"]]
    state.errors = [msgspec.convert(e, ErrorEntry) for e in data["errors"]]
    state.errors_dropped = data["errors_dropped"]
    state.rerun = [  # absent from states written before reruns existed
        RerunEntry(task, route, required(ctx), source, execution)
        for task, route, ctx, source, execution in data.get("rerun", [])
    ]
    return state


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
