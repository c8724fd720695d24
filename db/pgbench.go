package db

import (
	"strings"

	"github.com/clerksync/clerksync"
)

// PgbenchScript renders the write path's single-event transaction (BEGIN,
// the user's advisory lock, the snapshot statement, COMMIT) as a pgbench
// script applying u again and again, with the user and contact ids made
// distinct per transaction by the variable :uid, so that Postgres's own
// rate for this shape can be measured beside the worker's (make bench).
// u's ids must contain marker, which :uid replaces.
func PgbenchScript(u *clerksync.User, marker string) (string, error) {
	doc, err := marshalSnapshots([]userRow{newUserRow(u, clerksync.SourceWebhook)})
	if err != nil {
		return "", err
	}
	// ":uid-" and not ":uid_": pgbench reads letters, digits and _ as part
	// of a variable's name.
	literal := "'" + strings.ReplaceAll(strings.ReplaceAll(string(doc), marker, ":uid-"), "'", "''") + "'"
	apply := strings.Replace(applySnapshotsSQL, "CAST($1 AS jsonb)", "CAST("+literal+" AS jsonb)", 1)
	// Each run is a newer snapshot for the guard, as in the worker bench.
	apply = strings.Replace(apply, "u.updated_at <= excluded.updated_at", "u.updated_at <= excluded.updated_at + interval '100 years'", 1)
	return "\\set uid random(1, 1000000)\nBEGIN;\n" +
		"SELECT pg_advisory_xact_lock(1668049779, hashtext('" + strings.ReplaceAll(u.ID, marker, ":uid-") + "'));\n" +
		strings.TrimSpace(apply) + ";\nCOMMIT;\n", nil
}
