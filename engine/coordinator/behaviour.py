"""Behaviour versions of the coordinator: what a run started with, it keeps.

A run records the behaviour it started on (`RunStarted.behaviour`, then its state and
every snapshot that carries it across continue-as-new) and keeps it for its whole life.
So a Segue upgrade that changes how the coordinator decides never changes the course of
a run already in flight: Temporal replays the run's history on the new code and gets
the commands it recorded. A new behaviour is a new member here, checked where the
decision differs; the Temporal binding picks the newest one for a new run behind a
`workflow.patched` marker (engine/temporal), the simulator always the newest.
"""

from __future__ import annotations

from enum import IntEnum


class Behaviour(IntEnum):
    ORIGINAL = 1
    """Releases up to 2026-11: every transition into a join is an arrival, and contexts
    merge by the newest publish stamp whatever the arrival order."""

    CLARIFIED = 2
    """The language as clarified in 2026-12 (issue 9): a source execution arrives at a
    barrier once (its transitions there merge in order), a barrier fires once per round,
    and contexts merge as deltas in arrival order (LANGUAGE.md §5); every action runs
    where its definition's placement says (`core.fail` and the waits of with-items items
    in the workflow; they ran as activities); with-items attempts count on from the
    execution's after `do: retry`, and `$task.attempt` in `next` is the highest attempt
    any item took; a run that is cancelled or times out cancels its child runs and
    waits for them (they were terminated), a child's timeout is `timeout` (it was
    `child_failed`), and a `core.sleep` or a wait longer than its task's timeout fails
    at the timeout (it was ignored). Bounded runs (issue 11): the run input's schema regexes
    run on RE2 (linear time; JSON Schema's `$` then matches only at the very end, as
    ECMA-262 says); an action input or a run output larger than `MAX_PAYLOAD_BYTES`
    (engine/coordinator/payloads.py) fails the task or the run with
    `payload_too_large` instead of reaching Temporal. Answers bound to their wait
    (issues 11 and 18): the Temporal binding keeps no early answer (a `deliver` signal
    that no open wait takes is dropped, with a warning in the trace), and indexes for
    `POST /events` only the waits that declared an event name and key
    (engine/temporal/waits.py)."""

    OBSERVED = 3
    """Releases from the second 2026-12-02 session on. Each change gated on this member
    says here what it changes (a new run takes it; runs started before keep 2).
    Secrets (engine/temporal/run_secrets.py): a run whose workflow calls `$secret('name')`
    first resolves those names in one local activity, and a missing one fails the run
    with `secret_unknown` before anything runs; its secret inputs and values are masked
    in every trace batch.
    A traced run's WORKFLOW_STARTED trace event carries its OpenTelemetry trace id in
    `data.traceId` (engine/temporal/run_spans.py).
    An action's progress (`ctx.progress`), signalled by its activity as `task_progress`,
    becomes a `PROGRESS` trace event with `data.progress`, and an artifact it stored
    (`task_artifact`) one with `data.artifact` (engine/temporal/progress_events.py); runs
    on earlier behaviours ignore both signals.
    Local activities (issue 10): an action declared `LOCAL_ACTIVITY` (`http.request`)
    in a task whose `timeout` is at most 10 s, or a task with `run: local`, runs its
    attempts as Temporal local activities, and
    `run: activity` moves a declared-local one back (engine/temporal/placement.py); runs
    on 2 schedule ordinary activities for every action that is not carried out by the
    workflow.
    A publish that makes the run's context larger than `MAX_CONTEXT_BYTES` (512 KiB as
    JSON, engine/coordinator/payloads.py) fails its transition with `payload_too_large`
    naming the task and the published name (the context grew without bound before).
    A refused answer to a wait is recorded (trace warning, Update events) once per wait
    and reason and at most 20 times a history; the Update validator turns the others
    away, writing nothing (engine/temporal/refusals.py).
    A run whose workflow declares `concurrency_limits` acquires each limit by an activity
    before its first task, waits for the `limit` signal while queued (WORKFLOW_QUEUED),
    and releases by an activity before it ends, signalling the runs its release promoted
    (engine/temporal/limits.py).
    Each evaluated entry of a finished execution's `next` is a `TransitionEvaluated`
    notice and a `TRANSITION` trace event after the execution's own (issue 15,
    engine/coordinator/transition_notices.py), which shifts the later sequence numbers:
    runs on 2 get none.
    A `do: retry` transition whose publish fails ends its attempt with the attempt's own
    status before the run fails with the expression error (engine/coordinator/
    completion.py); on 2 the attempt stayed running and the run never ended."""

    EXPLAINED = 4
    """Releases from the fourth 2026-12-02 session on. Each change gated on this member
    says here what it changes (a new run takes it; runs started before keep 3 or older).
    A taken transition's `TransitionEvaluated` notice carries the values it published, its
    publishes rendered before the notices (engine/coordinator/completion.py
    `render_taken`), and the trace event that ends a task attempt carries the input it
    was rendered with, both masked then clipped (engine/temporal/shown_values.py).
    The trace events an action's activity request carries stop at `CARRIED_TRACE_BYTES`
    (256 KiB as JSON, engine/temporal/tracing.py); the trace pump writes the rest (on 3 a
    request carried up to 500 events whatever their size)."""

    TIMED = 5
    """Releases from the first 2026-12-03 session on. Each change gated on this member
    says here what it changes (a new run takes it; runs started before keep 4 or older).
    An attempt that waited in line for a task's concurrency limit records, once the
    store bears out its promotion, a `PROGRESS` trace event `got a slot of limit …` with
    `data.admitted` (engine/temporal/task_limits.py), so the console's timeline shows how
    long it waited for a slot; both that event and the `waits for limit …` one name a with-items
    attempt's item (`data.item`). On 4 the wait's end was not traced.
    The COMPLETED event of an execution (without items) whose action ran as an activity
    or local activity shows how long its last attempt waited for a worker and then ran
    (`data.queuedMs`, `data.ranMs`, from the activity's outcome; engine/temporal/
    dispatch.py), so the console's timeline shows the wait for a worker.
    A with-items execution keeps at most `MAX_ITEM_RESULTS_BYTES` (16 MiB as JSON) of item
    results: the item whose result would pass it fails with `payload_too_large` and no
    further item starts (engine/coordinator/payloads.py); on 4 they added up without
    bound, in the worker's memory and in every snapshot."""

    EVERY_ATTEMPT_TIMED = 6
    """Releases from the second 2026-12-03 session on. Each change gated on this member
    says here what it changes (a new run takes it; runs started before keep 5 or older).
    An attempt that failed shows how long it waited for a worker and then ran, as its
    activity's failure says (a second detail; `$error.details` is unchanged): on the
    `PROGRESS` warning of a retried attempt (a with-items item's too) and on the FAILED
    event of an execution without items (`data.queuedMs`, `data.ranMs`;
    engine/temporal/dispatch.py `attempt_timings`), so the console's timeline shows every
    attempt's wait for a worker; on 5 only a succeeded last attempt's was traced."""


CURRENT_BEHAVIOUR = max(Behaviour)
