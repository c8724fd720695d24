package db

// createStagingSQL creates the session's staging table for import chunks.
// It is a temporary table (never WAL-logged, private to the session) that
// empties itself at every commit, so each chunk starts clean. Contacts travel
// as parallel arrays, sorted by id, so that a chunk is one COPY of one row
// per user; an empty list is NULL. The primary key lets the conflict check
// below find a user's staged row by index.
const createStagingSQL = `
CREATE TEMP TABLE IF NOT EXISTS import_users (
    id                        text PRIMARY KEY,
    username                  text,
    first_name                text,
    last_name                 text,
    primary_email_address_id  text,
    primary_email_address     text,
    primary_phone_number_id   text,
    primary_phone_number      text,
    password_enabled          boolean NOT NULL,
    totp_enabled              boolean NOT NULL,
    email_ids                 text[],
    email_addresses           text[],
    email_statuses            text[],  -- '' where the export gives no status
    phone_ids                 text[],
    phone_numbers             text[],
    phone_statuses            text[]
) ON COMMIT DELETE ROWS`

// copyStagingSQL streams a chunk into the staging table.
const copyStagingSQL = `
COPY pg_temp.import_users (
    id, username, first_name, last_name,
    primary_email_address_id, primary_email_address, primary_phone_number_id, primary_phone_number,
    password_enabled, totp_enabled,
    email_ids, email_addresses, email_statuses, phone_ids, phone_numbers, phone_statuses
) FROM STDIN`

