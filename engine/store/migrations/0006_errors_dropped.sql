-- Error entries a run counted but did not keep (the coordinator keeps 100 in full; a loop
-- that fails and handles the failure on every lap counts the rest): shown in the status.
ALTER TABLE runs ADD COLUMN errors_dropped integer NOT NULL DEFAULT 0 CHECK (errors_dropped >= 0);
