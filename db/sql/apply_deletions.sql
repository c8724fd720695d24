-- Removes a batch of users, with their locks held. $1 is a JSON array of
-- deleted_users rows ({"id", "external_id", "deleted_at"}). The contact rows
-- go with the users (ON DELETE CASCADE); the tombstone keeps only the id, the
-- external_id (from the event, or else from the row being removed) and the
-- earliest deletion time seen, so that repeats change nothing.
WITH input AS (
    SELECT * FROM jsonb_populate_recordset(NULL::deleted_users, $1)
),
gone AS (
    DELETE FROM users AS u USING input WHERE u.id = input.id RETURNING u.id, u.external_id
)
INSERT INTO deleted_users AS d (id, external_id, deleted_at)
SELECT input.id, COALESCE(input.external_id, gone.external_id), input.deleted_at
FROM input LEFT JOIN gone USING (id)
ORDER BY input.id
ON CONFLICT (id) DO UPDATE SET
    deleted_at = LEAST(d.deleted_at, excluded.deleted_at),
    external_id = COALESCE(d.external_id, excluded.external_id)
