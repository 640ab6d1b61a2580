-- Claim checks (issue 14): Temporal payloads over the claim-check threshold are kept here
-- and Temporal's history holds a small reference (engine/temporal/claim_check.py).
-- Content-addressed: the key is the SHA-256 of the stored bytes, so the same payload
-- encoded again (a workflow task retried or replayed, an activity completion resent) is
-- stored once. The bytes are what the encryption codec produced when codec keys are set,
-- so a blob at rest is ciphertext. No run key: a blob may be referenced by several runs
-- (a child's result in its parent's history too), and runs are never deleted; see
-- docs/operations.md "Claim-check blobs" for retention.
CREATE TABLE claim_checks (
    sha256     text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- The largest stored payload: the result cap's ceiling (64 MiB) plus its envelope.
    size_bytes integer     NOT NULL CHECK (size_bytes BETWEEN 0 AND 67109888),
    content    bytea       NOT NULL CHECK (octet_length(content) = size_bytes),
    -- When a process last wrote it: a second write of the same blob sets it again, so a
    -- cleanup by age (docs/operations.md) never removes a blob just referenced anew.
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claim_checks_stored_at ON claim_checks (stored_at);
