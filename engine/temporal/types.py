"""The payloads that cross Temporal: workflow input and result, activity inputs.

Plain dataclasses of JSON values, so Temporal's default converter carries them and
replays read them back exactly; the newer ones are msgspec Structs, which Segue's
converter (engine/temporal/converter.py) reads and writes, shaped to write the very JSON
the dicts they replace wrote (the same keys, the same ones left out). Fields only
simulations once set (`mocks` in the input and the request, `sequence` in the result) are
gone: `segue simulate --temporal` serves its mocks from an activity of its own
(engine/temporal/simulation.py). Payloads written before still read, as a reader ignores
fields it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from engine.temporal.worker_config import DEFAULT_TASK_QUEUE as DEFAULT_TASK_QUEUE

INTERPRETER_WORKFLOW = "SegueInterpreter"
RUN_ACTION = "segue.run_action"
RECORD_TRACE = "segue.record_trace"
LOOKUP_WORKFLOW = "segue.lookup_workflow"
RESOLVE_SECRETS = "segue.resolve_secrets"  # a run's named secrets, once, at its start
# The key of a failed run's second failure detail: its real rerun point, when the store
# holds it masked (continuation.real_rerun_point; read back by run_record.py).
REAL_RERUN_KEY = "rerun_real"
ACQUIRE_LIMIT = "segue.acquire_limit"
RELEASE_LIMITS = "segue.release_limits"
# Where a run stands in a limit's line, asked before a `limit` signal is believed.
LIMIT_STANDING = "segue.limit_standing"
RELEASE_HOLDER = "segue.release_limit_holder"  # a task attempt's slots, when it ends

SIGNAL_DELIVER = "deliver"  # a payload for a waiting task (event wait or approval)
SIGNAL_PAUSE = "pause"
SIGNAL_RESUME = "resume"
SIGNAL_LIMIT = "limit"  # a concurrency limit's slot is granted, or the wait is over
QUERY_PROGRESS = "progress"
# An action's progress, from its activity (engine/temporal/task_logs.py), for the trace.
SIGNAL_TASK_PROGRESS = "task_progress"
SIGNAL_TASK_ARTIFACT = "task_artifact"  # an artifact an action stored, for the trace
# Updates: the run says at once whether it took the answer (engine/temporal/answers.py).
UPDATE_ANSWER = "answer"  # an answer for one wait, addressed by task (and item)
UPDATE_EVENT = "event"  # a correlated event for the waits that declared its name and key


@dataclass
class InterpreterInput:
    """Everything one run needs; on continue-as-new it also carries the run's state."""

    run_id: str
    workflow: str
    version: str
    yaml: str
    input: dict[str, Any]
    task_queue: str = DEFAULT_TASK_QUEUE
    started_at_ms: int | None = None
    trace: bool = True  # write trace events and the run projection to the store
    parent_run_id: str | None = None
    rerun: dict[str, Any] | None = None  # a failed run's RerunPoint: start where it stopped
    # The actions' own retry layers (LANGUAGE.md §8), action -> numbers, as the starter's
    # catalog has them: decided when the run starts, kept for its life (continue-as-new
    # and child runs included). None: runs started without them (the worker's catalog).
    action_retry_defaults: dict[str, dict[str, float]] | None = None
    # The actions the starter's catalog declares local (engine/temporal/placement.py),
    # kept for the run's life like the retry layers. None: the worker's catalog decides.
    local_actions: list[str] | None = None
    # Carried over continue-as-new:
    # The coordinator's own snapshot (engine/coordinator/snapshot.py): a format it
    # versions and checks itself, opaque to the binding.
    snapshot: dict[str, Any] | None = None
    trace_seq: int = 0
    timers: list[TimerLeft] = field(default_factory=list)
    # The continuation record (engine/temporal/continuation.py `Carried`). Plain JSON on
    # the wire, read and written only there (`carried_of`, `carried_record`): a
    # malformed record then fails the run at once, with the path of what is wrong,
    # rather than failing the workflow task's decoding again and again.
    carried: dict[str, Any] = field(default_factory=dict)
    continued: int = 0  # how many times this run continued as new
    # The Temporal Schedule that started the run (engine/temporal/schedules.py); such a
    # run has an empty `run_id` and takes its workflow id as its run id.
    schedule_id: str | None = None


