package db

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3/database"
)

// version1Tables is what migration 00001 creates: the shape by which an
// install made before versionTable existed is recognised. It describes
// version 1 as released and never changes with later migrations.
var version1Tables = map[string][]string{
	"users": {"id", "external_id", "username", "first_name", "last_name", "image_url", "has_image", "locale",
		"primary_email_address_id", "primary_email_address", "primary_phone_number_id", "primary_phone_number",
		"primary_web3_wallet_id", "password_enabled", "two_factor_enabled", "totp_enabled", "backup_code_enabled",
		"banned", "locked", "public_metadata", "private_metadata", "unsafe_metadata", "last_sign_in_at",
		"last_active_at", "created_at", "updated_at", "source", "synced_at", "raw"},
	"email_addresses": {"id", "user_id", "email_address", "verification_status", "verification_strategy",
		"is_primary", "reserved", "linked_to", "created_at", "updated_at"},
	"phone_numbers": {"id", "user_id", "phone_number", "verification_status", "verification_strategy",
		"is_primary", "reserved_for_second_factor", "default_second_factor", "created_at", "updated_at"},
	"web3_wallets": {"id", "user_id", "web3_wallet", "verification_status", "verification_strategy",
		"is_primary", "created_at", "updated_at"},
	"external_accounts": {"id", "user_id", "provider", "provider_user_id", "identification_id", "email_address",
		"username", "first_name", "last_name", "image_url", "approved_scopes", "label", "public_metadata",
		"verification_status", "created_at", "updated_at"},
	"deleted_users": {"id", "external_id", "deleted_at"},
}

// legacyVersionTable is goose's default record, where clerksync kept its
// version before versionTable: in the mirror's schema, so public for
// installs that never set DATABASE_SCHEMA.
const legacyVersionTable = "goose_db_version"

// needsAdoption reports whether schema holds the mirror's tables from
// before versionTable existed, to be recorded as version 1 so that the
// migrations do not try to create them again. Both must hold: every table
// of version 1 is there with at least its columns (an application's own
// users table is not), and the old record agrees. That record is
// goose_db_version in the schema, which must record version 1 as applied;
// a schema without one is adopted on the tables alone, because that is
// where the README's recipe for moving an install leaves it (the old record
// stays behind in public, which the mirror does not read). An
// application's goose_db_version is never taken for clerksync's unless the
// mirror's tables are there too, and it is only read, never written.
//
// A fresh DefaultSchema beside an earlier install in public is refused
// instead: after the default moved from public, starting an empty mirror
// there would leave the application reading tables nothing updates any
// more. Only public's catalog is read for that, never its tables.
//
// It reads the catalog only, so it may run before the schema exists.
func needsAdoption(ctx context.Context, conn *sqlx.Conn, schema string) (bool, error) {
	recorded, err := hasRecord(ctx, conn, schema)
	if err != nil || recorded {
		return false, err
	}
	mirror, err := hasVersion1Tables(ctx, conn, schema)
	if err != nil {
		return false, err
	}
	if !mirror {
		if schema != DefaultSchema {
			return false, nil // chosen, not defaulted: a mirror of its own
		}
		old, err := hasVersion1Tables(ctx, conn, "public")
		if err != nil || !old {
			return false, err
		}
		return false, fmt.Errorf("schema %s holds no mirror yet, but schema public holds one from an earlier clerksync: set DATABASE_SCHEMA=public to keep it there, or move its tables to %s (README: Upgrading an install in public)", schema, schema)
	}
	// When the record disagrees, the migrations run and name the table in
	// the way.
	return legacyRecordAgrees(ctx, conn, schema)
}

// hasRecord reports whether versionTable exists in schema and records a
// version applied.
func hasRecord(ctx context.Context, conn *sqlx.Conn, schema string) (bool, error) {
	exists, err := tableExists(ctx, conn, schema, versionTable)
	if err != nil || !exists {
		return false, err
	}
	var n int
	err = conn.GetContext(ctx, &n, `SELECT count(*) FROM `+pq.QuoteIdentifier(schema)+`.`+versionTable+` WHERE version_id > 0 AND is_applied`)
	return n > 0, classify(err)
}

func hasVersion1Tables(ctx context.Context, conn *sqlx.Conn, schema string) (bool, error) {
	names := make([]string, 0, len(version1Tables))
	for t := range version1Tables {
		names = append(names, t)
	}
	rows, err := conn.QueryxContext(ctx, `SELECT c.relname, array_agg(a.attname::text)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY ($2)
		GROUP BY c.relname`, schema, pq.Array(names))
	if err != nil {
		return false, classify(err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var table string
		var cols []string
		if err := rows.Scan(&table, pq.Array(&cols)); err != nil {
			return false, classify(err)
		}
		if !hasAll(cols, version1Tables[table]) {
			return false, nil
		}
		found++
	}
	return found == len(version1Tables), classify(rows.Err())
}

func hasAll(have, want []string) bool {
	set := make(map[string]bool, len(have))
	for _, c := range have {
		set[c] = true
	}
	for _, c := range want {
		if !set[c] {
			return false
		}
	}
	return true
}

// legacyRecordAgrees: no goose_db_version in schema (the tables were moved
// here), or one of goose's shape whose latest row for version 1 says
// applied.
func legacyRecordAgrees(ctx context.Context, conn *sqlx.Conn, schema string) (bool, error) {
	exists, err := tableExists(ctx, conn, schema, legacyVersionTable)
	if err != nil || !exists {
		return !exists, err
	}
	var cols []string
	if err := conn.GetContext(ctx, pq.Array(&cols), `SELECT coalesce(array_agg(a.attname::text), '{}')
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
		schema, legacyVersionTable); err != nil {
		return false, classify(err)
	}
	if !hasAll(cols, []string{"id", "version_id", "is_applied"}) {
		return false, nil
	}
	var applied bool
	err = conn.GetContext(ctx, &applied, `SELECT coalesce((SELECT is_applied FROM `+pq.QuoteIdentifier(schema)+`.`+legacyVersionTable+`
		WHERE version_id = 1 ORDER BY id DESC LIMIT 1), false)`)
	return applied, classify(err)
}

// recordVersion1 adopts an install: it writes versionTable as goose itself
// would have, created with its version 0 row, then version 1 applied.
func recordVersion1(ctx context.Context, conn *sqlx.Conn, schema string) error {
	store, err := database.NewStore(database.DialectPostgres, versionTable)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	exists, err := tableExists(ctx, tx, schema, versionTable)
	if err != nil {
		return err
	}
	if !exists {
		if err := store.CreateVersionTable(ctx, tx); err != nil {
			return fmt.Errorf("adopt version 1: %w", classify(err))
		}
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: 0}); err != nil {
			return fmt.Errorf("adopt version 1: %w", classify(err))
		}
	}
	if err := store.Insert(ctx, tx, database.InsertRequest{Version: 1}); err != nil {
		return fmt.Errorf("adopt version 1: %w", classify(err))
	}
	return classify(tx.Commit())
}

func tableExists(ctx context.Context, q sqlx.QueryerContext, schema, table string) (bool, error) {
	var exists bool
	err := sqlx.GetContext(ctx, q, &exists, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))`, schema, table)
	return exists, classify(err)
}
