package db

// An import chunk runs in one transaction, with its users' advisory locks
// (lockUsersSQL) held from the start, so that the mirror cannot change under
// it for those users:
//
//  1. findImportedSQL says which of the chunk's users the mirror knows, and
//     how: from a webhook or backfill (left alone), from an earlier import,
//     or deleted (a tombstone: left deleted);
//  2. the users it does not know, the whole of a first import, are COPYed
//     straight into users, email_addresses and phone_numbers
//     (copyUsersSQL, copyEmailsSQL, copyPhonesSQL): no staging, no
//     conflict handling, because nothing else can insert them while the
//     locks are held;
//  3. the users an earlier import wrote are COPYed into a staging table and
//     merged set-wise by updateImportedSQL, which writes only what changed.

// findImportedSQL returns the source of each user in $1 that the mirror
// holds, and 'deleted' for each that has a tombstone. The scalar subqueries
// are one index probe per id, on purpose: given the ids as an array, the
// planner hashes them and scans the whole users table instead while it
// holds fewer than a few million rows, which made a 1M-row import quadratic.
const findImportedSQL = `
SELECT id, source FROM (
    SELECT x.id, COALESCE(
        (SELECT u.source FROM users AS u WHERE u.id = x.id),
        (SELECT 'deleted' FROM deleted_users AS d WHERE d.id = x.id)) AS source
    FROM unnest(CAST($1 AS text[])) AS x(id)
) AS known
WHERE source IS NOT NULL`

// copyUsersSQL streams new users into the mirror. Clerk's created_at,
// updated_at and the raw snapshot stay NULL: an export has none of them;
// synced_at defaults to now().
const copyUsersSQL = `
COPY users (
    id, username, first_name, last_name,
    primary_email_address_id, primary_email_address,
    primary_phone_number_id, primary_phone_number,
    password_enabled, two_factor_enabled, totp_enabled, source
) FROM STDIN`

// copyEmailsSQL streams the new users' email addresses.
const copyEmailsSQL = `
COPY email_addresses (id, user_id, email_address, verification_status, is_primary) FROM STDIN`

// copyPhonesSQL streams the new users' phone numbers.
const copyPhonesSQL = `
COPY phone_numbers (id, user_id, phone_number, verification_status, is_primary) FROM STDIN`

// createStagingSQL creates the session's staging table for users imported
// before. It is a temporary table (never WAL-logged, private to the
// session) that empties itself at every commit. Contacts travel as parallel
// arrays sorted by id, so that a user is one row; an empty list is NULL.
// Its columns have the collations of the columns they are compared with.
const createStagingSQL = `
CREATE TEMP TABLE IF NOT EXISTS import_users (
    id                        text COLLATE "C" NOT NULL,
    username                  text,
    first_name                text,
    last_name                 text,
    primary_email_address_id  text COLLATE "C",
    primary_email_address     text,
    primary_phone_number_id   text COLLATE "C",
    primary_phone_number      text COLLATE "C",
    password_enabled          boolean NOT NULL,
    totp_enabled              boolean NOT NULL,
    email_ids                 text[] COLLATE "C",
    email_addresses           text[],
    email_statuses            text[],  -- '' where the export gives no status
    phone_ids                 text[] COLLATE "C",
    phone_numbers             text[] COLLATE "C",
    phone_statuses            text[]
) ON COMMIT DELETE ROWS`

// copyStagingSQL streams users imported before into the staging table.
const copyStagingSQL = `
COPY pg_temp.import_users (
    id, username, first_name, last_name,
    primary_email_address_id, primary_email_address, primary_phone_number_id, primary_phone_number,
    password_enabled, totp_enabled,
    email_ids, email_addresses, email_statuses, phone_ids, phone_numbers, phone_statuses
) FROM STDIN`

