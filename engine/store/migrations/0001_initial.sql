-- Segue store, first schema. Postgres holds a projection of what Temporal decides:
-- the workflow catalog, the runs list with status, the trace, the waits index and the
-- correlated-event log. Statuses are CHECKed text (easier to extend than enum types).

CREATE TABLE workflow_versions (
    name         text        NOT NULL,
    version      integer     NOT NULL CHECK (version > 0),
    content_hash text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    yaml         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version),
    UNIQUE (name, content_hash)
);

CREATE TABLE runs (
    run_id               text        PRIMARY KEY,
    workflow_name        text        NOT NULL,
    workflow_version     integer     NOT NULL,
    task_queue           text        NOT NULL,
    temporal_workflow_id text,
    temporal_run_id      text,
    status               text        NOT NULL DEFAULT 'QUEUED' CHECK (status IN (
        'QUEUED', 'RUNNING', 'PAUSED',
        'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT')),
    input                jsonb       NOT NULL DEFAULT '{}',
    output               jsonb,
    errors               jsonb,
    failure              jsonb,      -- {reason, temporalCode?, details?}
    idempotency_key      text,
    parent_run_id        text        REFERENCES runs (run_id),
    rerun_of             text        REFERENCES runs (run_id),
    progress_completed   integer     NOT NULL DEFAULT 0 CHECK (progress_completed >= 0),
    progress_total       integer     CHECK (progress_total >= 0),
    history_length       integer     NOT NULL DEFAULT 0 CHECK (history_length >= 0),
    last_seq             bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    CONSTRAINT runs_workflow_version_fkey FOREIGN KEY (workflow_name, workflow_version)
        REFERENCES workflow_versions (name, version),
    -- NULL keys are distinct, so runs without a key never collide.
    CONSTRAINT runs_idempotency_key UNIQUE (workflow_name, idempotency_key)
);

-- Keyset pagination, newest first, optionally filtered by workflow or status.
CREATE INDEX runs_newest_first ON runs (created_at DESC, run_id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow_name, created_at DESC, run_id DESC);
CREATE INDEX runs_by_status ON runs (status, created_at DESC, run_id DESC);
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- seq is assigned by the writer (the interpreter workflow, deterministically), starting
-- at 1, so a retried write carries the same seqs and ON CONFLICT makes it exactly-once.
CREATE TABLE trace_events (
    run_id         text        NOT NULL REFERENCES runs (run_id),
    seq            bigint      NOT NULL CHECK (seq > 0),
    node_id        text,
    type           text        NOT NULL CHECK (type IN (
        'STARTED', 'PROGRESS', 'COMPLETED', 'FAILED',
        'WORKFLOW_STARTED', 'WORKFLOW_COMPLETED', 'WORKFLOW_FAILED', 'WORKFLOW_CANCELLED')),
    level          text        NOT NULL CHECK (level IN ('info', 'warn', 'error', 'debug')),
    ts             timestamptz NOT NULL,
    message        text,
    error          jsonb,      -- {message, stack?, code?}
    output_summary text,
    data           jsonb,      -- at least {iteration, route, attempt} for task events
    PRIMARY KEY (run_id, seq),
    -- Run events have no node; task events always have one.
    CHECK ((type LIKE 'WORKFLOW\_%') = (node_id IS NULL))
);

-- One notification per run per INSERT statement, carrying the highest seq it added:
-- a listener reads the trace page after its own cursor, so the last seq is enough,
-- and a batch of 200 events costs one notification instead of 200.
CREATE FUNCTION segue_notify_trace() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('segue_trace', added.run_id || ':' || added.last_seq)
    FROM (SELECT run_id, max(seq) AS last_seq FROM inserted GROUP BY run_id) AS added;
    RETURN NULL;
END
$$;

CREATE TRIGGER trace_events_notify
    AFTER INSERT ON trace_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION segue_notify_trace();

CREATE TABLE waits (
    run_id          text        NOT NULL REFERENCES runs (run_id),
    execution       integer     NOT NULL,
    task            text        NOT NULL,
    event_name      text        NOT NULL,
    correlation_key text,       -- NULL: any event of that name
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    PRIMARY KEY (run_id, execution)
);

CREATE INDEX waits_open ON waits (event_name, correlation_key) WHERE resolved_at IS NULL;

-- Every correlated event that came in, matched or not: an unmatched event is recorded,
-- never lost.
CREATE TABLE events (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_name      text        NOT NULL,
    correlation_key text,
    payload         jsonb       NOT NULL DEFAULT 'null',
    received_at     timestamptz NOT NULL DEFAULT now(),
    matched_runs    integer     NOT NULL DEFAULT 0 CHECK (matched_runs >= 0)
);

CREATE INDEX events_by_name ON events (event_name, received_at DESC);
