-- Webhooks from a durable outbox. An event is written in the transaction of the change that
-- caused it, with one delivery per endpoint that wants it; deliveries are claimed by one
-- instance at a time (the claim runs out, so a dead instance's claims are retried) and sent
-- in order per endpoint and session. Times are milliseconds of the database's clock, as in
-- the lease tables.

-- Where events go, signed with the endpoint's secret (whsec_…).
CREATE TABLE webhook_endpoints (
    id               TEXT    PRIMARY KEY NOT NULL,
    url              TEXT    NOT NULL,
    secret           TEXT    NOT NULL,
    all_sessions     BOOLEAN NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    paused_reason    TEXT,
    -- Since when every attempt to it failed (NULL: the last one succeeded).
    failing_since_ms BIGINT,
    created_ms       BIGINT  NOT NULL
);

-- Which event types an endpoint receives.
CREATE TABLE webhook_endpoint_events (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- Which sessions, for an endpoint that does not take all of them.
CREATE TABLE webhook_endpoint_sessions (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, session_id)
);

-- The outbox: each event once, with the body every delivery of it sends. Not tied to the
-- sessions table: a deleted session's last events are still delivered.
CREATE TABLE webhook_events (
    id         TEXT   PRIMARY KEY NOT NULL,
    event_type TEXT   NOT NULL,
    session_id TEXT,
    body       TEXT   NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The event's session, here too: deliveries are ordered per endpoint and session.
    session_id      TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_ms         BIGINT  NOT NULL,
    claimed_by      TEXT,
    claimed_until_ms BIGINT,
    last_status     INTEGER,
    last_latency_ms BIGINT,
    last_response   TEXT,
    last_error      TEXT,
    done_ms         BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_ms);
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (endpoint_id, session_id, id);
CREATE INDEX webhook_deliveries_of_event ON webhook_deliveries (event_id);
