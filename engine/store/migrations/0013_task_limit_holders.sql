-- Concurrency limits on a task (issue 16): one run may hold or wait for several slots of
-- one key at once, one per attempt of a limited task. `holder` says which: '' is the run
-- itself (its workflow-level limits), otherwise the attempt ("task/execution/item/
-- attempt"). A row still lives exactly as long as its run: the run's release at its end
-- and the reaper delete every row of the run, whoever holds it within.
ALTER TABLE limit_leases
    ADD COLUMN holder text NOT NULL DEFAULT '' CHECK (length(holder) <= 200);
ALTER TABLE limit_leases DROP CONSTRAINT limit_leases_pkey;
ALTER TABLE limit_leases ADD PRIMARY KEY (limit_name, limit_key, run_id, holder);