class TimerLeft(msgspec.Struct, array_like=True):
    """A durable timer a run continued as new still has: `[timer id, ms left]`, the
    positional row records of older releases hold."""

    timer: int
    remaining_ms: int


class ActionOutcome(msgspec.Struct, omit_defaults=True):
    """What `run_action` returns for an attempt that succeeded (a failure leaves as an
    `ApplicationError`): `{"result": …, "traced": …}`, and `secrets` only when the
    action declared some, as the dict it replaces; `queued_ms` and `ran_ms` from
    workers of 2026-12-03 on (absent before: a run reads them only on behaviour 5)."""

    result: Any
    traced: bool  # whether the trace events the request carried were written
    # The values of the action's declared secret fields: the run masks them from now on.
    secrets: list[str] = []
    # How long the attempt waited in the task queue for a worker (Temporal's
    # schedule-to-start), and how long the action then ran, in milliseconds.
    queued_ms: int | None = None
    ran_ms: int | None = None


class WorkflowFound(msgspec.Struct):
    """What `lookup_workflow` returns: the latest registered version of a workflow."""

    name: str
    version: int | str  # the store's number, or a workflows directory's content hash
    yaml: str


class SequenceRow(msgspec.Struct, array_like=True):
    """One execution in a simulated run's sequence (`segue simulate --temporal`), carried
    across continue-as-new. Written as the positional row it always was
    (`[task, iteration, route, status, execution]`), so records of older releases read."""

    task: str
    iteration: int
    route: int
    status: str  # the execution's status word (engine/statuses.py), `running` until it ends
    execution: int

    def summary(self) -> list[Any]:
        """The row the workflow's result lists: `[task, iteration, route, status]`."""
        return [self.task, self.iteration, self.route, self.status]


@dataclass
class InterpreterResult:
    run_id: str
    status: str
    output: Any
    errors: list[dict[str, Any]]
    errors_dropped: int = 0
    continued: int = 0  # how many times the run continued as new


@dataclass
class ActionRequest:
    """One attempt of one action execution (or with-items item)."""

    run_id: str
    workflow: str
    task: str
    iteration: int
    route: int
    attempt: int
    execution: int
    action: str
    input: Any
    item: int | None = None
    timeout_seconds: float | None = None
    # Trace events the activity writes while the action runs (see the interpreter).
    trace: TraceBatch | None = None
    # The run's secret values known so far: the activity masks them in the errors and
    # logs it writes (engine/masking.py). Empty for runs without secrets.
    secrets: list[str] = field(default_factory=list)


@dataclass
class TraceRecord:
    """A trace event as the workflow produces it (the store turns it into a row)."""

    seq: int
    type: str
    level: str
    timestamp_ms: int
    node_id: str | None = None
    message: str | None = None
    error: dict[str, Any] | None = None
    output: Any = None  # summarised by the store
    has_output: bool = False
    data: dict[str, Any] | None = None


@dataclass
class WaitChange:
    """A task began or stopped waiting for an event (the store's waits index)."""

    execution: int
    task: str
    event_name: str
    correlation_key: str | None
    resolved: bool = False
    item: int | None = None  # the with-items index of an item's wait


class RunFailure(msgspec.Struct):
    """Why a run that did not complete ended: its first error (the run row's `failure`)."""

    reason: str
    details: dict[str, str]  # {"type": the error's type}


