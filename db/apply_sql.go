package db

import _ "embed"

// The write path's statements, in sql/ so that they read (and paste into
// psql) as SQL; each file's comment says what it does.
var (
	//go:embed sql/lock_users.sql
	lockUsersSQL string
	//go:embed sql/apply_snapshots.sql
	applySnapshotsSQL string
	//go:embed sql/apply_deletions.sql
	applyDeletionsSQL string
)
