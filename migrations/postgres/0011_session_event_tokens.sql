-- Which lease grant each history entry was written under (NULL: written by a tool, or
-- before leases existed). Tokens only grow per session, so in the order entries were
-- written they never go down: a lower one after a higher would be a write by an instance
-- that had already lost the session, which the fence refuses.
ALTER TABLE session_events ADD COLUMN token BIGINT;
