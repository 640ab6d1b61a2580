-- The API's background reconciler (api/run_sweep.py) reads the runs Temporal may have
-- closed without the store knowing: those not ended, and those that ended a short
-- while ago (a final projection Temporal may still refuse). The second set is found by
-- the time the run ended. Indexed on `completed_at`, which is written once when a run
-- ends (not `updated_at`, which every trace write moves: an index on it would stop
-- those writes from being HOT updates).
CREATE INDEX runs_by_completion ON runs (completed_at) WHERE completed_at IS NOT NULL;
