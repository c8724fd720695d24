-- The mirror of Clerk's users. Apps query these tables directly: the names,
-- types and meanings of the columns are a public API (CONTRACT.md).
--
-- Ids (Clerk's and yours, opaque), phone numbers (E.164) and wallet addresses
-- (hex) are COLLATE "C": equality is
-- the same as under any collation, but btree comparisons become byte
-- comparisons instead of locale ones, which made bulk imports markedly faster.
-- Email addresses keep the database's collation, so that lower() folds
-- non-ASCII letters too.

-- +goose Up

-- users holds live users only; deleted ones move to deleted_users.
CREATE TABLE users (
    id                        text COLLATE "C" PRIMARY KEY,  -- Clerk's user_... id
    external_id               text COLLATE "C",
    username                  text,
    first_name                text,
    last_name                 text,
    image_url                 text,
    has_image                 boolean NOT NULL DEFAULT false,
    locale                    text,
    primary_email_address_id  text COLLATE "C",
    -- Copies of the primary contact, so that the common lookup needs no join.
    primary_email_address     text,
    primary_phone_number_id   text COLLATE "C",
    primary_phone_number      text COLLATE "C",
    primary_web3_wallet_id    text COLLATE "C",
    password_enabled          boolean NOT NULL DEFAULT false,
    two_factor_enabled        boolean NOT NULL DEFAULT false,
    totp_enabled              boolean NOT NULL DEFAULT false,
    backup_code_enabled       boolean NOT NULL DEFAULT false,
    banned                    boolean NOT NULL DEFAULT false,
    locked                    boolean NOT NULL DEFAULT false,
    public_metadata           jsonb NOT NULL DEFAULT '{}',
    private_metadata          jsonb NOT NULL DEFAULT '{}',
    unsafe_metadata           jsonb NOT NULL DEFAULT '{}',
    last_sign_in_at           timestamptz,
    last_active_at            timestamptz,
    -- Clerk's own times. updated_at orders snapshots: an older one never
    -- overwrites a newer one. Both are null for rows known only from an import.
    created_at                timestamptz,
    updated_at                timestamptz,
    -- Where the row came from: an import never overwrites webhook or backfill rows.
    source                    text NOT NULL CHECK (source IN ('webhook', 'import', 'backfill')),
    synced_at                 timestamptz NOT NULL DEFAULT now(),  -- when the mirror last wrote the row
    raw                       jsonb                                -- the last snapshot as received
);

-- raw is rewritten with every snapshot (several KB, so TOASTed): lz4 compresses
-- it several times faster than the default pglz. Servers built without lz4
-- keep pglz.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE users ALTER COLUMN raw SET COMPRESSION lz4;
    END IF;
END
$$;
-- +goose StatementEnd

-- Apps look users up by the id of their own system.
CREATE INDEX users_external_id_idx ON users (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE email_addresses (
    id                     text COLLATE "C" PRIMARY KEY,
    user_id                text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_address          text NOT NULL,
    verification_status    text,
    verification_strategy  text,
    is_primary             boolean NOT NULL DEFAULT false,
    reserved               boolean NOT NULL DEFAULT false,
    linked_to              jsonb NOT NULL DEFAULT '[]',
    created_at             timestamptz,
    updated_at             timestamptz
);
-- Contacts are replaced per user and cascade from users: both need user_id.
CREATE INDEX email_addresses_user_id_idx ON email_addresses (user_id);
-- Emails are case-insensitive: "who owns this address?" asks lower().
CREATE INDEX email_addresses_lower_email_idx ON email_addresses (lower(email_address));

CREATE TABLE phone_numbers (
    id                          text COLLATE "C" PRIMARY KEY,
    user_id                     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number                text COLLATE "C" NOT NULL,
    verification_status         text,
    verification_strategy       text,
    is_primary                  boolean NOT NULL DEFAULT false,
    reserved_for_second_factor  boolean NOT NULL DEFAULT false,
    default_second_factor       boolean NOT NULL DEFAULT false,
    created_at                  timestamptz,
    updated_at                  timestamptz
);
CREATE INDEX phone_numbers_user_id_idx ON phone_numbers (user_id);
-- Numbers are E.164 as Clerk stores them, so equality is the lookup.
CREATE INDEX phone_numbers_phone_number_idx ON phone_numbers (phone_number);

CREATE TABLE web3_wallets (
    id                     text COLLATE "C" PRIMARY KEY,
    user_id                text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    web3_wallet            text COLLATE "C" NOT NULL,
    verification_status    text,
    verification_strategy  text,
    is_primary             boolean NOT NULL DEFAULT false,
    created_at             timestamptz,
    updated_at             timestamptz
);
CREATE INDEX web3_wallets_user_id_idx ON web3_wallets (user_id);
-- Wallet addresses are hex and compared case-insensitively.
CREATE INDEX web3_wallets_lower_wallet_idx ON web3_wallets (lower(web3_wallet));

CREATE TABLE external_accounts (
    id                   text COLLATE "C" PRIMARY KEY,  -- the eac_ id where Clerk sends one
    user_id              text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider             text COLLATE "C" NOT NULL,  -- e.g. oauth_google
    provider_user_id     text COLLATE "C",  -- null when Clerk sent it empty (a failed link)
    identification_id    text,
    email_address        text,
    username             text,
    first_name           text,
    last_name            text,
    image_url            text,
    approved_scopes      text,
    label                text,
    public_metadata      jsonb NOT NULL DEFAULT '{}',
    verification_status  text,
    created_at           timestamptz,
    updated_at           timestamptz
);
CREATE INDEX external_accounts_user_id_idx ON external_accounts (user_id);
-- "Which user is this Google account?" is the provider's own id.
CREATE INDEX external_accounts_provider_idx ON external_accounts (provider, provider_user_id);

-- Tombstones: a deleted user's id stays here so that no late user.created or
-- user.updated brings the user back. Nothing personal is kept.
CREATE TABLE deleted_users (
    id           text COLLATE "C" PRIMARY KEY,
    external_id  text COLLATE "C",
    deleted_at   timestamptz NOT NULL  -- the user.deleted envelope time
);
CREATE INDEX deleted_users_external_id_idx ON deleted_users (external_id) WHERE external_id IS NOT NULL;

-- +goose Down
DROP TABLE deleted_users;
DROP TABLE external_accounts;
DROP TABLE web3_wallets;
DROP TABLE phone_numbers;
DROP TABLE email_addresses;
DROP TABLE users;