class Projection(msgspec.Struct, omit_defaults=True):
    """The run row as the API shows it, sent with each trace batch (the store's
    `RunProjection` reads it). A field left out leaves the row's as it is: a live run
    sends its progress and status; a finished one its output, errors and end too."""

    status: str  # the API's word (engine/statuses.py)
    progress_completed: int
    progress_total: int
    history_length: int
    output: Any = None
    # The run's error entries as the API shows them (ErrorEntry.to_json).
    errors: list[dict[str, Any]] | None = None
    errors_dropped: int | None = None
    completed_at_ms: int | None = None
    failure: RunFailure | None = None
    # A failed run's RerunPoint (engine/coordinator/rerun.py) as JSON, its contexts masked
    # like the rest of the row (run_secrets.py).
    rerun_point: dict[str, Any] | None = None


@dataclass
class TraceBatch:
    run_id: str
    workflow: str
    events: list[TraceRecord]
    projection: Projection | None = None
    waits: list[WaitChange] = field(default_factory=list)
    # For a run row the API did not create (child runs):
    version: int = 0
    task_queue: str = DEFAULT_TASK_QUEUE
    parent_run_id: str | None = None
    schedule_id: str | None = None


@dataclass
class SignalPayload:
    """What `deliver` carries: which waiting task, and the payload it resumes with."""

    payload: Any = None
    task: str | None = None
    event: str | None = None
    correlation_key: str | None = None
    execution: int | None = None
    # The with-items index: a signal for an item's wait must name it, and a signal that
    # names one answers only that item's wait.
    item: int | None = None
    attempt: int | None = None  # pinned to this attempt of the wait (a retried wait)


class TakenWait(msgspec.Struct):
    """Which wait an answer or event was taken by (what the `answer` and `event`
    Updates return). Every field is written, `item` as null for a task's own wait."""

    task: str
    execution: int
    item: int | None
    attempt: int


@dataclass
class TaskProgress:
    """What `task_progress` carries: how far one attempt of an execution (or item) is."""

    execution: int
    attempt: int
    done: float
    total: float | None = None
    message: str | None = None
    item: int | None = None


@dataclass
class TaskArtifact:
    """What `task_artifact` carries: an artifact one attempt stored (engine/store)."""

    execution: int
    attempt: int
    artifact_id: str
    name: str
    media_type: str
    size_bytes: int
    item: int | None = None


@dataclass
class LimitAcquire:
    """A run asks for a slot of one concurrency limit's key (engine/store/limits.py)."""

    run_id: str
    name: str
    key: str
    capacity: int
    strategy: str = "queue"
    priority: int = 0
    holder: str = ""  # '' the run itself; a task attempt (engine/temporal/task_limits.py)


@dataclass
class LimitAnswer:
    """What the limiter decided: holding, queued (at `position`) or refused; runs the
    asker must cancel (`evict`, cancel_oldest) or tell their wait is over (`superseded`,
    debounce)."""

    outcome: str
    position: int | None = None
    evict: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


@dataclass
class LimitSignal:
    """What `limit` carries to a waiting run: its slot of `name`/`key` is granted, or
    (granted False) its wait ended without one, and why."""

    name: str
    key: str
    granted: bool = True
    reason: str | None = None
    holder: str = ""  # which of the run's waits: '' its own, else a task attempt's


@dataclass
class LimitStanding:
    """Which (run, limit, key) the gate asks the limiter about after a `limit` signal:
    anyone who can reach Temporal can send one, so the store has the last word."""

    run_id: str
    name: str
    key: str
    holder: str = ""


class LimitPromotion(msgspec.Struct):
    """A waiter a release made a holder (what the release activities return): the run to
    wake, and (`holder`) which of its waits: '' its own, else a task attempt's. Every
    field is written, as the store's `Promotion` wrote them."""

    run_id: str
    name: str
    key: str
    holder: str = ""


@dataclass
class LimitHolder:
    """One holder within a run (a task attempt) that gives up its slots."""

    run_id: str
    holder: str
