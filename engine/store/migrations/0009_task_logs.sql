-- Task logs, live progress and artifacts (issue 14): written by the worker straight from
-- an action's attempt, never through Temporal history (signals and history are capped).

-- One row per run numbers its log lines: a writer takes `last_seq` under the row lock
-- for its whole batch, so within a run log lines commit in `run_seq` order and a
-- reader's cursor (`run_seq > N`) never skips a line committed late.
CREATE TABLE task_log_heads (
    run_id   text   PRIMARY KEY REFERENCES runs (run_id),
    last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

-- No foreign key to runs here: `task_log_heads` checks the run once per batch, where a
-- key here would check it once per line (runs are never deleted).
CREATE TABLE task_logs (
    run_id    text        NOT NULL,
    run_seq   bigint      NOT NULL CHECK (run_seq > 0),
    task      text        NOT NULL,
    execution integer     NOT NULL CHECK (execution >= 0),
    item      integer     CHECK (item >= 0),          -- the with-items index, if any
    attempt   integer     NOT NULL CHECK (attempt >= 1),
    -- Temporal's delivery of that attempt: a worker that died is replaced by another
    -- delivery of the same attempt, whose lines start again at seq 1.
    delivery  integer     NOT NULL DEFAULT 1 CHECK (delivery >= 1),
    seq       integer     NOT NULL CHECK (seq >= 1),  -- the line within the delivery
    ts        timestamptz NOT NULL,
    level     text        NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message   text        NOT NULL,
    data      jsonb,
    PRIMARY KEY (run_id, run_seq)
);

-- A retried batch inserts nothing twice.
CREATE UNIQUE INDEX task_logs_line
    ON task_logs (run_id, execution, (COALESCE(item, -1)), attempt, delivery, seq);
CREATE INDEX task_logs_by_task ON task_logs (run_id, task, run_seq);

-- No trigger notifies of new lines (the trace's does): a batch is one run's, so
-- `append_logs` calls pg_notify('segue_logs', 'run_id:last run_seq') itself, once per
-- batch, in the batch's transaction; a statement trigger with a transition table cost
-- about as much again as the insert.

-- The latest progress of each running execution (or item); removed when its attempt ends.
CREATE TABLE task_progress (
    run_id     text             NOT NULL REFERENCES runs (run_id),
    task       text             NOT NULL,
    execution  integer          NOT NULL CHECK (execution >= 0),
    item       integer          CHECK (item >= 0),
    attempt    integer          NOT NULL CHECK (attempt >= 1),
    done       double precision NOT NULL CHECK (done >= 0),
    total      double precision CHECK (total >= 0),
    message    text,
    updated_at timestamptz      NOT NULL
);

CREATE UNIQUE INDEX task_progress_key ON task_progress (run_id, execution, (COALESCE(item, -1)));

-- Files a task produced, kept in the database (the embedded default; 10 MiB each, a
-- limit the action API checks first and this CHECK holds).
CREATE TABLE artifacts (
    artifact_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text        NOT NULL REFERENCES runs (run_id),
    task        text        NOT NULL,
    execution   integer     NOT NULL CHECK (execution >= 0),
    item        integer     CHECK (item >= 0),
    attempt     integer     NOT NULL CHECK (attempt >= 1),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    media_type  text        NOT NULL CHECK (length(media_type) BETWEEN 3 AND 200),
    size_bytes  integer     NOT NULL CHECK (size_bytes BETWEEN 0 AND 10485760),
    sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(content) = size_bytes)
);

-- One artifact per name and execution (or item): a later attempt's file replaces it.
CREATE UNIQUE INDEX artifacts_by_name
    ON artifacts (run_id, execution, (COALESCE(item, -1)), name);
CREATE INDEX artifacts_by_run ON artifacts (run_id, task, artifact_id);
