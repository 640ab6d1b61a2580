"""Segue's PostgreSQL store: the workflow catalog, runs, the trace, waits and the event
log, shared by the worker (which writes the trace) and the API (which reads it).
Postgres holds a projection; Temporal decides."""

from engine.statuses import TERMINAL_STATUSES
from engine.store.cursors import decode_cursor, encode_cursor
from engine.store.errors import (
    InvalidCursor,
    MigrationError,
    RunNotFound,
    StoreError,
    UnknownWorkflowVersion,
)
from engine.store.events import EventRecord, get_event, record_event, set_event_matches
from engine.store.listen import TRACE_CHANNEL, TraceListener, listen_trace, parse_notification
from engine.store.migrate import apply_migrations, load_migrations
from engine.store.pool import StorePool, open_pool, store_url_from_env
from engine.store.runs import (
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    create_run,
    get_rerun_point,
    get_run,
    list_runs,
    settle_status,
    update_run_status,
)
from engine.store.trace import (
    RunProjection,
    TraceEvent,
    TraceEventRecord,
    TraceLevel,
    TraceType,
    append_trace,
    event_id,
    seq_from_event_id,
    summarize_output,
    trace_event_json,
    trace_page,
)
from engine.store.waits import Wait, add_wait, find_waiting, resolve_wait
from engine.store.workflows import (
    Workflow,
    WorkflowVersion,
    WorkflowVersionInfo,
    get_workflow,
    get_workflow_version,
    list_workflows,
    register_workflow_version,
)

__all__ = [
    "TERMINAL_STATUSES",
    "TRACE_CHANNEL",
    "EventRecord",
    "InvalidCursor",
    "MigrationError",
    "NewRun",
    "RunNotFound",
    "RunPage",
    "RunProjection",
    "RunRecord",
    "RunStatus",
    "StoreError",
    "StorePool",
    "TraceEvent",
    "TraceEventRecord",
    "TraceLevel",
    "TraceListener",
    "TraceType",
    "UnknownWorkflowVersion",
    "Wait",
    "Workflow",
    "WorkflowVersion",
    "WorkflowVersionInfo",
    "add_wait",
    "append_trace",
    "apply_migrations",
    "create_run",
    "decode_cursor",
    "encode_cursor",
    "event_id",
    "find_waiting",
    "get_event",
    "get_rerun_point",
    "get_run",
    "get_workflow",
    "get_workflow_version",
    "list_runs",
    "list_workflows",
    "listen_trace",
    "load_migrations",
    "open_pool",
    "parse_notification",
    "record_event",
    "register_workflow_version",
    "resolve_wait",
    "seq_from_event_id",
    "set_event_matches",
    "settle_status",
    "store_url_from_env",
    "summarize_output",
    "trace_event_json",
    "trace_page",
    "update_run_status",
]
