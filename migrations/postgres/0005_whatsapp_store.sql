-- The WhatsApp connector's key store: the Signal identity, sessions, prekeys, app-state keys
-- and the rest whatsapp-rust keeps per linked device, one row per record. Rows belong to
-- their session (deleting it deletes them), so another instance that takes a session over
-- finds its keys with it. `value` is always sealed with LIFELINE_SECRET_KEY and bound to
-- its row's address; `space`, `scope` and `item` address the record, `num` and `flag`
-- carry what the store orders or filters by (ids, expiry times, "uploaded", "has key").
CREATE TABLE whatsapp_store (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    space      TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    item       TEXT    NOT NULL,
    value      BYTEA   NOT NULL,
    num        BIGINT  NOT NULL DEFAULT 0,
    flag       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (session_id, space, scope, item)
);

CREATE INDEX whatsapp_store_by_num ON whatsapp_store (session_id, space, num);
