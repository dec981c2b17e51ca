-- The recovery log: every attempt to bring back a session that should be live, by the
-- watchdog or a person. Automatic rows inside the last hour are the session's spent
-- recovery budget, so a restart does not hand out a fresh one.
CREATE TABLE recoveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    at         TEXT    NOT NULL,
    cause      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    automatic  BOOLEAN NOT NULL,
    outcome    TEXT    NOT NULL,
    error      TEXT
);

CREATE INDEX recoveries_by_session ON recoveries (session_id, at);
