package db

// An import chunk runs in one transaction, with its users' advisory locks
// (lockUsersSQL) held from the start, so that the mirror cannot change under
// it for those users:
//
//  1. findImportedSQL says which of the chunk's users the mirror knows, and
//     how: from a webhook or backfill (left alone), from an earlier import
//     (with a fingerprint of what that import stored), or deleted (a
//     tombstone: left deleted);
//  2. users from an earlier import whose fingerprint equals the one of the
//     chunk's row are unchanged: nothing is written for them, so importing a
//     file again costs one index probe per row and table, not a merge;
//  3. the users it does not know, the whole of a first import, are COPYed
//     straight into users, email_addresses and phone_numbers
//     (copyUsersSQL, copyEmailsSQL, copyPhonesSQL): no staging, no
//     conflict handling, because nothing else can insert them while the
//     locks are held;
//  4. the users an earlier import wrote that differ are COPYed into a
//     staging table, their users rows updated from it
//     (updateChangedUsersSQL), and their contacts replaced as a whole:
//     deleted (deleteChangedEmailsSQL, deleteChangedPhonesSQL) and COPYed
//     again like a new user's.

// findImportedSQL returns, for each user in $1 that the mirror holds, its
// source ("webhook", "backfill", "import"), or "deleted" for a tombstone;
// for a user from an import, the fingerprint of what the mirror holds for
// it (see fingerprint.go, which computes the same bytes from a CSV row).
//
// Every lookup is one index probe per id, on purpose: the LATERAL ...
// OFFSET 0 and the scalar subqueries cannot be turned into joins, which the
// planner otherwise prefers (hashing the ids and scanning a whole table)
// while it has no statistics for a table that grew from empty during the
// import, and which made a 1M-row import quadratic. The outer OFFSET 0
// keeps the filter from being pushed down, which would run each probe twice.
//
// The fingerprint serialises each value as its length in bytes, ":" and
// the value, or "N" for NULL; booleans as t or f; each contact list, sorted
// by id in byte order, as one such value (N when empty). The lengths make
// the serialisation unambiguous whatever the values hold.
const findImportedSQL = `
SELECT id, source, fingerprint FROM (
SELECT x.id, COALESCE(u.source, (SELECT 'deleted' FROM deleted_users AS d WHERE d.id = x.id)) AS source,
    CASE WHEN u.source = 'import' THEN sha256(convert_to(concat(
        'v1',
        COALESCE(octet_length(u.username) || ':' || u.username, 'N'),
        COALESCE(octet_length(u.first_name) || ':' || u.first_name, 'N'),
        COALESCE(octet_length(u.last_name) || ':' || u.last_name, 'N'),
        COALESCE(octet_length(u.primary_email_address_id) || ':' || u.primary_email_address_id, 'N'),
        COALESCE(octet_length(u.primary_email_address) || ':' || u.primary_email_address, 'N'),
        COALESCE(octet_length(u.primary_phone_number_id) || ':' || u.primary_phone_number_id, 'N'),
        COALESCE(octet_length(u.primary_phone_number) || ':' || u.primary_phone_number, 'N'),
        CASE WHEN u.password_enabled THEN 't' ELSE 'f' END,
        CASE WHEN u.two_factor_enabled THEN 't' ELSE 'f' END,
        CASE WHEN u.totp_enabled THEN 't' ELSE 'f' END,
        (SELECT COALESCE(octet_length(l) || ':' || l, 'N') FROM (
            SELECT string_agg(concat(
                octet_length(e.id), ':', e.id,
                octet_length(e.email_address), ':', e.email_address,
                COALESCE(octet_length(e.verification_status) || ':' || e.verification_status, 'N'),
                CASE WHEN e.is_primary THEN 't' ELSE 'f' END), '' ORDER BY e.id) AS l
            FROM email_addresses AS e WHERE e.user_id = x.id) AS emails),
        (SELECT COALESCE(octet_length(l) || ':' || l, 'N') FROM (
            SELECT string_agg(concat(
                octet_length(p.id), ':', p.id,
                octet_length(p.phone_number), ':', p.phone_number,
                COALESCE(octet_length(p.verification_status) || ':' || p.verification_status, 'N'),
                CASE WHEN p.is_primary THEN 't' ELSE 'f' END), '' ORDER BY p.id) AS l
            FROM phone_numbers AS p WHERE p.user_id = x.id) AS phones)
    ), 'UTF8')) END AS fingerprint
FROM unnest(CAST($1 AS text[])) AS x(id)
LEFT JOIN LATERAL (SELECT u.* FROM users AS u WHERE u.id = x.id OFFSET 0) AS u ON true
OFFSET 0) AS known
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

// copyEmailsSQL streams the email addresses of new and changed users.
const copyEmailsSQL = `
COPY email_addresses (id, user_id, email_address, verification_status, is_primary) FROM STDIN`

// copyPhonesSQL streams the phone numbers of new and changed users.
const copyPhonesSQL = `
COPY phone_numbers (id, user_id, phone_number, verification_status, is_primary) FROM STDIN`

// createStagingSQL creates the session's staging table for changed users:
// a temporary table (never WAL-logged, private to the session) that
// empties itself at every commit. Its columns have the collations of the
// columns they are written to.
const createStagingSQL = `
CREATE TEMP TABLE IF NOT EXISTS import_changed (
    id                        text COLLATE "C" NOT NULL,
    username                  text,
    first_name                text,
    last_name                 text,
    primary_email_address_id  text COLLATE "C",
    primary_email_address     text,
    primary_phone_number_id   text COLLATE "C",
    primary_phone_number      text COLLATE "C",
    password_enabled          boolean NOT NULL,
    totp_enabled              boolean NOT NULL
) ON COMMIT DELETE ROWS`

// copyStagingSQL streams changed users into the staging table.
const copyStagingSQL = `
COPY pg_temp.import_changed (
    id, username, first_name, last_name,
    primary_email_address_id, primary_email_address, primary_phone_number_id, primary_phone_number,
    password_enabled, totp_enabled
) FROM STDIN`

// updateChangedUsersSQL writes the staged users over the rows an earlier
// import wrote; $1 holds their ids, so that the users are found by index
// (see findImportedSQL). The source = 'import' guard is the mirror's promise
// restated: an import never overwrites anything else. It returns the ids of
// the users it updated, whose contacts alone are then replaced.
const updateChangedUsersSQL = `
UPDATE users AS u SET
    username = c.username, first_name = c.first_name, last_name = c.last_name,
    primary_email_address_id = c.primary_email_address_id,
    primary_email_address = c.primary_email_address,
    primary_phone_number_id = c.primary_phone_number_id,
    primary_phone_number = c.primary_phone_number,
    password_enabled = c.password_enabled, two_factor_enabled = c.totp_enabled,
    totp_enabled = c.totp_enabled, synced_at = now()
FROM pg_temp.import_changed AS c
WHERE u.id = ANY (CAST($1 AS text[])) AND u.id = c.id AND u.source = 'import'
RETURNING u.id`

// deleteChangedEmailsSQL and deleteChangedPhonesSQL remove the contacts of
// the changed users in $1, which are then COPYed again: a changed user's
// contacts are replaced as a whole, as a webhook snapshot replaces them.
const (
	deleteChangedEmailsSQL = `DELETE FROM email_addresses WHERE user_id = ANY (CAST($1 AS text[]))`
	deleteChangedPhonesSQL = `DELETE FROM phone_numbers WHERE user_id = ANY (CAST($1 AS text[]))`
)
