-- What each API key may do: read, operate or admin. Keys made before scopes existed could
-- act on sessions, and that is what they keep; managing keys now needs a login or a key
-- created with the admin scope.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'operate';
