-- clerksync_apply writes a batch of events to the mirror: one call, one
-- transaction, one round trip. migrate installs this file as it is (CREATE
-- OR REPLACE, after the numbered migrations); the store calls
--   SELECT * FROM clerksync_apply($1, $2, $3, $4, $5, $6, $7)
-- outside any transaction of its own, so that the call's transaction is the
-- event's. It:
--   1. takes the per-user locks that serialise every writer of a user
--      (webhook batches, backfill pages and import chunks alike; the same
--      lock as lock_users.sql);
--   2. writes the user snapshots, at most one per user;
--   3. removes the deleted users, leaving tombstones;
-- and returns the ids of the users step 2 wrote. Each step is its own
-- statement and so, in READ COMMITTED, sees everything committed before the
-- locks were granted.
--
-- Arguments, each a JSON array of rows whose keys are the columns of the
-- table named (the store encodes clerksync.User and its contacts; a key left
-- out is NULL):
--   user_ids   text[]: every user of the batch, written or deleted
--   snapshots  users rows
--   emails, phones, wallets, accounts: email_addresses, phone_numbers,
--              web3_wallets and external_accounts rows of those users
--   deletions  deleted_users rows ({"id", "external_id", "deleted_at"})
--
-- Its arguments (names and types) are what running workers of older
-- versions call. CREATE OR REPLACE cannot rename them, and other types or
-- another number of them would make a second function beside this one
-- (and the call ambiguous): such a change needs a numbered migration that
-- drops the old function. The comment at the end numbers the definition:
-- migrate never replaces a higher number with a lower one, so that an older
-- release restarting during a rolling deploy (run migrates) leaves the
-- newer write path in place. Raise it with every change to this file.
--
-- The statements need READ COMMITTED, so that each sees what was committed
-- before the locks were granted; under REPEATABLE READ the snapshot would
-- be the call's, taken before them, and a user deleted meanwhile could come
-- back. clerksync's connections ask for it (db.Open); anything else is
-- refused. Its tables are the caller's search_path's: clerksync's
-- connections have the mirror's schema alone on it (db.Open checks each);
-- set it so in psql. (SET search_path FROM CURRENT would fix it to
-- migrate's, at about 4% more of Postgres's CPU a call: 693 against 666 us.)
--
-- Why a function. A PL/pgSQL function keeps each statement's plan for the
-- session, as a prepared statement would, and saves the four round trips
-- of BEGIN, lock, write and COMMIT (make bench: the single-event rate is
-- 1.2 to 1.3x that of the same statements sent one by one). Its SET list
-- fixes the plans' shape whatever the statistics: the batch (a few rows, at
-- most a few hundred) drives nested loops into the tables' indexes, one
-- probe per row, never a scan of a table or a whole index. Left to costs,
-- the planner guesses 100 rows for each jsonb_populate_recordset and,
-- once the tables have statistics, hashes the batch against whole scans of
-- the contact tables; plans made on a small mirror and kept by a session
-- read whole indexes once it is large (TestPlansIgnoreStaleStatistics:
-- 600,000 rows read for one event).
--
-- To install it by hand, in psql: SET search_path TO clerk; \i db/sql/apply.sql
-- To try it (with that search_path):
--   BEGIN;
--   SELECT * FROM clerksync_apply('{user_1}', '[{"id": "user_1", "source": "webhook", ...}]',
--                                 '[]', '[]', '[]', '[]', '[]');
--   ROLLBACK;
CREATE OR REPLACE FUNCTION clerksync_apply(
    user_ids text[], snapshots jsonb, emails jsonb, phones jsonb, wallets jsonb,
    accounts jsonb, deletions jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_material = off
AS $apply$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'clerksync_apply needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = '25000';
    END IF;

    -- Locks are taken in key order so that two batches sharing users can
    -- never deadlock. The key is two int4s: a constant class ("clks") and
    -- hashtext(id); a hash collision only serialises two users more than
    -- needed.
    PERFORM pg_advisory_xact_lock(1668049779, k)
    FROM (SELECT DISTINCT hashtext(id) AS k FROM unnest(user_ids) AS id ORDER BY k) AS keys;

    IF jsonb_array_length(snapshots) > 0 THEN
        -- The snapshots: in one statement it
        --   - skips users with a tombstone (a late create or update after a
        --     delete);
        --   - upserts the user unless the stored snapshot orders after it
        --     (the guard below) or the stored row came from an import (an
        --     older export of unknown age);
        --   - for each user written, replaces every contact table as a
        --     whole: rows missing from the snapshot are deleted, changed ones
        --     deleted and inserted again, and unchanged ones left alone (no
        --     new tuple, row lock, index entries or FK check).
        -- jsonb_populate_recordset reads each array into its table's own row
        -- type, and rows are compared whole, so that only the SET list below
        -- names columns.
        RETURN QUERY
        WITH input AS (
            -- synced_at is the one column a snapshot does not carry: the base row
            -- supplies it for every element.
            SELECT * FROM jsonb_populate_recordset(
                jsonb_populate_record(NULL::users, jsonb_build_object('synced_at', now())), snapshots)
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
        -- Each step meets a table through an index, once per row of the batch
        -- (nested loops from written and new_* into user_id and the primary key:
        -- the function's SET). new_* filters by a hashed subplan of written
        -- (IS TRUE keeps it from becoming a join, which the SET would make a
        -- nested loop of the batch against itself). What is compared with what is hashed
        -- (EXCEPT): an ANY (ARRAY(...)) filter or a nested-loop anti-join
        -- compared every stored row with every row of the batch, which at 80
        -- users a batch was half of the statement's time (make bench).
        new_emails AS (
            SELECT n.* FROM jsonb_populate_recordset(NULL::email_addresses, emails) AS n
            WHERE (n.user_id IN (SELECT id FROM written)) IS TRUE
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
            SELECT n.* FROM jsonb_populate_recordset(NULL::phone_numbers, phones) AS n
            WHERE (n.user_id IN (SELECT id FROM written)) IS TRUE
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
            SELECT n.* FROM jsonb_populate_recordset(NULL::web3_wallets, wallets) AS n
            WHERE (n.user_id IN (SELECT id FROM written)) IS TRUE
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
            SELECT n.* FROM jsonb_populate_recordset(NULL::external_accounts, accounts) AS n
            WHERE (n.user_id IN (SELECT id FROM written)) IS TRUE
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
        SELECT id FROM written;
    END IF;

    IF jsonb_array_length(deletions) > 0 THEN
        -- The deletions. The contact rows go with the users (ON DELETE
        -- CASCADE); the tombstone keeps only the id, the external_id (from
        -- the event, or else from the row being removed) and the earliest
        -- deletion time seen, so that repeats change nothing. The main
        -- query reads users as they were before gone removed them (the
        -- statement's one snapshot), through the primary key.
        WITH input AS (
            SELECT * FROM jsonb_populate_recordset(NULL::deleted_users, deletions)
        ),
        gone AS (
            DELETE FROM users AS u USING input WHERE u.id = input.id
        )
        INSERT INTO deleted_users AS d (id, external_id, deleted_at)
        SELECT input.id, COALESCE(input.external_id, u.external_id), input.deleted_at
        FROM input LEFT JOIN users AS u ON u.id = input.id
        ORDER BY input.id
        ON CONFLICT (id) DO UPDATE SET
            deleted_at = LEAST(d.deleted_at, excluded.deleted_at),
            external_id = COALESCE(d.external_id, excluded.external_id);
    END IF;
END
$apply$;
COMMENT ON FUNCTION clerksync_apply(text[], jsonb, jsonb, jsonb, jsonb, jsonb, jsonb) IS 'clerksync write path 1';
