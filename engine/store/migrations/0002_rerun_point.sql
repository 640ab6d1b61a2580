-- Rerun from the failed tasks: a failed run keeps where it stopped (the coordinator's
-- RerunPoint, written with its final projection); a run started from that point says so.
ALTER TABLE runs
    ADD COLUMN rerun_point jsonb,
    ADD COLUMN rerun_from_failed boolean NOT NULL DEFAULT false;
