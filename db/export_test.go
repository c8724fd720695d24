package db

import (
	"database/sql/driver"
	"strings"

	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

// PinnedConnector is Connect's connector for dsn as given, without the
// search_path Connect adds, so that tests can offer it a connection whose
// path is wrong, as a pooler dropping the parameter would.
func PinnedConnector(dsn, schema string) (driver.Connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return pinnedConnector{Connector: c, schema: schema}, nil
}

// PgbenchScript renders the write path's single-event transaction (one call
// of clerksync_apply, its own transaction) as a pgbench
// script applying u again and again, with the user and contact ids made
// distinct per transaction by the variable :uid, so that Postgres's own
// rate for this shape can be measured beside the worker's (make bench).
// u's ids must contain marker, which :uid replaces; its contacts are made
// u's own. Every run is the same snapshot, which the guard writes again.
func PgbenchScript(u *clerksync.User, marker string) (string, error) {
	own := *u
	own.EmailAddresses = ownedBy(u.ID, u.EmailAddresses, func(c *clerksync.EmailAddress) *string { return &c.UserID })
	own.PhoneNumbers = ownedBy(u.ID, u.PhoneNumbers, func(c *clerksync.PhoneNumber) *string { return &c.UserID })
	own.Web3Wallets = ownedBy(u.ID, u.Web3Wallets, func(c *clerksync.Web3Wallet) *string { return &c.UserID })
	own.ExternalAccounts = ownedBy(u.ID, u.ExternalAccounts, func(c *clerksync.ExternalAccount) *string { return &c.UserID })
	p, err := encodeSnapshots([]snapshotRow{newSnapshotRow(clerksync.Event{
		DeliveryID: "msg_pgbench", Type: clerksync.UserUpdated, UserID: u.ID, User: &own})})
	if err != nil {
		return "", err
	}
	// ":uid-" and not ":uid_": pgbench reads letters, digits and _ as part
	// of a variable's name.
	literal := func(b []byte) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(string(b), marker, ":uid-"), "'", "''") + "'"
	}
	args := []string{"ARRAY[" + literal([]byte(u.ID)) + "]"}
	for _, b := range p {
		args = append(args, literal(b))
	}
	args = append(args, "'[]'")
	return "\\set uid random(1, 1000000)\n" +
		"SELECT * FROM clerksync_apply(" + strings.Join(args, ", ") + ");\n", nil
}

func ownedBy[T any](userID string, cs []T, user func(*T) *string) []T {
	out := append([]T(nil), cs...)
	for i := range out {
		*user(&out[i]) = userID
	}
	return out
}
