-- Concurrency limits across runs (issue 16; written as 0009, renumbered 0010 when main's
-- 0009_task_logs landed first): who holds a slot of a named limit's key and
-- who waits for one. A row lives exactly as long as its run holds or waits: the run
-- deletes it when it ends (engine/temporal/limits.py) and the reaper when Temporal says
-- the run is closed (engine/temporal/limit_reaper.py), so no slot outlives its run.
CREATE TABLE limit_leases (
    limit_name  text        NOT NULL CHECK (limit_name ~ '^[A-Za-z_][A-Za-z0-9_-]{0,63}$'),
    limit_key   text        NOT NULL CHECK (length(limit_key) BETWEEN 1 AND 256),
    run_id      text        NOT NULL CHECK (length(run_id) BETWEEN 1 AND 256),
    holding     boolean     NOT NULL,
    capacity    integer     NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    priority    integer     NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    -- FIFO within a priority: the order waiters arrived in.
    queued_seq  bigserial   NOT NULL,
    -- A waiter promoted by a release whose wake-up signal nobody has confirmed yet: the
    -- reaper sends it again (a duplicate is harmless, a lost one would strand the run).
    unwoken     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    granted_at  timestamptz,
    PRIMARY KEY (limit_name, limit_key, run_id)
);
CREATE INDEX limit_leases_by_run ON limit_leases (run_id);
CREATE INDEX limit_leases_waiting ON limit_leases (limit_name, limit_key, priority DESC, queued_seq)
    WHERE NOT holding;

-- A queued run says so in its trace: WORKFLOW_QUEUED carries the limit and position.
ALTER TABLE trace_events DROP CONSTRAINT trace_events_type_check;
ALTER TABLE trace_events ADD CONSTRAINT trace_events_type_check CHECK (type IN (
    'STARTED', 'PROGRESS', 'COMPLETED', 'FAILED',
    'WORKFLOW_STARTED', 'WORKFLOW_COMPLETED', 'WORKFLOW_FAILED', 'WORKFLOW_CANCELLED',
    'WORKFLOW_QUEUED'));
