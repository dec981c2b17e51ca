-- Finds the key-store rows still in the first layout (clear addresses) without reading
-- the table: every start asks, and after the first conversion there are none.
CREATE INDEX whatsapp_store_clear ON whatsapp_store (session_id) WHERE layout = 1;
