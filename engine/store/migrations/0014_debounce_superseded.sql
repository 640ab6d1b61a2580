-- debounce (issue 16): the waiters a run's acquire superseded, kept with its own waiting
-- row, so that an acquire asked again after a lost reply gives them again and the run
-- can still tell them to end (they were removed from the line in the first attempt,
-- and nothing else knows they wait).
ALTER TABLE limit_leases
    ADD COLUMN superseded text[] NOT NULL DEFAULT '{}';
