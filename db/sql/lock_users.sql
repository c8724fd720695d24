-- Takes the per-user transaction locks that serialise every writer of a user
-- (webhook batches and import chunks alike). $1 is a text[] of user ids.
-- Locks are taken in key order so that two batches sharing users can never
-- deadlock. The key is two int4s: a constant class ("clks") and hashtext(id);
-- a hash collision only serialises two users more than needed.
SELECT pg_advisory_xact_lock(1668049779, k)
FROM (SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST($1 AS text[])) AS id ORDER BY k) AS keys
