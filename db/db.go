// Package db is the Postgres side of clerksync: the embedded migrations and
// the store that applies Clerk events and bulk imports to the mirror.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// DefaultSchema holds the mirror when no schema is named: a schema of its
// own, so that it can sit in an application's database beside public.users
// and another tool's migration history.
const DefaultSchema = "clerk"

// Open connects to Postgres and pins every connection's search_path to
// schema (DefaultSchema when empty), so that the mirror's unqualified SQL
// reaches its own tables and nothing else. It checks the connection before
// returning.
func Open(ctx context.Context, databaseURL, schema string, maxConns int) (*sqlx.DB, error) {
	db, err := Connect(databaseURL, schema, maxConns)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", classify(err))
	}
	return db, nil
}

// Connect is Open without the check: connections are made when first used,
// for processes (the receiver) that must start while Postgres is down.
func Connect(databaseURL, schema string, maxConns int) (*sqlx.DB, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	dsn, err := withSessionParams(databaseURL, schema)
	if err != nil {
		return nil, err
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(pinnedConnector{Connector: connector, schema: schema}), "postgres")
	if maxConns > 0 {
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// withSessionParams adds the schema to the URL as a run-time parameter,
// which lib/pq passes to the server at connection start. It replaces any
// search_path the URL names: the mirror's schema alone is on the path. It
// also asks for READ COMMITTED transactions, over a database or role
// default of another level, as the write path needs (sql/apply.sql).
func withSessionParams(databaseURL, schema string) (string, error) {
	if !schemaName.MatchString(schema) {
		return "", fmt.Errorf("database schema %q: want a lower-case SQL identifier", schema)
	}
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL: want a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("default_transaction_isolation", "read committed")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pinnedConnector checks each new connection's search_path before the pool
// hands it out. The server always honours the startup parameter, but
// something in between may not (a pooler told to ignore it, as PgBouncer's
// ignore_startup_parameters does): such a connection would run the
// mirror's unqualified SQL against the database's default path, public,
// where an application's own users table may live.
type pinnedConnector struct {
	driver.Connector
	schema string
}

func (c pinnedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	path, err := searchPath(ctx, conn)
	if err == nil && path != c.schema {
		err = fmt.Errorf("postgres connection has search_path %q, not %q: something between clerksync and Postgres dropped the search_path parameter", path, c.schema)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func searchPath(ctx context.Context, conn driver.Conn) (string, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return "", errors.New("postgres driver cannot query")
	}
	rows, err := q.QueryContext(ctx, `SELECT current_setting('search_path')`, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return "", err
	}
	switch s := v[0].(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("search_path: unexpected %T", v[0])
}

// classify translates a driver error into the domain's vocabulary: trouble
// reaching or running Postgres wraps ErrUnavailable. Nothing Postgres
// refuses is taken for the event's fault: the worker's own parsing rejects
// every event that can never be applied (ErrInvalidEvent) before it reaches
// Postgres, so a data exception (class 22) that gets this far comes from
// the mirror's side (a column someone narrowed, a trigger of the
// application's raising 22023) and is returned as it is, to be retried with
// backoff while someone fixes it, not archived.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "08", "40", "53", "57", "58":
			// connection, rollback (deadlock, serialization), resources,
			// operator intervention, system: all pass.
			return fmt.Errorf("%w: %w", clerksync.ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", clerksync.ErrUnavailable, err)
	}
	return err
}

// unmigrated says what to do when a table or clerksync_apply is missing:
// the schema predates the migration that makes it. (database/sql prepares
// the write path's call again on each new connection, so a missing function
// can surface on any call.)
func unmigrated(err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && (pqErr.Code == "42P01" || pqErr.Code == "42883") { // undefined_table, undefined_function
		return fmt.Errorf("%w (run clerksync migrate first)", err)
	}
	return err
}
