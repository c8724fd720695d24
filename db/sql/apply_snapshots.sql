-- Writes a batch of user snapshots, at most one per user, with the users'
-- locks held (lock_users.sql). In one statement it:
--   - skips users with a tombstone (a late create or update after a delete);
--   - upserts the user unless the stored snapshot orders after it (the guard
--     below) or the stored row came from an import (an older export of
--     unknown age);
--   - for each user written, replaces every contact table as a whole: rows
--     missing from the snapshot are deleted, changed ones deleted and
--     inserted again, and unchanged ones left alone (no new tuple, row lock,
--     index entries or FK check).
-- It returns the ids of the users it wrote.
--
-- $1 to $5 are JSON arrays of users, email_addresses, phone_numbers,
-- web3_wallets and external_accounts rows whose keys are the columns (the
-- store encodes clerksync.User and its contacts). jsonb_populate_recordset
-- reads them into each table's own row type, and rows are compared whole,
-- so that only the SET list below names columns. A key left out is NULL.
--
-- To run it by hand in psql:
--   PREPARE apply_snapshots AS <this file>;
--   BEGIN; EXECUTE apply_snapshots('[{"id": "user_1", "source": "webhook", ...}]', '[]', '[]', '[]', '[]'); ROLLBACK;
WITH input AS (
    -- synced_at is the one column a snapshot does not carry: the base row
    -- supplies it for every element.
    SELECT * FROM jsonb_populate_recordset(
        jsonb_populate_record(NULL::users, jsonb_build_object('synced_at', now())), $1)
),
written AS (
    INSERT INTO users AS u
    SELECT * FROM input
    WHERE NOT EXISTS (SELECT 1 FROM deleted_users AS d WHERE d.id = input.id)
    ORDER BY id
    -- Every column but id (TestUpsertSetsEveryColumn holds this list to the table).
    ON CONFLICT (id) DO UPDATE SET
        external_id = excluded.external_id,
        username = excluded.username,
        first_name = excluded.first_name,
        last_name = excluded.last_name,
        image_url = excluded.image_url,
        has_image = excluded.has_image,
        locale = excluded.locale,
        primary_email_address_id = excluded.primary_email_address_id,
        primary_email_address = excluded.primary_email_address,
        primary_phone_number_id = excluded.primary_phone_number_id,
        primary_phone_number = excluded.primary_phone_number,
        primary_web3_wallet_id = excluded.primary_web3_wallet_id,
        password_enabled = excluded.password_enabled,
        two_factor_enabled = excluded.two_factor_enabled,
        totp_enabled = excluded.totp_enabled,
        backup_code_enabled = excluded.backup_code_enabled,
        banned = excluded.banned,
        locked = excluded.locked,
        public_metadata = excluded.public_metadata,
        private_metadata = excluded.private_metadata,
        unsafe_metadata = excluded.unsafe_metadata,
        last_sign_in_at = excluded.last_sign_in_at,
        last_active_at = excluded.last_active_at,
        created_at = excluded.created_at,
        updated_at = excluded.updated_at,
        source = excluded.source,
        synced_at = excluded.synced_at,
        raw = excluded.raw,
        event_timestamp = excluded.event_timestamp,
        delivery_id = excluded.delivery_id
    -- The ordering guard. Snapshots are ordered by Clerk's updated_at, then
    -- the envelope timestamp, then the delivery id (byte-wise); a backfill's
    -- snapshot has neither of the last two and so loses every tie. An equal
    -- snapshot is written again, harmlessly.
    WHERE u.source = 'import' OR u.updated_at IS NULL
       OR (u.updated_at, coalesce(u.event_timestamp, '-infinity'), coalesce(u.delivery_id, '') COLLATE "C")
          <= (excluded.updated_at, coalesce(excluded.event_timestamp, '-infinity'), coalesce(excluded.delivery_id, '') COLLATE "C")
    RETURNING u.id
),
-- The same three steps for each contact table:
--   new_*:   the snapshot's rows of the users written;
--   drop_*:  the stored rows that the snapshot does not hold exactly as they
--            are: those of the users written, less the snapshot's rows
--            (EXCEPT compares rows whole, NULLs alike), so removed or changed
--            ones; and those with an id of the snapshot's held by another
--            user (a contact that moved; Clerk does not do this, but the
--            mirror follows the snapshot);
--   put_*:   the snapshot's rows; an unchanged one conflicts with itself and
--            is skipped. Its WHERE reads the delete, so that the insert
--            comes after it (the order of data-modifying CTEs is otherwise
--            unspecified).
-- Each step meets a table through an index, once per row of the batch: the
-- planner takes written and new_* for a row or two (its guess for what
-- comes of a jsonb_populate_recordset joined to a RETURNING), so it drives
-- the joins from them into user_id and the primary key. What is compared
-- with what is hashed (EXCEPT): an ANY (ARRAY(...)) filter or a nested-loop
-- anti-join compared every stored row with every row of the batch, which at
-- 80 users a batch was half of the statement's time (make bench). On tiny
-- tables the planner prefers sequential scans, a plan kept as the tables
-- grow: the store prepares this statement again as the mirror grows (see
-- replanFrom in apply.go).
new_emails AS (
    SELECT n.* FROM jsonb_populate_recordset(NULL::email_addresses, $2) AS n
    WHERE n.user_id IN (SELECT id FROM written)
),
drop_emails AS (
    DELETE FROM email_addresses AS t
    USING ((SELECT s.* FROM email_addresses AS s JOIN written AS w ON s.user_id = w.id
            EXCEPT SELECT * FROM new_emails)
           UNION ALL
           SELECT s.* FROM email_addresses AS s JOIN new_emails AS n ON s.id = n.id AND s.user_id <> n.user_id) AS gone
    WHERE t.id = gone.id
    RETURNING t.id
),
put_emails AS (
    INSERT INTO email_addresses
    SELECT * FROM new_emails
    WHERE (SELECT count(*) FROM drop_emails) >= 0
    ON CONFLICT (id) DO NOTHING
),
new_phones AS (
    SELECT n.* FROM jsonb_populate_recordset(NULL::phone_numbers, $3) AS n
    WHERE n.user_id IN (SELECT id FROM written)
),
drop_phones AS (
    DELETE FROM phone_numbers AS t
    USING ((SELECT s.* FROM phone_numbers AS s JOIN written AS w ON s.user_id = w.id
            EXCEPT SELECT * FROM new_phones)
           UNION ALL
           SELECT s.* FROM phone_numbers AS s JOIN new_phones AS n ON s.id = n.id AND s.user_id <> n.user_id) AS gone
    WHERE t.id = gone.id
    RETURNING t.id
),
put_phones AS (
    INSERT INTO phone_numbers
    SELECT * FROM new_phones
    WHERE (SELECT count(*) FROM drop_phones) >= 0
    ON CONFLICT (id) DO NOTHING
),
new_wallets AS (
    SELECT n.* FROM jsonb_populate_recordset(NULL::web3_wallets, $4) AS n
    WHERE n.user_id IN (SELECT id FROM written)
),
drop_wallets AS (
    DELETE FROM web3_wallets AS t
    USING ((SELECT s.* FROM web3_wallets AS s JOIN written AS w ON s.user_id = w.id
            EXCEPT SELECT * FROM new_wallets)
           UNION ALL
           SELECT s.* FROM web3_wallets AS s JOIN new_wallets AS n ON s.id = n.id AND s.user_id <> n.user_id) AS gone
    WHERE t.id = gone.id
    RETURNING t.id
),
put_wallets AS (
    INSERT INTO web3_wallets
    SELECT * FROM new_wallets
    WHERE (SELECT count(*) FROM drop_wallets) >= 0
    ON CONFLICT (id) DO NOTHING
),
new_accounts AS (
    SELECT n.* FROM jsonb_populate_recordset(NULL::external_accounts, $5) AS n
    WHERE n.user_id IN (SELECT id FROM written)
),
drop_accounts AS (
    DELETE FROM external_accounts AS t
    USING ((SELECT s.* FROM external_accounts AS s JOIN written AS w ON s.user_id = w.id
            EXCEPT SELECT * FROM new_accounts)
           UNION ALL
           SELECT s.* FROM external_accounts AS s JOIN new_accounts AS n ON s.id = n.id AND s.user_id <> n.user_id) AS gone
    WHERE t.id = gone.id
    RETURNING t.id
),
put_accounts AS (
    INSERT INTO external_accounts
    SELECT * FROM new_accounts
    WHERE (SELECT count(*) FROM drop_accounts) >= 0
    ON CONFLICT (id) DO NOTHING
)
SELECT id FROM written
