package db

import _ "embed"

// SQL in sql/, so that it reads (and pastes into psql) as SQL; each file's
// comment says what it does.
var (
	// lockUsersSQL takes the import's user locks, the ones clerksync_apply
	// takes for the write path (TestOneUserLock holds the two together).
	//go:embed sql/lock_users.sql
	lockUsersSQL string
	// applyFunctionSQL creates clerksync_apply, the whole write path of a
	// batch; Migrate installs it (installWritePath).
	//go:embed sql/apply.sql
	applyFunctionSQL string
)

// applySQL calls clerksync_apply (sql/apply.sql) with a batch.
const applySQL = `SELECT * FROM clerksync_apply($1, $2, $3, $4, $5, $6, $7)`
