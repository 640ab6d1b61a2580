-- Schedules (issue 16): Segue's catalog of when runs start by themselves. A row is the
-- desired state of one Temporal Schedule (id `segue.<workflow>.<name>`); the API
-- reconciles Temporal to the rows, idempotently, after every change and at start-up.
-- `origin` says who declares it: the workflow file (`schedules:`, replaced with every
-- registered version) or the API (kept across versions). `removing` is a tombstone: the
-- row goes only once Temporal's schedule is gone, so a crash between the two steps
-- leaves something the next reconcile finishes instead of an orphan schedule.
-- Numbered 0007 here: issue 16 was given 0008 and 0009 but the runner refuses gaps; the
-- lead renumbers at merge.
CREATE TABLE schedules (
    workflow_name text        NOT NULL,
    name          text        NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_-]{0,63}$'),
    origin        text        NOT NULL CHECK (origin IN ('workflow', 'api')),
    declared      jsonb       NOT NULL,
    paused        boolean     NOT NULL DEFAULT false,
    removing      boolean     NOT NULL DEFAULT false,
    problem       text,
    applied       text,       -- fingerprint of what was last applied to Temporal
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_name, name)
);

-- Which schedule started a run (NULL: the API, the CLI, a parent run or a rule).
ALTER TABLE runs ADD COLUMN schedule_id text;
CREATE INDEX runs_by_schedule ON runs (schedule_id, created_at DESC)
    WHERE schedule_id IS NOT NULL;
