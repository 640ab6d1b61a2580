"""The coordinator's lifecycle as data (engine/coordinator/lifecycle.py): the tables say
every legal move, everything else is a precise internal error; every phase can finish;
and a snapshot written with the old flags restores to the phase its flags meant, then
writes exactly what it was restored from."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.coordinator.lifecycle import (
    EXECUTION_TABLE,
    RUN_TABLE,
    ExecutionEvent,
    ExecutionPhase,
    IllegalTransition,
    RunEvent,
    RunPhase,
    execution_after,
    run_after,
)
from engine.coordinator.snapshot import state_from_builtins, state_to_builtins
from engine.coordinator.state import CoordinatorState, SlotWait

HISTORIES = Path(__file__).parents[1] / "temporal" / "histories"

# (phase, event, the phase it leads to): the run's whole table, as the spec reads.
RUN_MOVES = [
    (RunPhase.PENDING, RunEvent.START, RunPhase.RUNNING),
    (RunPhase.RUNNING, RunEvent.FAIL, RunPhase.FAILING),
    (RunPhase.RUNNING, RunEvent.CANCEL, RunPhase.CANCELING),
    (RunPhase.RUNNING, RunEvent.FINISH, RunPhase.SUCCEEDED),
    (RunPhase.FAILING, RunEvent.FAIL, RunPhase.FAILING),
    (RunPhase.FAILING, RunEvent.CANCEL, RunPhase.CANCELING),
    (RunPhase.FAILING, RunEvent.FINISH, RunPhase.FAILED),
    (RunPhase.CANCELING, RunEvent.FAIL, RunPhase.CANCELING),
    (RunPhase.CANCELING, RunEvent.FINISH, RunPhase.CANCELED),
]

E, V = ExecutionPhase, ExecutionEvent
EXECUTION_MOVES = [
    (E.IDLE, V.DELAY, E.DELAYED),
    (E.IDLE, V.QUEUE, E.QUEUED),
    (E.IDLE, V.BACK_OFF, E.BACKOFF),
    (E.IDLE, V.RUN_ITEMS, E.ITEMS),
    (E.IDLE, V.FINISH, E.FINISHED),
    (E.DELAYED, V.TIMER_FIRED, E.IDLE),
    (E.DELAYED, V.FINISH, E.FINISHED),
    (E.QUEUED, V.SEND, E.SENT),
    (E.QUEUED, V.FINISH, E.FINISHED),
    (E.SENT, V.REPORT, E.IDLE),
    (E.SENT, V.FINISH, E.FINISHED),
    (E.BACKOFF, V.TIMER_FIRED, E.IDLE),
    (E.BACKOFF, V.FINISH, E.FINISHED),
    (E.ITEMS, V.RUN_ITEMS, E.ITEMS),
    (E.ITEMS, V.FINISH, E.FINISHED),
]


def test_the_tables_are_exactly_the_moves_the_spec_lists() -> None:
    assert dict(RUN_TABLE) == {(p, e): to for p, e, to in RUN_MOVES}
    assert dict(EXECUTION_TABLE) == {(p, e): to for p, e, to in EXECUTION_MOVES}


@pytest.mark.parametrize(
    ("phase", "event"),
    [(p, e) for p in RunPhase for e in RunEvent if (p, e) not in RUN_TABLE],
)
def test_every_other_run_move_is_an_internal_error(phase: RunPhase, event: RunEvent) -> None:
    with pytest.raises(IllegalTransition) as raised:
        run_after(phase, event)
    assert str(raised.value) == f"run event '{event}' in run phase '{phase}'"


@pytest.mark.parametrize(
    ("phase", "event"),
    [(p, e) for p in ExecutionPhase for e in ExecutionEvent if (p, e) not in EXECUTION_TABLE],
)
def test_every_other_execution_move_is_an_internal_error(
    phase: ExecutionPhase, event: ExecutionEvent
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        execution_after(phase, event, "fetch")
    assert str(raised.value) == (
        f"execution event '{event}' in execution phase '{phase}' (task 'fetch')"
    )


def test_terminal_phases_take_no_event_and_every_other_phase_can_finish() -> None:
    assert not any(phase.is_terminal for phase, _ in RUN_TABLE)
    assert not any(phase is E.FINISHED for phase, _ in EXECUTION_TABLE)
    for phase in RunPhase:
        if phase is not RunPhase.PENDING and not phase.is_terminal:
            assert run_after(phase, RunEvent.FINISH).is_terminal
    for execution_phase in ExecutionPhase:
        if execution_phase is not E.FINISHED:
            assert execution_after(execution_phase, V.FINISH, "t") is E.FINISHED


def test_who_may_start_while_the_run_fails_or_is_canceled() -> None:
    admitted = {(p, forced) for p in RunPhase for forced in (False, True) if p.admits(forced)}
    assert admitted == {
        (RunPhase.RUNNING, False),
        (RunPhase.RUNNING, True),
        (RunPhase.FAILING, True),  # listed beside `fail`
    }


# (the old flags: started, finished, failing, canceled; status; the phase they meant;
#  the flags the phase writes back)
OLD_RUN_FLAGS = [
    ([False, False, False, False], "running", RunPhase.PENDING, None),
    ([True, False, False, False], "running", RunPhase.RUNNING, None),
    ([True, False, True, False], "running", RunPhase.FAILING, None),
    ([True, False, True, True], "running", RunPhase.CANCELING, [True, False, False, True]),
    ([True, True, False, False], "succeeded", RunPhase.SUCCEEDED, None),
    ([True, True, True, False], "failed", RunPhase.FAILED, None),
    ([True, True, False, True], "canceled", RunPhase.CANCELED, None),
    # A failing run then canceled: the cancel outranked the failure then as now. Only a
    # finished (or mid-event) state says so, and a finished run is never continued.
    ([True, True, True, True], "canceled", RunPhase.CANCELED, [True, True, False, True]),
]


@pytest.mark.parametrize(("flags", "status", "phase", "written"), OLD_RUN_FLAGS)
@pytest.mark.parametrize("paused", [False, True])
def test_old_run_flags_restore_as_their_phase(
    flags: list[bool], status: str, phase: RunPhase, written: list[bool] | None, paused: bool
) -> None:
    data = state_to_builtins(CoordinatorState())
    data["flags"], data["status"] = [*flags, paused], status
    state = state_from_builtins(data)
    assert (state.phase, state.paused, str(state.status)) == (phase, paused, status)
    assert state_to_builtins(state)["flags"] == [*(written or flags), paused]


def test_a_finished_flag_with_a_running_status_is_refused() -> None:
    data = state_to_builtins(CoordinatorState())
    data["flags"] = [True, True, False, False, False]
    with pytest.raises(ValueError, match="finished coordinator state with status"):
        state_from_builtins(data)


def _written(state: CoordinatorState) -> Any:
    """The state as a snapshot reads once stored (JSON: tuples become lists)."""
    return msgspec.json.decode(msgspec.json.encode(state_to_builtins(state)))


def _execution_row(timer: int | None, dispatched: bool, sent: bool, items: bool) -> list[Any]:
    progress = [[1, 2], 2, 1, [[0, 1]], [], [], 0, [None, None], 0, None, 0, 1]
    ref = {"id": 7, "task": "fetch", "iteration": 1, "route": 0}
    row = [ref, 0, 2, 0, None, None, progress if items else None, timer, dispatched, sent]
    return [*row, False]


# (the old execution flags: timer and its kind, dispatched, sent, items; its phase)
OLD_EXECUTION_FLAGS = [
    (None, None, False, False, False, E.IDLE),
    (3, "delay", False, False, False, E.DELAYED),
    (3, "retry", False, False, False, E.BACKOFF),
    (None, None, True, False, False, E.QUEUED),
    (None, None, True, True, False, E.SENT),
    (None, None, False, False, True, E.ITEMS),
]


@pytest.mark.parametrize(
    ("timer", "kind", "dispatched", "sent", "items", "phase"), OLD_EXECUTION_FLAGS
)
def test_old_execution_flags_restore_as_their_phase(
    timer: int | None,
    kind: str | None,
    dispatched: bool,
    sent: bool,
    items: bool,
    phase: ExecutionPhase,
) -> None:
    data = state_to_builtins(CoordinatorState())
    data["flags"] = [True, False, False, False, False]
    data["contexts"] = [[{}, {}, []]]
    data["executions"] = [_execution_row(timer, dispatched, sent, items)]
    data["timers"] = [] if timer is None else [[timer, kind, 7, None]]
    state = state_from_builtins(data)
    assert state.executions[7].phase is phase
    assert state.executions[7].timer == timer
    assert _written(state)["executions"] == data["executions"]


def test_slot_waits_keep_the_old_item_marker() -> None:
    data = state_to_builtins(CoordinatorState())
    data["waiting_for_slot"] = [[4, None], [5, -1]]
    state = state_from_builtins(data)
    assert state.waiting_for_slot == [SlotWait(4), SlotWait(5, items=True)]
    assert state_to_builtins(state)["waiting_for_slot"] == [[4, None], [5, -1]]


def _recorded_snapshots() -> list[tuple[str, dict[str, Any]]]:
    """Every coordinator snapshot the committed histories carry across continue-as-new."""
    found = []
    for path in sorted(HISTORIES.glob("*.json")):
        for event in json.loads(path.read_text())["events"]:
            attributes = next(v for k, v in event.items() if k.endswith("Attributes"))
            for payload in (attributes.get("input") or {}).get("payloads", []):
                if base64.b64decode(payload["metadata"]["encoding"]) != b"json/plain":
                    continue
                decoded = msgspec.json.decode(base64.b64decode(payload["data"]))
                if isinstance(decoded, dict) and decoded.get("snapshot") is not None:
                    found.append((path.stem, decoded["snapshot"]))
    return found


SNAPSHOTS = _recorded_snapshots()


def test_the_histories_carry_snapshots() -> None:
    assert {stem for stem, _ in SNAPSHOTS} >= {"continued", "continued-last"}


@pytest.mark.parametrize("snapshot", [s for _, s in SNAPSHOTS], ids=[n for n, _ in SNAPSHOTS])
def test_a_recorded_snapshot_restores_to_exactly_what_it_was(snapshot: dict[str, Any]) -> None:
    state = state_from_builtins(snapshot)
    assert state.phase is RunPhase.RUNNING
    assert _written(state) == snapshot
