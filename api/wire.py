"""Wire types: what the HTTP API accepts and answers, as msgspec Structs (camelCase JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of the API's JSON bodies: camelCase names, absent optional fields omitted."""


# ------------------------------------------------------------------ errors


class ProblemView(Wire):
    """RFC 7807 problem JSON (`application/problem+json`); codes are listed in docs/api.md.
    Some problems add members: `errors` (WORKFLOW_INVALID, INPUT_INVALID), `runId`…"""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


# ------------------------------------------------------------------ workflows


class DiagnosticView(Wire):
    """One validation finding, with its place in the YAML."""

    file: str | None
    line: int | None
    column: int | None
    category: str
    message: str
    severity: str = "error"
    task: str | None = None  # the task the finding falls in (POST /workflows/validate)


class ValidationReport(Wire):
    valid: bool
    errors: list[DiagnosticView]
    warnings: list[DiagnosticView]
    # The file's tasks and transitions as written (version 0), even when it has errors.
    graph: GraphView | None = None


class RegisteredWorkflow(Wire):
    name: str
    version: int
    content_hash: str
    created: bool
    created_at: str
    warnings: list[DiagnosticView] = msgspec.field(default_factory=list)
    # What registration did to the workflow's schedules (see ScheduleOutcome below).
    schedules: list[ScheduleOutcome] = msgspec.field(default_factory=list)


class WorkflowSummary(Wire):
    name: str
    latest_version: int
    content_hash: str
    created_at: str


class WorkflowList(Wire):
    workflows: list[WorkflowSummary]


class VersionView(Wire):
    version: int
    content_hash: str
    created_at: str


class LatestVersionView(VersionView):
    yaml: str
    description: str | None = None


class WorkflowView(Wire):
    name: str
    latest: LatestVersionView
    versions: list[VersionView]


class GraphTransition(Wire):
    """One entry of a task's `next`, whole: engine commands (`fail`, `retry`, …) included;
    an empty `do` continues the run. Edges list only the transitions' task targets."""

    transition: int  # index in the task's `next`
    do: list[str]  # always sent, even empty: an empty `do` is a transition too
    when: str | None = None


class GraphNode(Wire):
    id: str
    kind: Literal["action", "passthrough", "join", "workflow"]
    join: int | Literal["all"] | None = None
    action: str | None = None  # the action name (or its expression) of an action task
    workflow: str | None = None  # the child workflow of a `workflow:` task
    entry: bool = False
    cycle: bool = False  # the task lies on a cycle of transitions (it may run again)
    next: list[GraphTransition] = msgspec.field(default_factory=list)


class GraphEdge(Wire):
    from_: str = msgspec.field(name="from")
    to: str
    transition: int  # index of the transition in the task's `next`
    when: str | None = None


class GraphView(Wire):
    name: str
    version: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    entries: list[str]
    mermaid: str


# ------------------------------------------------------------------ runs


class StartRunRequest(Wire, forbid_unknown_fields=True):
    input: Any = msgspec.field(default_factory=dict)  # an object; checked against the schema
    version: int | None = None


class SimulateRequest(Wire, forbid_unknown_fields=True):
    """`POST /workflows/{name}/simulate`: a what-if (api/what_if.py)."""

    input: Any = msgspec.field(default_factory=dict)  # the run input; checked against the schema
    version: int | None = None  # None: the latest
    mocks: Any = msgspec.field(default_factory=list)  # `segue simulate`'s mocks document


class RerunRequest(Wire, forbid_unknown_fields=True):
    input: Any = None  # None: the input of the run being rerun
    from_: str = msgspec.field(default="start", name="from")


class TaskProgressView(Wire):
    """What a running action last said of its progress (`ctx.progress`)."""

    task: str
    execution: int
    attempt: int
    done: int | float
    updated_at: str
    item: int | None = None
    total: int | float | None = None
    message: str | None = None


class Progress(Wire):
    completed_actions: int
    total_actions: int
    # Running actions that report progress, most recently updated first (at most 50).
    tasks: list[TaskProgressView] | None = None


class Failure(Wire):
    reason: str
    temporal_code: str | None = None
    details: Any = None


class RunStatusView(Wire):
    """The status payload (ARCHITECTURE.md "Status payload"), plus a few extras."""

    run_id: str
    workflow_id: str  # the workflow's name
    workflow_version: int
    status: str
    started_at: str
    updated_at: str
    task_queue: str
    history_length: int
    progress: Progress
    output: Any
    errors: list[Any]
    created_at: str
    errors_dropped: int = 0  # error entries counted beyond the 100 kept in `errors`
    completed_at: str | None = None
    failure: Failure | None = None
    rerun_of: str | None = None
    rerun_from: str | None = None  # "start" or "failed" when the run is a rerun
    parent_run_id: str | None = None
    temporal_run_id: str | None = None
    trace_id: str | None = None  # the run's OpenTelemetry trace, when it is traced
    schedule_id: str | None = None  # the schedule that started the run


