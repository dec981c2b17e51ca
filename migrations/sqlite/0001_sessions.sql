-- Sessions: one WhatsApp number linked to Lifeline, its observed and desired state.
-- Timestamps are written by Lifeline (never by column defaults) so every row has one format.
CREATE TABLE sessions (
    id                TEXT    PRIMARY KEY NOT NULL,
    name              TEXT    NOT NULL,
    connector         TEXT    NOT NULL,
    is_primary        BOOLEAN NOT NULL DEFAULT FALSE,
    phone_number      TEXT,
    auth_state        BLOB,
    is_active         BOOLEAN NOT NULL DEFAULT TRUE,
    auto_connect      BOOLEAN NOT NULL DEFAULT TRUE,
    desired           TEXT    NOT NULL DEFAULT 'running'
                      CHECK (desired IN ('running', 'stopped')),
    status            TEXT    NOT NULL DEFAULT 'qr_pending'
                      CHECK (status IN ('qr_pending', 'connecting', 'connected', 'reconnecting',
                                        'disconnected', 'logged_out')),
    reason            TEXT,
    last_error        TEXT,
    attempt           INTEGER NOT NULL DEFAULT 0,
    next_retry_at     TEXT,
    last_connected_at TEXT,
    last_message_at   TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);

CREATE INDEX sessions_by_created_at ON sessions (created_at);
