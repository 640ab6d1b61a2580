"""Replay safety: committed histories of example runs replay on the current interpreter
without non-determinism (JSONata passed through the sandbox; clock and randomness bound
to workflow time and the run id). Re-record with tests/temporal/histories/record.py
only for deliberate, versioned changes; histories of older releases stay, as the runs in
flight that an upgrade must not disturb."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
    WorkflowReplayResult,
)
from temporalio.workflow import ActivityHandle

from engine.coordinator.behaviour import Behaviour
from engine.temporal import continuation, versioning
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.progress_events import ProgressEvents
from engine.temporal.tracing import TraceLog
from engine.temporal.types import RECORD_TRACE, RUN_ACTION
from engine.temporal.worker import workflow_runner
from tests.support.releases import EarlierRelease

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))


def _history(stem: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HERE / f"{stem}.json").read_text())
    return loaded


def _replay(stem: str) -> WorkflowReplayResult:
    history = WorkflowHistory.from_json(f"replay-{stem}", _history(stem))
    replayer = Replayer(
        workflows=[Interpreter], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))


def _timers(stem: str) -> int:
    return sum(e["eventType"] == "EVENT_TYPE_TIMER_STARTED" for e in _history(stem)["events"])


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_history_replays(path: Path) -> None:
    assert _replay(path.stem).replay_failure is None


def test_there_are_histories() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "monitoring",
        "features",
        "joins",
        "joins-behaviour-1",
        "answers",
        "secrets",
        "progress",
        "local",
        "cancel",
        "pause",
        "timeouts",
        "continued",
        "continued-last",
        "context",
        "refusals",
        "limits",
        "limits-forged",
        "task-limits",
        "transitions",
        "retry-publish",
        "secret-rerun",
        "secret-child",
        "rerun",
        "rerun-failed",
        "explained",
        "slots",
        "attempts",
        *(f"example-{name}" for name, _ in EXAMPLES),
    }


# (example, its output): every example in examples/ has a history (monitoring's is
# `monitoring`), recorded with the answers and services its `.mocks.yaml` assumes.
EXAMPLES = [
    ("approval", {"applied": True, "decided_by": "ada"}),
    ("child-workflow", {"greeting": "Hello Ada"}),
    ("conditional-loop", {"pages": 4, "total": 100}),
    ("fan-out-join", {"statuses": {"api": 200, "db": 503, "cache": 200}}),
    ("retry-with-cycle", {"rollbacks": 2}),
    ("with-items-hosts", {"answered": 4, "statuses": [200, 503, 200, 200]}),
]


@pytest.mark.parametrize(("name", "output"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_each_example_history_ends_with_its_output(name: str, output: dict[str, Any]) -> None:
    last = _history(f"example-{name}")["events"][-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    [payload] = last["workflowExecutionCompletedEventAttributes"]["result"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["output"] == output


def test_the_examples_cover_the_directory() -> None:
    """A new example needs its history: a CASE in record.py and a row in EXAMPLES."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    workflows = {p.stem for p in examples.glob("*.yaml") if not p.name.endswith(".mocks.yaml")}
    assert workflows == {"monitoring", *(name for name, _ in EXAMPLES)}


