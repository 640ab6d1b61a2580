-- Signed webhooks and event rules (issue 16): two more ways a run starts.
-- Numbered 0008 here (issue 16 holds 0008 and 0009; the runner refuses gaps, so the
-- lead renumbers at merge).

-- A webhook starts runs of one workflow from signed HTTP deliveries. The secret is kept
-- as given: verifying an HMAC needs the key itself (docs/security.md says how to rotate).
CREATE TABLE webhooks (
    id                text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    workflow_name     text        NOT NULL,
    name              text        NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_-]{0,63}$'),
    secret            text        NOT NULL CHECK (length(secret) BETWEEN 32 AND 256),
    input_mapping     text,       -- JSONata over the payload; NULL: the payload is the input
    tolerance_seconds integer     NOT NULL CHECK (tolerance_seconds BETWEEN 10 AND 3600),
    max_body_bytes    integer     NOT NULL CHECK (max_body_bytes BETWEEN 1 AND 1048576),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_name, name)
);

-- Deliveries seen within their webhook's tolerance window: the replay guard. A
-- signature covers the timestamp, so a delivery older than the window is refused by its
-- timestamp and its row is no longer needed (rows past `expires_at` are pruned).
CREATE TABLE webhook_deliveries (
    webhook_id  text        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    signature   text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    run_id      text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, signature)
);
CREATE INDEX webhook_deliveries_expiry ON webhook_deliveries (expires_at);

-- Rules on POST /events: an event of `event_name` for which `criteria` holds starts a
-- run of `workflow_name` with the input `input_mapping` gives.
CREATE TABLE event_rules (
    name          text        PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_-]{0,63}$'),
    event_name    text        NOT NULL,
    workflow_name text        NOT NULL,
    criteria      text,       -- JSONata over the event; NULL: every event of the name
    input_mapping text,       -- JSONata over the event; NULL: the payload is the input
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_rules_by_event ON event_rules (event_name);
