"""`task_progress` and `task_artifact` signals can be sent by anyone with access to
Temporal, not only by the run's own activities (which check what they send,
engine/actions/reporting.py). A forged signal's strings must not reach the trace
unbounded: the trace rides in the next action's request (engine/temporal/dispatch.py),
which Temporal refuses past its payload size limit, and the run would stop there."""

from __future__ import annotations

from engine.actions.reporting import MAX_PROGRESS_MESSAGE
from engine.temporal.progress_events import ProgressEvents
from engine.temporal.run_progress import RunningExecution
from engine.temporal.tracing import TraceLog
from engine.temporal.types import TaskArtifact, TaskProgress

LIVE = {7: RunningExecution(7, "fetch", 0, 0, 1, "running", 0)}
HUGE = "x" * 1_500_000  # under Temporal's 2 MB signal payload limit


def test_a_forged_progress_message_is_cut_to_the_activity_cap() -> None:
    trace = TraceLog()
    assert ProgressEvents().record(trace, LIVE, TaskProgress(7, 1, 1.0, 2.0, HUGE), 0)
    (event,) = trace.pending
    assert event.message == HUGE[:MAX_PROGRESS_MESSAGE]


def test_a_forged_artifact_with_oversized_strings_is_ignored() -> None:
    trace, events = TraceLog(), ProgressEvents()
    for forged in (
        TaskArtifact(7, 1, "12", HUGE, "text/plain", 3),
        TaskArtifact(7, 1, "12", "out.txt", "text/" + HUGE, 3),
        TaskArtifact(7, 1, HUGE, "out.txt", "text/plain", 3),
    ):
        assert not events.record_artifact(trace, LIVE, forged, 0)
    assert trace.pending == []
    # A well-formed one still gets its event.
    assert events.record_artifact(
        trace, LIVE, TaskArtifact(7, 1, "12", "out.txt", "text/plain", 3), 0
    )
    assert len(trace.pending) == 1