// mergeImportSQL merges the staged chunk into the mirror, with the users'
// advisory locks (lockUsersSQL) already held. In one statement it:
//   - skips users with a tombstone: the export predates their deletion;
//   - inserts users the mirror does not hold, with source 'import' and no
//     Clerk updated_at or raw snapshot;
//   - updates a user only when the stored row came from an import too and
//     differs (user columns or the set of contacts): a webhook or backfill
//     row is newer than any export and is never touched, and importing the
//     same file again writes nothing, synced_at included;
//   - for each user written, replaces its email and phone rows as a whole,
//     as a webhook snapshot does: rows missing from the export are deleted,
//     the others upserted.
//
// (xmax = 0) tells an inserted row from an updated one: an updated row's new
// version carries the lock that ON CONFLICT took. The DELETEs match users by
// "= ANY (ARRAY(...))" so that the planner always probes the user_id index
// rather than weighing a scan of the whole contact table.
//
// It returns the counts of a clerksync.LoadResult, from which 'mirrored' is
// what remains.
const mergeImportSQL = `
WITH written AS (
    INSERT INTO users AS u (
        id, username, first_name, last_name,
        primary_email_address_id, primary_email_address,
        primary_phone_number_id, primary_phone_number,
        password_enabled, two_factor_enabled, totp_enabled, source, synced_at)
    SELECT id, username, first_name, last_name,
        primary_email_address_id, primary_email_address,
        primary_phone_number_id, primary_phone_number,
        password_enabled, totp_enabled, totp_enabled, 'import', now()
    FROM pg_temp.import_users AS s
    WHERE NOT EXISTS (SELECT 1 FROM deleted_users AS d WHERE d.id = s.id)
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        username = excluded.username, first_name = excluded.first_name,
        last_name = excluded.last_name,
        primary_email_address_id = excluded.primary_email_address_id,
        primary_email_address = excluded.primary_email_address,
        primary_phone_number_id = excluded.primary_phone_number_id,
        primary_phone_number = excluded.primary_phone_number,
        password_enabled = excluded.password_enabled,
        two_factor_enabled = excluded.two_factor_enabled,
        totp_enabled = excluded.totp_enabled, synced_at = excluded.synced_at
    WHERE u.source = 'import' AND (
        (u.username, u.first_name, u.last_name, u.primary_email_address_id,
         u.primary_email_address, u.primary_phone_number_id, u.primary_phone_number,
         u.password_enabled, u.two_factor_enabled, u.totp_enabled)
        IS DISTINCT FROM
        (excluded.username, excluded.first_name, excluded.last_name,
         excluded.primary_email_address_id, excluded.primary_email_address,
         excluded.primary_phone_number_id, excluded.primary_phone_number,
         excluded.password_enabled, excluded.two_factor_enabled, excluded.totp_enabled)
        OR EXISTS (
            SELECT 1 FROM pg_temp.import_users AS s
            WHERE s.id = excluded.id AND (
                (SELECT ROW(array_agg(e.id ORDER BY e.id COLLATE "C"),
                            array_agg(e.email_address ORDER BY e.id COLLATE "C"),
                            array_agg(COALESCE(e.verification_status, '') ORDER BY e.id COLLATE "C"))
                 FROM email_addresses AS e WHERE e.user_id = s.id)
                IS DISTINCT FROM ROW(s.email_ids, s.email_addresses, s.email_statuses)
                OR
                (SELECT ROW(array_agg(p.id ORDER BY p.id COLLATE "C"),
                            array_agg(p.phone_number ORDER BY p.id COLLATE "C"),
                            array_agg(COALESCE(p.verification_status, '') ORDER BY p.id COLLATE "C"))
                 FROM phone_numbers AS p WHERE p.user_id = s.id)
                IS DISTINCT FROM ROW(s.phone_ids, s.phone_numbers, s.phone_statuses))))
    RETURNING u.id, (u.xmax = 0) AS inserted
),
staged AS (
    SELECT s.* FROM pg_temp.import_users AS s JOIN written AS w ON w.id = s.id
),
new_emails AS (
    SELECT s.id AS user_id, e.id, e.email_address, NULLIF(e.status, '') AS verification_status,
        e.id = s.primary_email_address_id AS is_primary
    FROM staged AS s,
        unnest(s.email_ids, s.email_addresses, s.email_statuses) AS e(id, email_address, status)
),
drop_emails AS (
    DELETE FROM email_addresses AS t
    WHERE t.user_id = ANY (ARRAY(SELECT id FROM written WHERE NOT inserted))
      AND NOT EXISTS (SELECT 1 FROM new_emails AS n WHERE n.id = t.id)
),
put_emails AS (
    INSERT INTO email_addresses AS t (id, user_id, email_address, verification_status, is_primary)
    SELECT id, user_id, email_address, verification_status, is_primary FROM new_emails
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, email_address = excluded.email_address,
        verification_status = excluded.verification_status, is_primary = excluded.is_primary
),
new_phones AS (
    SELECT s.id AS user_id, p.id, p.phone_number, NULLIF(p.status, '') AS verification_status,
        p.id = s.primary_phone_number_id AS is_primary
    FROM staged AS s,
        unnest(s.phone_ids, s.phone_numbers, s.phone_statuses) AS p(id, phone_number, status)
),
drop_phones AS (
    DELETE FROM phone_numbers AS t
    WHERE t.user_id = ANY (ARRAY(SELECT id FROM written WHERE NOT inserted))
      AND NOT EXISTS (SELECT 1 FROM new_phones AS n WHERE n.id = t.id)
),
put_phones AS (
    INSERT INTO phone_numbers AS t (id, user_id, phone_number, verification_status, is_primary)
    SELECT id, user_id, phone_number, verification_status, is_primary FROM new_phones
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, phone_number = excluded.phone_number,
        verification_status = excluded.verification_status, is_primary = excluded.is_primary
),
skipped AS (
    SELECT s.id FROM pg_temp.import_users AS s
    WHERE NOT EXISTS (SELECT 1 FROM written AS w WHERE w.id = s.id)
)
-- The scalar subqueries below probe by primary key, row by row: they run
-- only for the users not written, usually none.
SELECT
    (SELECT count(*) FROM written WHERE inserted) AS inserted,
    (SELECT count(*) FROM written WHERE NOT inserted) AS updated,
    (SELECT count(*) FROM skipped AS k
     WHERE (SELECT u.source FROM users AS u WHERE u.id = k.id) = 'import') AS unchanged,
    (SELECT count(*) FROM skipped AS k
     WHERE (SELECT true FROM deleted_users AS d WHERE d.id = k.id)) AS deleted,
    (SELECT count(*) FROM pg_temp.import_users) AS staged`
