-- Operator actions on a session held by another instance (several share one database):
-- the instance that took the request writes it here and notifies the holder, which carries
-- it out, writes the outcome and notifies back. Rows are removed once answered, and after an
-- hour when nobody came back for them.
CREATE TABLE session_commands (
    id         TEXT   PRIMARY KEY NOT NULL,
    session_id TEXT   NOT NULL,
    holder     TEXT   NOT NULL,
    command    TEXT   NOT NULL,
    outcome    TEXT,
    created_ms BIGINT NOT NULL
);
