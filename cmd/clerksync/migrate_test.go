package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync/internal/testenv"
)

// migRun runs `clerksync migrate` in-process against dbURL, with
// DATABASE_SCHEMA set unless schema is empty.
func migRun(t *testing.T, dbURL, schema string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Lookup: func(k string) (string, bool) {
			switch {
			case k == "DATABASE_URL":
				return dbURL, true
			case k == "DATABASE_SCHEMA" && schema != "":
				return schema, true
			}
			return "", false
		}}
	code := Main(context.Background(), e, []string{"migrate"})
	return code, out.String(), errOut.String()
}

// TestMigrateBesideAnAppsUsers: beside an application's public.users the
// default schema migrates, and DATABASE_SCHEMA=public fails with one line
// naming the table and the setting to change.
func TestMigrateBesideAnAppsUsers(t *testing.T) {
	url := testenv.Postgres(t)
	app, err := sqlx.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec(`CREATE TABLE public.users (id bigserial PRIMARY KEY, email text NOT NULL)`); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := migRun(t, url, "public")
	want := `clerksync migrate: table "users" already exists in schema public and clerksync has no record of creating it: set DATABASE_SCHEMA to a schema of clerksync's own (the default is clerk)` + "\n"
	if code != 1 || stderr != want {
		t.Fatalf("exit %d, stderr %q\nwant exit 1, %q", code, stderr, want)
	}

	code, stdout, stderr := migRun(t, url, "")
	if code != 0 || !strings.HasPrefix(stdout, "migrate: applied ") {
		t.Fatalf("default schema: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var n int
	if err := app.Get(&n, `SELECT count(*) FROM clerk.users`); err != nil || n != 0 {
		t.Fatalf("clerk.users: %d rows, %v", n, err)
	}
}
