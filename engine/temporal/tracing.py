"""Turn coordinator notices into trace records (ARCHITECTURE.md "Trace events").

Sequence numbers are assigned here, inside the workflow, in the order the coordinator
emits its notices: a replay or a retried write produces the same numbers, so the store
can insert each event exactly once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.coordinator import (
    AttemptFailed,
    Command,
    DispatchAction,
    ExecutionFinished,
    ExecutionStarted,
    ExecutionStatus,
    FinishRun,
    RunStatus,
    StartChildRun,
    TransitionEvaluated,
)
from engine.coordinator.payloads import payload_size
from engine.masking import mask_paths
from engine.temporal.compiled import secret_inputs
from engine.temporal.transition_events import transition_fields
from engine.temporal.types import TraceRecord

# Larger outputs are cut before they join the trace (the run output itself is not:
# the store's run row shows it whole, and the coordinator caps it at 1 MiB).
TRACE_OUTPUT_BYTES = 64 * 1024
# The trace events an action's activity request carries (behaviour 4): with the action's
# input (at most 1 MiB, engine/coordinator/payloads.py) the request stays well under
# Temporal's 2 MiB payload limit; 500 events of outputs (64 KiB each), rendered inputs
# and published values (8 KiB each) could reach tens of MiB before.
CARRIED_TRACE_BYTES = 256 * 1024

_RUN_EVENT = {
    RunStatus.SUCCEEDED: ("WORKFLOW_COMPLETED", "info"),
    RunStatus.FAILED: ("WORKFLOW_FAILED", "error"),
    RunStatus.CANCELED: ("WORKFLOW_CANCELLED", "warn"),
}


class TraceLog:
    """Buffered trace records with their sequence numbers and the run's progress."""

    def __init__(self, next_seq: int = 1, started: int = 0, finished: int = 0) -> None:
        self.next_seq = next_seq
        self.pending: list[TraceRecord] = []
        self.started = started
        self.finished = finished
        # Behaviour 4: an attempt's outcome event shows the input it was rendered with.
        self.explains = False
        # Execution id -> the rendered input of its attempt in flight (executions
        # without items; declared secret fields already masked). Not carried across
        # continue-as-new: an attempt in flight then shows none.
        self.inputs: dict[int, Any] = {}
        # Behaviour 5: execution id -> how long its attempt that just succeeded waited
        # for a worker and then ran (`queuedMs`, `ranMs`), for its COMPLETED event.
        self.timings: dict[int, dict[str, int]] = {}
        # Behaviour 6: execution id -> (item, attempt) -> the same figures for an attempt
        # that failed, for the event that says so (a retry's PROGRESS warning, or the
        # execution's FAILED); dropped when the execution ends.
        self.failed_timings: dict[int, dict[tuple[int | None, int], dict[str, int]]] = {}

    def _add(self, record_type: str, level: str, at_ms: int, **fields: Any) -> None:
        if fields.get("has_output") and record_type != "WORKFLOW_COMPLETED":
            fields["output"] = _bounded(fields.get("output"))
        self.pending.append(TraceRecord(self.next_seq, record_type, level, at_ms, **fields))
        self.next_seq += 1

    def run_started(self, at_ms: int, run_input: Any, data: dict[str, Any] | None = None) -> None:
        self._add(
            "WORKFLOW_STARTED",
            "info",
            at_ms,
            message="run started",
            output=run_input,
            has_output=True,
            data=data,
        )

    def record(self, command: Command, at_ms: int) -> None:
        """Add the trace records a command stands for (most commands stand for none)."""
        if isinstance(command, (DispatchAction, StartChildRun)):
            self._rendered(command)
        elif isinstance(command, ExecutionStarted):
            ref = command.execution
            self.started += 1
            self._add(
                "STARTED",
                "info",
                at_ms,
                node_id=ref.task,
                message=f"{ref.task} started (iteration {ref.iteration})",
                data=_data(ref.id, ref.iteration, ref.route, 1),
            )
        elif isinstance(command, AttemptFailed):
            ref = command.execution
            item = "" if command.item is None else f" item {command.item}"
            self._add(
                "PROGRESS",
                "warn",
                at_ms,
                node_id=ref.task,
                message=f"attempt {command.attempt}{item} failed: {command.error.message}; "
                f"retrying in {command.retry_in_seconds:g} s",
                error={"message": command.error.message, "code": command.error.type},
                data={
                    **_data(ref.id, ref.iteration, ref.route, command.attempt),
                    "item": command.item,
                    **self._input_of(ref.id, command.item),
                    **self.failed_timings.get(ref.id, {}).pop((command.item, command.attempt), {}),
                },
            )
        elif isinstance(command, ExecutionFinished):
            ref = command.execution
            self.finished += 1
            succeeded = command.status is ExecutionStatus.SUCCEEDED
            error = None
            if command.error is not None:
                error = {"message": command.error.message, "code": command.error.type}
            self._add(
                "COMPLETED" if succeeded else "FAILED",
                "info"
                if succeeded
                else ("warn" if command.status is ExecutionStatus.CANCELED else "error"),
                at_ms,
                node_id=ref.task,
                message=f"{ref.task} {command.status}",
                error=error,
                output=command.result,
                has_output=succeeded,
                data={
                    **_data(ref.id, ref.iteration, ref.route, command.attempts),
                    "status": str(command.status),
                    **self._input_of(ref.id, None),
                    **self.failed_timings.pop(ref.id, {}).get((None, command.attempts), {}),
                    **self.timings.pop(ref.id, {}),
                },
            )
        elif isinstance(command, TransitionEvaluated):
            # Only runs on behaviour 3 and later get these notices (the coordinator
            # gates them): an earlier run's later sequence numbers stay as they were.
            self._add("TRANSITION", "info", at_ms, **transition_fields(command))
        elif isinstance(command, FinishRun):
            record_type, level = _RUN_EVENT[command.status]
            first = command.errors[0].message if command.errors else None
            self._add(
                record_type,
                level,
                at_ms,
                message=f"run {command.status}",
                error={"message": first, "code": command.errors[0].type} if first else None,
                output=command.output,
                has_output=True,
            )

    def _rendered(self, command: DispatchAction | StartChildRun) -> None:
        """Keep an attempt's rendered input until its outcome's event shows it. Items
        of a with-items execution are not kept: thousands of inputs would ride along."""
        if not self.explains or command.item is not None:
            return
        rendered = command.input
        if isinstance(command, DispatchAction):
            rendered = mask_paths(rendered, secret_inputs(command.action))
        self.inputs[command.execution.id] = rendered

    def _input_of(self, execution: int, item: int | None) -> dict[str, Any]:
        """`{"input": …}` for the event that ends an attempt, if its input was kept."""
        if item is not None or execution not in self.inputs:
            return {}
        return {"input": self.inputs.pop(execution)}

    def timed(self, execution: int, queued_ms: int | None, ran_ms: int | None) -> None:
        """Keep how long an attempt that succeeded waited for a worker and ran, for its
        execution's COMPLETED event (nothing from a worker that did not say, nor a
        negative figure: an outcome completed through Temporal's API by someone else)."""
        if queued_ms is not None and ran_ms is not None and min(queued_ms, ran_ms) >= 0:
            self.timings[execution] = {"queuedMs": queued_ms, "ranMs": ran_ms}

    def attempt_timed(
        self, execution: int, item: int | None, attempt: int, timings: dict[str, int] | None
    ) -> None:
        """Keep how long an attempt that failed waited for a worker and ran (what its
        activity's failure said; nothing if it said nothing), for the event that tells
        of the failure: a retry's PROGRESS warning (items' too) or the FAILED event."""
        if timings is not None:
            self.failed_timings.setdefault(execution, {})[(item, attempt)] = timings

    def queued(self, at_ms: int, limit: str, key: str, position: int | None) -> None:
        """The run waits for a slot of a concurrency limit (engine/temporal/limits.py)."""
        self._add(
            "WORKFLOW_QUEUED",
            "info",
            at_ms,
            message=f"queued for limit {limit!r} (key {key!r}) at position {position}",
            data={"limit": limit, "key": key, "position": position},
        )

    def progress(self, at_ms: int, task: str, message: str, data: dict[str, Any]) -> None:
        """News about a running task: what a person can do about it now (how to answer a
        wait), how far its action is (`ctx.progress`) or a file it kept (`ctx.artifact`)."""
        self._add("PROGRESS", "info", at_ms, node_id=task, message=message, data=data)

    def warning(self, at_ms: int, task: str, message: str, data: dict[str, Any]) -> None:
        """A warning about a task that changed nothing (e.g. a refused answer)."""
        self._add("PROGRESS", "warn", at_ms, node_id=task, message=message, data=data)

    def take(self, limit: int | None = None, max_bytes: int | None = None) -> list[TraceRecord]:
        """Remove and return the oldest pending records (all of them without a limit);
        with `max_bytes`, only as many as fit in that many bytes as JSON (at least one)."""
        count = len(self.pending) if limit is None else min(limit, len(self.pending))
        if max_bytes is not None:
            total = 0
            for index in range(count):
                total += payload_size(self.pending[index])
                if total > max_bytes and index > 0:
                    count = index
                    break
        batch = self.pending[:count]
        del self.pending[:count]
        return batch

    def restore(self, records: list[TraceRecord]) -> None:
        """Put back records whose write was not confirmed (kept in sequence order)."""
        if records:
            self.pending = sorted([*records, *self.pending], key=lambda record: record.seq)


def _bounded(output: Any) -> Any:
    """An output small enough to travel in a trace batch, which rides in an action's
    request: the store keeps only a summary of it anyway, and a batch of large results
    would make the request larger than Temporal takes (issue 11, case 4)."""
    size = payload_size(output)
    if size <= TRACE_OUTPUT_BYTES:
        return output
    head = msgspec.json.encode(output, enc_hook=str)[: TRACE_OUTPUT_BYTES // 16]
    return f"{head.decode('utf-8', 'replace')}… ({size} bytes)"


def _data(execution: int, iteration: int, route: int, attempt: int) -> dict[str, Any]:
    return {"execution": execution, "iteration": iteration, "route": route, "attempt": attempt}
