-- Several instances on one database: who is serving, and which instance may connect each
-- session. Times are milliseconds since 1970 on the database's clock (never an instance's),
-- so instances whose clocks disagree still agree on when a lease ends.

-- Every Lifeline process serving this database, with its last sign of life.
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY NOT NULL,
    name         TEXT    NOT NULL,
    started_ms   BIGINT  NOT NULL,
    heartbeat_ms BIGINT  NOT NULL,
    capacity     BIGINT  NOT NULL,
    draining     BOOLEAN NOT NULL DEFAULT FALSE
);

-- One lease per session: the instance that may connect it (none once released), until
-- when, and the fencing token of that grant. The token only grows, one step per grant, so
-- a write carrying an older token comes from an instance that lost the session.
-- `moving_to` is an operator's move: only that instance may take the session next.
CREATE TABLE session_leases (
    session_id TEXT   PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    holder     TEXT,
    token      BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    moving_to  TEXT
);

CREATE INDEX session_leases_by_holder ON session_leases (holder);