# (history, an event its run must have recorded: what the case is there to replay)
FEATURES = [
    ("cancel", "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"),
    ("pause", "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"),
    ("timeouts", "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"),
    ("continued", "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"),
    ("continued-last", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"),
    ("rerun-failed", "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"),
    ("rerun", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"),
]


@pytest.mark.parametrize(("stem", "event"), FEATURES, ids=[stem for stem, _ in FEATURES])
def test_each_feature_history_shows_its_feature(stem: str, event: str) -> None:
    assert event in {e["eventType"] for e in _history(stem)["events"]}


def test_the_last_run_of_a_chain_started_from_a_continuation() -> None:
    """`continued-last` replays a run that began from the state its predecessor carried."""
    started = _history("continued-last")["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started.get("continuedExecutionRunId")


def test_answers_went_through_updates() -> None:
    """`answers` (behaviour 2): two refused answers and one taken, all as Updates; the
    signal sent before the wait began answered nothing (the output names `ada`)."""
    events = _history("answers")["events"]
    kinds = [event["eventType"] for event in events]
    assert kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED" in kinds
    [payload] = events[-1]["workflowExecutionCompletedEventAttributes"]["result"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["output"]["greeting"] == "Hello ada"


def test_a_named_secret_is_read_once_and_replays_from_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`secrets` (behaviour 3): the value came from one local activity at the start, so
    a worker without the secret in its environment replays the run unchanged."""
    monkeypatch.delenv("SEGUE_SECRET_REPLAY_KEY", raising=False)
    markers = [
        event["markerRecordedEventAttributes"]
        for event in _history("secrets")["events"]
        if event["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
    ]
    resolved = [
        json.loads(base64.b64decode(marker["details"]["result"]["payloads"][0]["data"]))
        for marker in markers
        if marker["markerName"] == "core_local_activity"
    ]
    assert resolved == [{"replay_key": "replay-key-5678"}]
    assert _replay("secrets").replay_failure is None


def test_a_failed_run_with_secrets_carries_its_real_rerun_point() -> None:
    """`secret-rerun` (behaviour 3): the store gets the rerun point masked, so the run's
    failure carries the real one (both secrets in clear: the codec seals it in a
    deployment) as its second detail, where a rerun from the failed tasks reads it."""
    last = _history("secret-rerun")["events"][-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"
    failure = last["workflowExecutionFailedEventAttributes"]["failure"]
    _, second = failure["applicationFailureInfo"]["details"]["payloads"]
    point = json.loads(base64.b64decode(second["data"]))["rerun_real"]
    assert [task["task"] for task in point["tasks"]] == ["stop"]
    assert point["contexts"][1][0] == {
        "key": "replay-key-8765",
        "tok": "replay-token-4321",
        "token": "replay-token-4321",
    }
    assert _replay("secret-rerun").replay_failure is None


def test_a_child_is_given_the_values_its_parent_masks() -> None:
    """`secret-child` (behaviour 3): the child's workflow declares nothing secret, so its
    start input carries the parent's secret it was given, for the child to mask."""
    [started] = [
        event["startChildWorkflowExecutionInitiatedEventAttributes"]
        for event in _history("secret-child")["events"]
        if event["eventType"] == "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"
    ]
    [payload] = started["input"]["payloads"]
    child_input = json.loads(base64.b64decode(payload["data"]))
    assert child_input["input"] == {"name": "replay-child-2468"}
    assert child_input["carried"] == {"masked": ["replay-child-2468"]}
    assert "memo" not in started and "searchAttributes" not in started
    assert _replay("secret-child").replay_failure is None


def _started_input(stem: str) -> dict[str, Any]:
    started = _history(stem)["events"][0]["workflowExecutionStartedEventAttributes"]
    loaded: dict[str, Any] = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    return loaded


def _actions_run(stem: str) -> list[tuple[str, int | None]]:
    """(task, item) of each action attempt the run scheduled as an activity, in order."""
    requests = [
        json.loads(base64.b64decode(attributes["input"]["payloads"][0]["data"]))
        for event in _history(stem)["events"]
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        and (attributes := event["activityTaskScheduledEventAttributes"])["activityType"]["name"]
        == "segue.run_action"
    ]
    return [(request["task"], request["item"]) for request in requests]


def test_a_rerun_from_the_failed_tasks_starts_at_the_failed_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`rerun` (behaviour 3): started from the rerun point the store kept for
    `rerun-failed` (as POST /runs/{id}/rerun with the failed tasks starts it), it ran the
    failed with-items task `check` again, every item, in the context `setup` left, and
    never `setup`. Replayed as a run started from the top, it breaks."""
    assert _actions_run("rerun-failed") == [("setup", None), ("check", 0)]
    point = _started_input("rerun")["rerun"]
    assert [task["task"] for task in point["tasks"]] == ["check"]
    assert point["contexts"][point["tasks"][0]["context"]][0]["first"] == 503
    assert _actions_run("rerun") == [("check", 0), ("check", 1), ("check", 2)]
    last = _history("rerun")["events"][-1]["workflowExecutionCompletedEventAttributes"]
    [payload] = last["result"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["output"] == {
        "first": 503,
        "statuses": [200, 200, 200],
    }
    assert _replay("rerun").replay_failure is None

    def from_the_top(params: Any) -> None:
        return None

    monkeypatch.setattr(continuation, "_rerun_point", from_the_top)
    assert _replay("rerun").replay_failure is not None


def _activities(stem: str) -> list[str]:
    return [
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for event in _history(stem)["events"]
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]


def test_a_queued_run_asks_the_store_before_it_believes_a_limit_signal() -> None:
    """`limits-forged`: a forged grant, then the real one; each made the run ask the store
    (it went on waiting after the first). `limits`, recorded before the check, believed
    its one signal and must replay so."""
    assert _activities("limits-forged") == [
        "segue.acquire_limit",
        "segue.limit_standing",
        "segue.limit_standing",
        "segue.release_limits",
    ]
    assert _activities("limits") == ["segue.acquire_limit", "segue.release_limits"]


def test_a_tasks_attempts_hold_their_slots_one_after_the_other() -> None:
    """`task-limits`: both items ask; the second waits for the first's release (told by
    its own run, without a signal), asks the store, runs, releases; the run's own
    release at its end finds nothing left."""
    assert _activities("task-limits") == [
        "segue.acquire_limit",
        "segue.acquire_limit",
        "segue.release_limit_holder",
        "segue.limit_standing",
        "segue.release_limit_holder",
        "segue.release_limits",
    ]
    kinds = {event["eventType"] for event in _history("task-limits")["events"]}
    assert "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" not in kinds


def test_a_run_keeps_the_behaviour_it_started_on() -> None:
    """The same workflow, recorded on behaviour 1 (its join task ran twice: a timer each)
    and on behaviour 2 (once): both histories replay on this code, each as it ran."""
    assert (_timers("joins-behaviour-1"), _timers("joins")) == (3, 2)


def test_without_the_gate_an_old_run_would_change_course(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control: a worker that gave every run the newest behaviour would
    break the run recorded on behaviour 1 when Temporal replays it."""

    class EveryRunIsNew:
        @staticmethod
        def patched(patch_id: str) -> bool:
            return True

    monkeypatch.setattr(versioning, "workflow", EveryRunIsNew)
    assert _replay("joins-behaviour-1").replay_failure is not None


@pytest.mark.parametrize("handler", ["record", "record_artifact"])
def test_progress_signals_become_trace_writes(
    monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    """`progress` (behaviour 3): the action's two progress signals and its artifact's are
    in the history, and a worker that ignored either kind (no PROGRESS events, fewer
    trace writes) would not replay the run as it ran."""
    signals = [
        event["workflowExecutionSignaledEventAttributes"]["signalName"]
        for event in _history("progress")["events"]
        if event["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert signals == ["task_progress", "task_artifact", "task_progress"]
    assert _replay("progress").replay_failure is None

    def ignored(*args: Any) -> bool:
        return False

    monkeypatch.setattr(ProgressEvents, handler, ignored)
    assert _replay("progress").replay_failure is not None


def test_local_attempts_are_markers_and_replay_as_local_activities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`local` (behaviour 3): three local attempts of `http.request` (markers, with the
    coordinator's 1 s and 2 s backoff timers between them), one moved back to an activity
    by `run: activity`. Replayed as if it had started on behaviour 2, the same history
    breaks: the gate is what keeps runs in flight on ordinary activities."""
    events = _history("local")["events"]
    markers = [
        e["markerRecordedEventAttributes"]["markerName"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
    ]
    assert markers.count("core_local_activity") == 3
    scheduled = [e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert len(scheduled) == 1
    timers = [
        e["timerStartedEventAttributes"]["startToFireTimeout"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_TIMER_STARTED"
    ]
    assert timers == ["1s", "2s"]

    # A release before behaviour 3 knew no newer marker.
    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.CLARIFIED))
    assert _replay("local").replay_failure is not None


def test_a_context_over_its_cap_failed_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """`context` (behaviour 3): the third 200 KB publish failed the run with
    `payload_too_large`; replayed as behaviour 2 (no cap) it would take another course."""
    events = _history("context")["events"]
    failed = events[-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert "publishing 'b2' makes the run's context" in failed["message"]

    # A release before behaviour 3 knew no newer marker.
    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.CLARIFIED))
    assert _replay("context").replay_failure is not None


def test_a_failed_publish_on_a_retry_transition_ended_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`retry-publish` (behaviour 3): the retry transition's publish failed, the attempt
    ended and the run failed; replayed as behaviour 2 the attempt stays running and the
    run never fails, so the recorded end does not replay."""
    events = _history("retry-publish")["events"]
    failed = events[-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert "next[0].publish.x" in failed["message"]

    # A release before behaviour 3 knew no newer marker.
    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.CLARIFIED))
    assert _replay("retry-publish").replay_failure is not None


def test_a_refusal_already_recorded_leaves_no_history() -> None:
    """`refusals` (behaviour 3): four answers for a task that does not wait, after one
    such refusal was recorded, were turned away by the validator: only that refusal and
    the taken answer are Updates in the history."""
    kinds = [event["eventType"] for event in _history("refusals")["events"]]
    assert kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 2
    assert kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2


def test_a_queued_run_waits_by_signal_not_by_polling() -> None:
    """`limits` (behaviour 3): the run acquired (queued), waited with no timer for the
    `limit` signal its holder's release sent, and released before it ended."""
    events = _history("limits")["events"]
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]
    assert scheduled == ["segue.acquire_limit", "segue.release_limits"]
    signals = [
        e["workflowExecutionSignaledEventAttributes"]["signalName"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert signals == ["limit", "deliver"]
    assert _timers("limits") == 0


def test_a_run_that_explains_its_transitions_replays() -> None:
    """`transitions` (behaviour 3): the monitoring example, traced to PostgreSQL, wrote
    a TRANSITION event for each evaluated `next` entry of its loop. The events ride in
    the trace writes' inputs (local activities, whose inputs no history keeps), so the
    history shows the behaviour-3 marker and replays; tests/temporal/test_trace.py
    checks the events themselves."""
    patches = [
        base64.b64decode(event["markerRecordedEventAttributes"]["details"]["patch-data"]
                         ["payloads"][0]["data"])
        for event in _history("transitions")["events"]
        if event["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
        and event["markerRecordedEventAttributes"]["markerName"] == "core_patch"
    ]  # fmt: skip
    assert any(versioning.patch_id(Behaviour.OBSERVED).encode() in data for data in patches)
    assert _replay("transitions").replay_failure is None


class _CarriedTrace(Interceptor):
    """Keeps the trace events each replayed action activity would carry (its input):
    Temporal compares commands on replay, not their inputs, so a change that only adds
    to the trace replays without complaint; this compares what the history recorded."""

    def __init__(self) -> None:
        self.carried: list[Any] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        carried = self.carried

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                if input.activity == RUN_ACTION:  # not the limiter's
                    [payload] = DATA_CONVERTER.payload_converter.to_payloads(input.args)
                    carried.append(json.loads(payload.data).get("trace"))
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


def _recorded_trace(stem: str) -> list[Any]:
    """The trace events each action activity of the history carried, as recorded."""
    return [
        json.loads(base64.b64decode(
            e["activityTaskScheduledEventAttributes"]["input"]["payloads"][0]["data"]
        )).get("trace")
        for e in _history(stem)["events"]
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == RUN_ACTION
    ]  # fmt: skip


def _replayed_trace(stem: str) -> tuple[WorkflowReplayResult, list[Any]]:
    history = WorkflowHistory.from_json(f"replay-{stem}", _history(stem))
    spy = _CarriedTrace()
    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        interceptors=[spy],
    )
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    return result, _without_trace_id(spy.carried)


def _without_trace_id(batches: list[Any]) -> list[Any]:
    """The batches without the OpenTelemetry trace id a run's first event carries when
    the process has a tracer (an earlier test may have installed one): it names the
    span of this process's replay, not a decision of the run."""
    for batch in batches:
        for event in batch["events"] if isinstance(batch, dict) else ():
            data = event.get("data")
            if event["type"] == "WORKFLOW_STARTED" and isinstance(data, dict):
                data.pop("traceId", None)
                event["data"] = data or None
    return batches


def test_a_run_that_shows_inputs_and_published_values_replays_its_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`explained` (behaviour 4): greet's COMPLETED shows its rendered input clipped (over
    8 KiB) and its TRANSITION the value it published, in the trace its successor's
    activity carried; replayed, the run carries that same trace. Temporal compares no
    activity input, so a worker that dropped them would replay "fine": the comparison
    catches it. Replayed as behaviour 3 (the negative control) the run fails."""
    recorded = _recorded_trace("explained")
    events = {(e["type"], e["node_id"]): e["data"] for e in recorded[1]["events"]}
    greet = events["COMPLETED", "greet"]
    assert greet["clipped"] == {"input": 9023} and greet["input"].startswith('{"name":"ada",')
    assert events["TRANSITION", "greet"]["values"] == {"greeting": "hello ada"}
    result, replayed = _replayed_trace("explained")
    assert result.replay_failure is None and replayed == recorded

    with monkeypatch.context() as patch:
        patch.setattr(TraceLog, "_rendered", lambda self, command: None)  # keeps no input
        result, without_inputs = _replayed_trace("explained")
    assert result.replay_failure is None and without_inputs != recorded

    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.OBSERVED))
    assert _replay("explained").replay_failure is not None


class _PumpedTrace(Interceptor):
    """Keeps every trace event the replayed run hands out: carried by its action
    activities and written by its trace pump (a local activity, whose input the history
    does not keep)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        events = self.events

        def keep(args: Any) -> None:
            [payload] = DATA_CONVERTER.payload_converter.to_payloads(args)
            batch = json.loads(payload.data)
            batch = batch.get("trace") if "trace" in batch else batch
            events.extend((batch or {}).get("events") or [])

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                if input.activity == RUN_ACTION:
                    keep(input.args)
                return super().start_activity(input)

            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
                if input.activity in (RUN_ACTION, RECORD_TRACE):
                    keep(input.args)
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


def test_a_run_replays_how_long_its_attempt_waited_for_a_worker() -> None:
    """`slots` (behaviour 5): `first`'s COMPLETED event carries how long its attempt
    waited for a worker and ran, as the activity's recorded outcome says; a replay
    hands out that event again with the same figures (they come from the history, not
    from a clock)."""
    outcomes = [
        json.loads(base64.b64decode(
            e["activityTaskCompletedEventAttributes"]["result"]["payloads"][0]["data"]
        ))
        for e in _history("slots")["events"]
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
    ]  # fmt: skip
    # The first one is `first`'s (the probe's first item greets "first" too, later).
    outcome = next(
        o
        for o in outcomes
        if isinstance(o, dict) and o.get("result") == {"greeting": "hello first"}
    )
    assert {"queued_ms", "ran_ms"} <= set(outcome)
    history = WorkflowHistory.from_json("replay-slots", _history("slots"))
    spy = _PumpedTrace()
    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        interceptors=[spy],
    )
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None
    (first,) = [e for e in spy.events if e["type"] == "COMPLETED" and e["node_id"] == "first"]
    assert (first["data"]["queuedMs"], first["data"]["ranMs"]) == (
        outcome["queued_ms"],
        outcome["ran_ms"],
    )


def test_a_run_that_waited_for_a_slot_replays_when_it_got_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`slots` (behaviour 5): the second item waited in line for the task's limit; the
    trace its own activity carried says when it got its slot, naming the item; replayed,
    the run carries that same trace, and a worker that dropped the event would replay
    "fine" but carry another (the comparison catches it). Replayed as behaviour 4 (the
    negative control) the run fails."""
    recorded = _recorded_trace("slots")
    admitted = [
        event["data"]
        for batch in recorded
        if batch
        for event in batch["events"]
        if event["type"] == "PROGRESS" and (event["data"] or {}).get("admitted")
    ]
    assert admitted == [
        {"admitted": True, "execution": 2, "item": 1, "key": "db-1", "limit": "per_host"}
    ]
    result, replayed = _replayed_trace("slots")
    assert result.replay_failure is None and replayed == recorded

    progress = TraceLog.progress
    with monkeypatch.context() as patch:  # a worker that forgot the slot's event
        patch.setattr(
            TraceLog,
            "progress",
            lambda self, at, task, message, data: (
                None
                if message.startswith("got a slot")
                else progress(self, at, task, message, data)
            ),
        )
        result, forgetful = _replayed_trace("slots")
    assert result.replay_failure is None and forgetful != recorded

    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.EXPLAINED))
    assert _replay("slots").replay_failure is not None


def test_failed_attempts_replay_how_long_they_waited_for_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`attempts` (behaviour 6): every failed attempt's event says how long it waited
    for a worker and ran — `shaky`'s retry warning, each item's, `doomed`'s FAILED — as
    its activity's failure said (a second detail). Replayed, the run carries that same
    trace; a worker that dropped the figures would replay "fine" but carry another (the
    comparison catches it). Replayed as behaviour 5 (the negative control) it fails."""
    history = WorkflowHistory.from_json("replay-attempts", _history("attempts"))
    pumped = _PumpedTrace()  # every event: carried by activities or written by the pump
    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        interceptors=[pumped],
    )
    assert asyncio.run(replayer.replay_workflow(history)).replay_failure is None
    timed = [
        (event["type"], event["node_id"], (event["data"] or {}).get("item"))
        for event in pumped.events
        if {"queuedMs", "ranMs"} <= set(event["data"] or {})
        and event["type"] in ("PROGRESS", "FAILED")
    ]
    assert sorted(timed, key=str) == sorted(
        [
            ("PROGRESS", "shaky", None),
            ("PROGRESS", "items", 0),
            ("PROGRESS", "items", 1),
            ("FAILED", "doomed", None),
        ],
        key=str,
    )
    recorded = _recorded_trace("attempts")  # what the activities carried (items, doomed)
    result, replayed = _replayed_trace("attempts")
    assert result.replay_failure is None and replayed == recorded

    with monkeypatch.context() as patch:  # a worker that kept no failed attempt's figures
        patch.setattr(TraceLog, "attempt_timed", lambda self, *args: None)
        result, forgetful = _replayed_trace("attempts")
    assert result.replay_failure is None and forgetful != recorded

    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.TIMED))
    assert _replay("attempts").replay_failure is not None
