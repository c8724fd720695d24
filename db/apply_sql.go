package db

// lockUsersSQL takes the per-user transaction locks that serialise every
// writer of a user (webhook batches and import chunks alike). Locks are taken
// in key order so that two batches sharing users can never deadlock. The key
// is two int4s: a constant class ("clks") and hashtext(id); a hash collision
// only serialises two users more than needed.
const lockUsersSQL = `
SELECT pg_advisory_xact_lock(1668049779, k)
FROM (SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST($1 AS text[])) AS id ORDER BY k) AS keys`

// applySnapshotsSQL writes a batch of user snapshots, at most one per user,
// with the users' locks already held. In one statement it:
//   - skips users with a tombstone (a late create or update after a delete);
//   - upserts the user unless the stored snapshot is newer (Clerk's
//     updated_at; an equal one is written again, harmlessly) or the stored
//     row came from an import (an older export of unknown age);
//   - for each user written, replaces every contact table as a whole: rows
//     missing from the snapshot are deleted, the others upserted.
//
// It returns the ids of the users it wrote.
const applySnapshotsSQL = `
WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS x(
        id text, external_id text, username text, first_name text, last_name text,
        image_url text, has_image boolean, locale text,
        primary_email_address_id text, primary_email_address text,
        primary_phone_number_id text, primary_phone_number text, primary_web3_wallet_id text,
        password_enabled boolean, two_factor_enabled boolean, totp_enabled boolean,
        backup_code_enabled boolean, banned boolean, locked boolean,
        public_metadata jsonb, private_metadata jsonb, unsafe_metadata jsonb,
        last_sign_in_at timestamptz, last_active_at timestamptz,
        created_at timestamptz, updated_at timestamptz, source text, raw jsonb,
        email_addresses jsonb, phone_numbers jsonb, web3_wallets jsonb, external_accounts jsonb)
),
written AS (
    INSERT INTO users AS u (
        id, external_id, username, first_name, last_name, image_url, has_image, locale,
        primary_email_address_id, primary_email_address, primary_phone_number_id,
        primary_phone_number, primary_web3_wallet_id, password_enabled, two_factor_enabled,
        totp_enabled, backup_code_enabled, banned, locked, public_metadata, private_metadata,
        unsafe_metadata, last_sign_in_at, last_active_at, created_at, updated_at,
        source, synced_at, raw)
    SELECT
        id, external_id, username, first_name, last_name, image_url, has_image, locale,
        primary_email_address_id, primary_email_address, primary_phone_number_id,
        primary_phone_number, primary_web3_wallet_id, password_enabled, two_factor_enabled,
        totp_enabled, backup_code_enabled, banned, locked, public_metadata, private_metadata,
        unsafe_metadata, last_sign_in_at, last_active_at, created_at, updated_at,
        source, now(), raw
    FROM input
    WHERE NOT EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = input.id)
    ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        external_id = excluded.external_id, username = excluded.username,
        first_name = excluded.first_name, last_name = excluded.last_name,
        image_url = excluded.image_url, has_image = excluded.has_image, locale = excluded.locale,
        primary_email_address_id = excluded.primary_email_address_id,
        primary_email_address = excluded.primary_email_address,
        primary_phone_number_id = excluded.primary_phone_number_id,
        primary_phone_number = excluded.primary_phone_number,
        primary_web3_wallet_id = excluded.primary_web3_wallet_id,
        password_enabled = excluded.password_enabled,
        two_factor_enabled = excluded.two_factor_enabled, totp_enabled = excluded.totp_enabled,
        backup_code_enabled = excluded.backup_code_enabled, banned = excluded.banned,
        locked = excluded.locked, public_metadata = excluded.public_metadata,
        private_metadata = excluded.private_metadata, unsafe_metadata = excluded.unsafe_metadata,
        last_sign_in_at = excluded.last_sign_in_at, last_active_at = excluded.last_active_at,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        source = excluded.source, synced_at = excluded.synced_at, raw = excluded.raw
    WHERE u.source = 'import' OR u.updated_at IS NULL OR u.updated_at <= excluded.updated_at
    RETURNING u.id
),
applied AS (
    SELECT input.* FROM input JOIN written USING (id)
),
new_emails AS (
    SELECT a.id AS user_id, e.*
    FROM applied AS a, jsonb_to_recordset(a.email_addresses) AS e(
        id text, email_address text, verification_status text, verification_strategy text,
        is_primary boolean, reserved boolean, linked_to jsonb,
        created_at timestamptz, updated_at timestamptz)
),
drop_emails AS (
    DELETE FROM email_addresses AS t USING written AS w
    WHERE t.user_id = w.id AND NOT EXISTS (SELECT 1 FROM new_emails AS n WHERE n.id = t.id)
),
put_emails AS (
    INSERT INTO email_addresses AS t (
        id, user_id, email_address, verification_status, verification_strategy,
        is_primary, reserved, linked_to, created_at, updated_at)
    SELECT id, user_id, email_address, verification_status, verification_strategy,
        is_primary, reserved, linked_to, created_at, updated_at
    FROM new_emails
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, email_address = excluded.email_address,
        verification_status = excluded.verification_status,
        verification_strategy = excluded.verification_strategy,
        is_primary = excluded.is_primary, reserved = excluded.reserved,
        linked_to = excluded.linked_to, created_at = excluded.created_at,
        updated_at = excluded.updated_at
    -- An unchanged row is left alone: no new tuple, index entries or FK check.
    WHERE (t.user_id, t.email_address, t.verification_status, t.verification_strategy,
           t.is_primary, t.reserved, t.linked_to, t.created_at, t.updated_at)
        IS DISTINCT FROM (excluded.user_id, excluded.email_address, excluded.verification_status,
           excluded.verification_strategy, excluded.is_primary, excluded.reserved,
           excluded.linked_to, excluded.created_at, excluded.updated_at)
),
new_phones AS (
    SELECT a.id AS user_id, p.*
    FROM applied AS a, jsonb_to_recordset(a.phone_numbers) AS p(
        id text, phone_number text, verification_status text, verification_strategy text,
        is_primary boolean, reserved_for_second_factor boolean, default_second_factor boolean,
        created_at timestamptz, updated_at timestamptz)
),
drop_phones AS (
    DELETE FROM phone_numbers AS t USING written AS w
    WHERE t.user_id = w.id AND NOT EXISTS (SELECT 1 FROM new_phones AS n WHERE n.id = t.id)
),
put_phones AS (
    INSERT INTO phone_numbers AS t (
        id, user_id, phone_number, verification_status, verification_strategy, is_primary,
        reserved_for_second_factor, default_second_factor, created_at, updated_at)
    SELECT id, user_id, phone_number, verification_status, verification_strategy, is_primary,
        reserved_for_second_factor, default_second_factor, created_at, updated_at
    FROM new_phones
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, phone_number = excluded.phone_number,
        verification_status = excluded.verification_status,
        verification_strategy = excluded.verification_strategy,
        is_primary = excluded.is_primary,
        reserved_for_second_factor = excluded.reserved_for_second_factor,
        default_second_factor = excluded.default_second_factor,
        created_at = excluded.created_at, updated_at = excluded.updated_at
    WHERE (t.user_id, t.phone_number, t.verification_status, t.verification_strategy,
           t.is_primary, t.reserved_for_second_factor, t.default_second_factor,
           t.created_at, t.updated_at)
        IS DISTINCT FROM (excluded.user_id, excluded.phone_number, excluded.verification_status,
           excluded.verification_strategy, excluded.is_primary,
           excluded.reserved_for_second_factor, excluded.default_second_factor,
           excluded.created_at, excluded.updated_at)
),
new_wallets AS (
    SELECT a.id AS user_id, x.*
    FROM applied AS a, jsonb_to_recordset(a.web3_wallets) AS x(
        id text, web3_wallet text, verification_status text, verification_strategy text,
        is_primary boolean, created_at timestamptz, updated_at timestamptz)
),
drop_wallets AS (
    DELETE FROM web3_wallets AS t USING written AS w
    WHERE t.user_id = w.id AND NOT EXISTS (SELECT 1 FROM new_wallets AS n WHERE n.id = t.id)
),
put_wallets AS (
    INSERT INTO web3_wallets AS t (
        id, user_id, web3_wallet, verification_status, verification_strategy, is_primary,
        created_at, updated_at)
    SELECT id, user_id, web3_wallet, verification_status, verification_strategy, is_primary,
        created_at, updated_at
    FROM new_wallets
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, web3_wallet = excluded.web3_wallet,
        verification_status = excluded.verification_status,
        verification_strategy = excluded.verification_strategy,
        is_primary = excluded.is_primary, created_at = excluded.created_at,
        updated_at = excluded.updated_at
    WHERE (t.user_id, t.web3_wallet, t.verification_status, t.verification_strategy,
           t.is_primary, t.created_at, t.updated_at)
        IS DISTINCT FROM (excluded.user_id, excluded.web3_wallet, excluded.verification_status,
           excluded.verification_strategy, excluded.is_primary, excluded.created_at,
           excluded.updated_at)
),
new_accounts AS (
    SELECT a.id AS user_id, x.*
    FROM applied AS a, jsonb_to_recordset(a.external_accounts) AS x(
        id text, provider text, provider_user_id text, identification_id text,
        email_address text, username text, first_name text, last_name text, image_url text,
        approved_scopes text, label text, public_metadata jsonb, verification_status text,
        created_at timestamptz, updated_at timestamptz)
),
drop_accounts AS (
    DELETE FROM external_accounts AS t USING written AS w
    WHERE t.user_id = w.id AND NOT EXISTS (SELECT 1 FROM new_accounts AS n WHERE n.id = t.id)
),
put_accounts AS (
    INSERT INTO external_accounts AS t (
        id, user_id, provider, provider_user_id, identification_id, email_address, username,
        first_name, last_name, image_url, approved_scopes, label, public_metadata,
        verification_status, created_at, updated_at)
    SELECT id, user_id, provider, provider_user_id, identification_id, email_address, username,
        first_name, last_name, image_url, approved_scopes, label, public_metadata,
        verification_status, created_at, updated_at
    FROM new_accounts
    ON CONFLICT (id) DO UPDATE SET
        user_id = excluded.user_id, provider = excluded.provider,
        provider_user_id = excluded.provider_user_id,
        identification_id = excluded.identification_id, email_address = excluded.email_address,
        username = excluded.username, first_name = excluded.first_name,
        last_name = excluded.last_name, image_url = excluded.image_url,
        approved_scopes = excluded.approved_scopes, label = excluded.label,
        public_metadata = excluded.public_metadata,
        verification_status = excluded.verification_status,
        created_at = excluded.created_at, updated_at = excluded.updated_at
    WHERE (t.user_id, t.provider, t.provider_user_id, t.identification_id, t.email_address,
           t.username, t.first_name, t.last_name, t.image_url, t.approved_scopes, t.label,
           t.public_metadata, t.verification_status, t.created_at, t.updated_at)
        IS DISTINCT FROM (excluded.user_id, excluded.provider, excluded.provider_user_id,
           excluded.identification_id, excluded.email_address, excluded.username,
           excluded.first_name, excluded.last_name, excluded.image_url, excluded.approved_scopes,
           excluded.label, excluded.public_metadata, excluded.verification_status,
           excluded.created_at, excluded.updated_at)
)
SELECT id FROM written`

// applyDeletionsSQL removes a batch of users, with their locks held. The
// contact rows go with them (ON DELETE CASCADE); the tombstone keeps only the
// id, the external_id (from the event, or else from the row being removed)
// and the earliest deletion time seen, so that repeats change nothing.
const applyDeletionsSQL = `
WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS x(id text, external_id text, deleted_at timestamptz)
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
    external_id = COALESCE(d.external_id, excluded.external_id)`
