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


class ValidationReport(Wire):
    valid: bool
    errors: list[DiagnosticView]
    warnings: list[DiagnosticView]


class RegisteredWorkflow(Wire):
    name: str
    version: int
    content_hash: str
    created: bool
    created_at: str
    warnings: list[DiagnosticView] = msgspec.field(default_factory=list)


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


class GraphNode(Wire):
    id: str
    kind: Literal["action", "passthrough", "join", "workflow"]
    join: int | Literal["all"] | None = None
    action: str | None = None  # the action name (or its expression) of an action task
    workflow: str | None = None  # the child workflow of a `workflow:` task
    entry: bool = False


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


class Health(Wire):
    status: str
    postgres: str
    temporal: str