class RunList(Wire):
    runs: list[RunStatusView]
    next_cursor: str | None = None


class TraceEnvelope(Wire):
    """A page of trace events (ARCHITECTURE.md "Trace events"); SSE sends the same."""

    run_id: str
    events: list[dict[str, Any]]
    cursor: str | None = None


class LogEnvelope(Wire):
    """A page of task log lines; the log stream (SSE) sends one line per message."""

    run_id: str
    logs: list[dict[str, Any]]
    cursor: str


class ArtifactList(Wire):
    run_id: str
    artifacts: list[dict[str, Any]]


class SignalRequest(Wire, forbid_unknown_fields=True):
    payload: Any = None
    # The with-items index of the item to answer: required for a task that waits per item.
    item: Annotated[int, msgspec.Meta(ge=0)] | None = None


class SignalAccepted(Wire):
    run_id: str
    task: str
    accepted: bool  # Temporal took the signal
    confirmed: bool  # the run said the task (item) was waiting (False: it could not be asked)
    item: int | None = None


# ------------------------------------------------------------------ events, health


class IngressEvent(Wire):
    event: str
    key: str | None = None
    payload: Any = None


class IngressResult(Wire):
    event_id: int
    matched_runs: list[str]
    correlation_key: str | None = None
    # The rules whose criteria held for the event (api/rules.py), each with its run.
    rules: list[RuleOutcome] = msgspec.field(default_factory=list)


class SessionView(Wire):
    """A codec session (`POST /session`): the cookie is set, HttpOnly, for `path`."""

    cookie: str
    path: str
    expires: str
    expires_in_seconds: int


class Health(Wire):
    status: str
    postgres: str
    temporal: str


# ------------------------------------------------------------------ schedules


class ScheduledRunView(Wire):
    """One start a schedule made."""

    run_id: str
    scheduled_at: str
    started_at: str


class ScheduleView(Wire):
    """A schedule: as declared (the keys of a workflow file's `schedules` entry), and as
    Temporal runs it (next and recent runs). `problem` says why it cannot run as declared."""

    workflow: str
    name: str
    schedule_id: str  # Temporal's schedule id; runs it started carry it
    origin: Literal["workflow", "api"]
    declared: dict[str, Any]
    paused: bool
    in_temporal: bool  # False: Temporal has no such schedule (yet): see `problem`
    problem: str | None = None
    note: str | None = None
    next_runs: list[str] = msgspec.field(default_factory=list)
    recent_runs: list[ScheduledRunView] = msgspec.field(default_factory=list)
    running: list[str] = msgspec.field(default_factory=list)
    actions: int = 0
    missed_catchup: int = 0
    skipped_overlap: int = 0


class ScheduleList(Wire):
    schedules: list[ScheduleView]


class ScheduleOutcome(Wire):
    """What one reconcile did to a schedule: created, updated, removed, or failed."""

    name: str
    outcome: str
    problem: str | None = None


OverlapName = Literal[
    "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
]


class TriggerRequest(Wire, forbid_unknown_fields=True):
    overlap: OverlapName | None = None  # default: the schedule's own policy


class BackfillRequest(Wire, forbid_unknown_fields=True):
    start: str  # ISO 8601 with a zone
    end: str
    overlap: OverlapName | None = None


class PauseRequest(Wire, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


# ------------------------------------------------------------------ webhooks and rules


class WebhookRequest(Wire, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    input: str | None = None  # JSONata over the payload; None: the payload is the input
    tolerance_seconds: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 300
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1, le=1024 * 1024)] = 64 * 1024


class WebhookView(Wire):
    """A webhook; `secret` only in the answer that created it (it is not shown again)."""

    id: str
    workflow: str
    name: str
    url: str  # the path deliveries are POSTed to
    tolerance_seconds: int
    max_body_bytes: int
    created_at: str
    input: str | None = None
    secret: str | None = None


class WebhookList(Wire):
    webhooks: list[WebhookView]


class RuleRequest(Wire, forbid_unknown_fields=True):
    event: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    workflow: str
    criteria: str | None = None  # JSONata over {event, key, payload}; None: every event
    input: str | None = None  # JSONata over {event, key, payload}; None: the payload


class RuleView(Wire):
    name: str
    event: str
    workflow: str
    created_at: str
    criteria: str | None = None
    input: str | None = None


class RuleList(Wire):
    rules: list[RuleView]


class LimitKeyView(Wire):
    """One key of a concurrency limit in use (docs/api.md, "Concurrency limits")."""

    key: str
    holders: int
    waiters: int
    oldest_wait: str | None = None  # since when its longest waiter waits


class LimitView(Wire):
    name: str
    holders: int
    waiters: int
    keys: list[LimitKeyView]


class LimitList(Wire):
    limits: list[LimitView]
    truncated: bool = False  # more keys are in use than one answer lists


class RuleOutcome(Wire):
    """What one rule did with an event: started a run, or why not (a problem code)."""

    rule: str
    run_id: str | None = None
    code: str | None = None
    detail: str | None = None
