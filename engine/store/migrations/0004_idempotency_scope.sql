-- Idempotency keys are scoped per operation: a start and a rerun never meet, even with
-- the same key. Each run also keeps a hash of the request that first used its key, so
-- the same key with another request is refused (422) instead of answered with the first
-- run. Runs recorded before this migration have no hash: any request matches them, as
-- it did then.
ALTER TABLE runs
    ADD COLUMN idempotency_scope text NOT NULL DEFAULT 'start'
        CHECK (idempotency_scope IN ('start', 'rerun')),
    ADD COLUMN request_hash text;
UPDATE runs SET idempotency_scope = 'rerun' WHERE rerun_of IS NOT NULL;
ALTER TABLE runs DROP CONSTRAINT runs_idempotency_key;
ALTER TABLE runs ADD CONSTRAINT runs_idempotency_key
    UNIQUE (workflow_name, idempotency_scope, idempotency_key);
