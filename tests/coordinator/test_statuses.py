"""Every status the coordinator or Temporal can report has exactly one word in the API's
vocabulary (engine/statuses.py), and a run that its own `timeout` failed is TIMED_OUT."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from engine import coordinator, statuses
from engine.coordinator import ErrorEntry, RunStatus
from engine.statuses import FROM_COORDINATOR, FROM_TEMPORAL, ApiStatus, finished_status


def test_every_coordinator_status_has_its_word() -> None:
    assert {status: FROM_COORDINATOR[status] for status in RunStatus} == {
        RunStatus.RUNNING: ApiStatus.RUNNING,
        RunStatus.SUCCEEDED: ApiStatus.COMPLETED,
        RunStatus.FAILED: ApiStatus.FAILED,
        RunStatus.CANCELED: ApiStatus.CANCELLED,
    }


def test_every_temporal_status_has_its_word() -> None:
    assert {status.name for status in WorkflowExecutionStatus} == set(FROM_TEMPORAL)


TIMEOUT = ErrorEntry(type="timeout", message="the run did not finish within 5 s")
TASK_TIMEOUT = ErrorEntry(type="timeout", message="attempt", task="call")
OTHER = ErrorEntry(type="action_failed", message="boom", task="call")

# (what the case shows, coordinator status, error entries, API word)
FINISHED = [
    ("the run's own timeout", RunStatus.FAILED, [OTHER, TIMEOUT], ApiStatus.TIMED_OUT),
    ("a task's timeout is a failure", RunStatus.FAILED, [TASK_TIMEOUT], ApiStatus.FAILED),
    ("a plain failure", RunStatus.FAILED, [OTHER], ApiStatus.FAILED),
    ("a success after a handled timeout", RunStatus.SUCCEEDED, [TIMEOUT], ApiStatus.COMPLETED),
    ("cancelled", RunStatus.CANCELED, [], ApiStatus.CANCELLED),
]


@pytest.mark.parametrize(
    ("status", "errors", "word"), [c[1:] for c in FINISHED], ids=[c[0] for c in FINISHED]
)
def test_how_a_finished_run_stands(
    status: RunStatus, errors: list[ErrorEntry], word: ApiStatus
) -> None:
    assert finished_status(status, errors) is word


def test_the_coordinator_speaks_the_one_vocabulary() -> None:
    """The coordinator's run and task statuses are engine/statuses.py's own enums."""
    assert coordinator.RunStatus is statuses.RunStatus
    assert coordinator.ExecutionStatus is statuses.ExecutionStatus
    assert [str(s) for s in statuses.ExecutionStatus] == [
        "running",
        "succeeded",
        "failed",
        "canceled",
    ]
