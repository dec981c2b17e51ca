-- Every transition of every session: the timeline the dashboard shows and the record an
-- operator reads after an incident.
CREATE TABLE session_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    at          TEXT    NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    reason      TEXT,
    detail      TEXT
);

CREATE INDEX session_events_by_session ON session_events (session_id, at);