// updateImportedSQL merges the staged users, all of them written by an
// earlier import, into the mirror. A user is updated only when it differs,
// in its columns or its set of contacts, so that importing a file again
// writes nothing, synced_at included. The contacts of each updated user are
// replaced as a whole, as a webhook snapshot does: rows missing from the
// export are deleted, the others upserted. The source = 'import' guard is
// the mirror's promise restated: an import never overwrites anything else.
//
// Users are found by index, one probe each: the LATERAL ... OFFSET 0 and the
// "= ANY (ARRAY(...))" keep the planner from joining by a scan of a whole
// table, which it prefers while a table looks small next to a chunk.
// Contacts are compared as arrays sorted by id in byte order (COLLATE "C"),
// the order in which the loader stages them. It returns how many users it
// updated.
const updateImportedSQL = `
WITH changed AS (
    SELECT s.* FROM pg_temp.import_users AS s
    CROSS JOIN LATERAL (SELECT u.* FROM users AS u WHERE u.id = s.id OFFSET 0) AS u
    WHERE u.source = 'import' AND NOT (
        (u.username, u.first_name, u.last_name, u.primary_email_address_id,
         u.primary_email_address, u.primary_phone_number_id, u.primary_phone_number,
         u.password_enabled, u.two_factor_enabled, u.totp_enabled)
        IS NOT DISTINCT FROM
        (s.username, s.first_name, s.last_name, s.primary_email_address_id,
         s.primary_email_address, s.primary_phone_number_id, s.primary_phone_number,
         s.password_enabled, s.totp_enabled, s.totp_enabled)
        AND (SELECT ROW(array_agg(e.id ORDER BY e.id COLLATE "C"),
                        array_agg(e.email_address ORDER BY e.id COLLATE "C"),
                        array_agg(COALESCE(e.verification_status, '') ORDER BY e.id COLLATE "C"))
             FROM email_addresses AS e WHERE e.user_id = s.id)
            IS NOT DISTINCT FROM ROW(s.email_ids, s.email_addresses, s.email_statuses)
        AND (SELECT ROW(array_agg(p.id ORDER BY p.id COLLATE "C"),
                        array_agg(p.phone_number ORDER BY p.id COLLATE "C"),
                        array_agg(COALESCE(p.verification_status, '') ORDER BY p.id COLLATE "C"))
             FROM phone_numbers AS p WHERE p.user_id = s.id)
            IS NOT DISTINCT FROM ROW(s.phone_ids, s.phone_numbers, s.phone_statuses))
),
updated AS (
    UPDATE users AS u SET
        username = c.username, first_name = c.first_name, last_name = c.last_name,
        primary_email_address_id = c.primary_email_address_id,
        primary_email_address = c.primary_email_address,
        primary_phone_number_id = c.primary_phone_number_id,
        primary_phone_number = c.primary_phone_number,
        password_enabled = c.password_enabled, two_factor_enabled = c.totp_enabled,
        totp_enabled = c.totp_enabled, synced_at = now()
    FROM changed AS c
    WHERE u.id = ANY (ARRAY(SELECT id FROM changed)) AND u.id = c.id AND u.source = 'import'
    RETURNING u.id
),
new_emails AS (
    SELECT c.id AS user_id, e.id, e.address, NULLIF(e.status, '') AS status,
        e.id = c.primary_email_address_id AS is_primary
    FROM changed AS c JOIN updated USING (id),
        unnest(c.email_ids, c.email_addresses, c.email_statuses) AS e(id, address, status)
),
drop_emails AS (
    DELETE FROM email_addresses AS t
    WHERE t.user_id = ANY (ARRAY(SELECT id FROM updated))
      AND NOT EXISTS (SELECT 1 FROM new_emails AS n WHERE n.id = t.id)
),
put_emails AS (
    INSERT INTO email_addresses AS t (id, user_id, email_address, verification_status, is_primary)
    SELECT id, user_id, address, status, is_primary FROM new_emails
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, email_address = excluded.email_address,
        verification_status = excluded.verification_status, is_primary = excluded.is_primary
),
new_phones AS (
    SELECT c.id AS user_id, p.id, p.number, NULLIF(p.status, '') AS status,
        p.id = c.primary_phone_number_id AS is_primary
    FROM changed AS c JOIN updated USING (id),
        unnest(c.phone_ids, c.phone_numbers, c.phone_statuses) AS p(id, number, status)
),
drop_phones AS (
    DELETE FROM phone_numbers AS t
    WHERE t.user_id = ANY (ARRAY(SELECT id FROM updated))
      AND NOT EXISTS (SELECT 1 FROM new_phones AS n WHERE n.id = t.id)
),
put_phones AS (
    INSERT INTO phone_numbers AS t (id, user_id, phone_number, verification_status, is_primary)
    SELECT id, user_id, number, status, is_primary FROM new_phones
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, phone_number = excluded.phone_number,
        verification_status = excluded.verification_status, is_primary = excluded.is_primary
)
SELECT count(*) FROM updated`
