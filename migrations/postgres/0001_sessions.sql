-- Sessions: one WhatsApp number linked to Lifeline, its observed and desired state.
-- Timestamps are written by Lifeline (never by column defaults) so both dialects agree.
CREATE TABLE sessions (
    id                TEXT        PRIMARY KEY NOT NULL,
    name              TEXT        NOT NULL,
    connector         TEXT        NOT NULL,
    is_primary        BOOLEAN     NOT NULL DEFAULT FALSE,
    phone_number      TEXT,
    auth_state        BYTEA,
    is_active         BOOLEAN     NOT NULL DEFAULT TRUE,
    auto_connect      BOOLEAN     NOT NULL DEFAULT TRUE,
    desired           TEXT        NOT NULL DEFAULT 'running'
                      CHECK (desired IN ('running', 'stopped')),
    status            TEXT        NOT NULL DEFAULT 'qr_pending'
                      CHECK (status IN ('qr_pending', 'connecting', 'connected', 'reconnecting',
                                        'disconnected', 'logged_out')),
    reason            TEXT,
    last_error        TEXT,
    attempt           BIGINT      NOT NULL DEFAULT 0,
    next_retry_at     TIMESTAMPTZ,
    last_connected_at TIMESTAMPTZ,
    last_message_at   TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX sessions_by_created_at ON sessions (created_at);
