-- Waits of with-items items: one `core.wait_event` / `core.approval` wait per item, so a
-- wait is (run, execution, item); `item` is NULL for the wait of a task without items.
-- NULLS NOT DISTINCT (PostgreSQL 15): an execution without items still has one wait.
ALTER TABLE waits
    ADD COLUMN item integer CHECK (item >= 0),
    DROP CONSTRAINT waits_pkey,
    ADD CONSTRAINT waits_key UNIQUE NULLS NOT DISTINCT (run_id, execution, item);
