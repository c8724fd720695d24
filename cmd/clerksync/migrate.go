package main

import (
	"context"
	"fmt"

	"github.com/clerksync/clerksync/db"
)

func cmdMigrate(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "migrate", "", "Applies the embedded schema migrations to DATABASE_URL, in schema DATABASE_SCHEMA\n"+
		"(default clerk; created if missing), recording them in its table clerksync_migrations.\n"+
		"Touches nothing outside that schema, so it can share an application's database.\n"+
		"Safe to run again and from several processes at once: one applies, the others wait.\n"+
		"First it builds the contact hash indexes if an import killed before its end left\n"+
		"them missing (seconds per million rows).")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, 2)
	if err != nil {
		return err
	}
	defer conn.Close()
	applied, err := db.Migrate(ctx, conn, cfg.DatabaseSchema)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(e.Stdout, "migrate: schema is up to date")
		return nil
	}
	fmt.Fprintf(e.Stdout, "migrate: applied %d migration(s), now at version %d\n", len(applied), applied[len(applied)-1])
	return nil
}
