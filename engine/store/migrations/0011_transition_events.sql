-- TRANSITION trace events (runs on behaviour 3 and later): one per entry of a finished
-- execution's `next`, saying whether it was taken and why. A task event: it has a node.
-- 0001 left the type CHECK unnamed; PostgreSQL named it trace_events_type_check. The
-- list keeps every type an earlier migration allowed (0010: WORKFLOW_QUEUED).
ALTER TABLE trace_events DROP CONSTRAINT trace_events_type_check;
ALTER TABLE trace_events ADD CONSTRAINT trace_events_type_check CHECK (type IN (
    'STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'TRANSITION',
    'WORKFLOW_STARTED', 'WORKFLOW_COMPLETED', 'WORKFLOW_FAILED', 'WORKFLOW_CANCELLED',
    'WORKFLOW_QUEUED'));
