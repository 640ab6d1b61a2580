-- Each version's compiled spec in its compact form (engine/language/compact.py), written
-- by registration beside the YAML, read by workers instead of compiling the YAML again
-- (engine/temporal/spec_warmer.py). NULL for versions registered before this column, or
-- when registration could not make one: workers compile those from the YAML, as before.
-- A form carries its compiler's fingerprint; a worker of another release ignores it.
ALTER TABLE workflow_versions
    ADD COLUMN compiled bytea CHECK (octet_length(compiled) <= 32 * 1024 * 1024);
