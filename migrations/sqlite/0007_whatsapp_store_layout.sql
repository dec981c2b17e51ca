-- How a key-store row keeps its address. Layout 1, every row written before this
-- migration, holds scope and item in clear: JIDs, phone numbers, message ids, whom the
-- number talks to. Layout 2 holds keyed hashes of them, with the clear ones inside the
-- sealed value. Lifeline converts layout-1 rows when it starts with the secret key.
ALTER TABLE whatsapp_store ADD COLUMN layout SMALLINT NOT NULL DEFAULT 1;
