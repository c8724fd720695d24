package db

import (
	"encoding/json"
	"time"

	"github.com/clerksync/clerksync"
)

// snapshotRow is a users row as clerksync_apply (sql/apply.sql) reads it: the user's own
// columns (clerksync.User's json tags are the column names) and the three
// the store adds. raw is spliced in by encodeSnapshots.
type snapshotRow struct {
	*clerksync.User
	Source         string    `json:"source"`
	EventTimestamp time.Time `json:"event_timestamp,omitzero"`
	DeliveryID     string    `json:"delivery_id,omitempty"`
}

// snapshotOrder is what orders two snapshots of a user: Clerk's updated_at,
// then the envelope timestamp, then the delivery id (byte-wise), as the
// guard in sql/apply.sql compares them with the stored row. A
// backfill's snapshot has neither timestamp nor delivery id (whatever its
// Event holds), so it loses every tie to a webhook's.
type snapshotOrder struct {
	updatedAt, timestamp time.Time
	deliveryID           string
}

func orderOf(e clerksync.Event) snapshotOrder {
	o := snapshotOrder{updatedAt: e.User.UpdatedAt.Time}
	if e.Source != clerksync.SourceBackfill {
		// Postgres keeps microseconds: the in-batch order must be the stored one.
		o.timestamp, o.deliveryID = e.Timestamp.Truncate(time.Microsecond), e.DeliveryID
	}
	return o
}

// before reports whether o orders strictly before p.
func (o snapshotOrder) before(p snapshotOrder) bool {
	switch {
	case !o.updatedAt.Equal(p.updatedAt):
		return o.updatedAt.Before(p.updatedAt)
	case !o.timestamp.Equal(p.timestamp):
		return o.timestamp.Before(p.timestamp)
	default:
		return o.deliveryID < p.deliveryID
	}
}

func newSnapshotRow(e clerksync.Event) snapshotRow {
	source := e.Source
	if source == "" {
		source = clerksync.SourceWebhook
	}
	o := orderOf(e)
	return snapshotRow{User: e.User, Source: source, EventTimestamp: o.timestamp, DeliveryID: o.deliveryID}
}

// snapshotParams are clerksync_apply's snapshots to accounts: one JSON array of rows
// per table.
type snapshotParams [5][]byte

// encodeSnapshots renders a batch for clerksync_apply. raw, several KB
// per user, is spliced in as received rather than handed to encoding/json,
// which would validate and compact every byte of it again: it is valid
// JSON already, since DecodeUser produced it by parsing exactly those bytes.
func encodeSnapshots(rows []snapshotRow) (snapshotParams, error) {
	var p snapshotParams
	users := make([]byte, 0, 4096*len(rows))
	users = append(users, '[')
	var n [4]int
	for i := range rows {
		if i > 0 {
			users = append(users, ',')
		}
		b, err := json.Marshal(&rows[i])
		if err != nil {
			return p, err
		}
		users = append(users, b[:len(b)-1]...) // all but the closing brace
		users = append(users, `,"raw":`...)
		if len(rows[i].Raw) == 0 {
			users = append(users, "null"...)
		} else {
			users = append(users, rows[i].Raw...)
		}
		users = append(users, '}')
		u := rows[i].User
		n[0], n[1], n[2], n[3] = n[0]+len(u.EmailAddresses), n[1]+len(u.PhoneNumbers), n[2]+len(u.Web3Wallets), n[3]+len(u.ExternalAccounts)
	}
	p[0] = append(users, ']')
	emails := make([]clerksync.EmailAddress, 0, n[0])
	phones := make([]clerksync.PhoneNumber, 0, n[1])
	wallets := make([]clerksync.Web3Wallet, 0, n[2])
	accounts := make([]clerksync.ExternalAccount, 0, n[3])
	for _, r := range rows {
		emails = append(emails, r.EmailAddresses...)
		phones = append(phones, r.PhoneNumbers...)
		wallets = append(wallets, r.Web3Wallets...)
		accounts = append(accounts, r.ExternalAccounts...)
	}
	var err error
	for i, v := range []any{emails, phones, wallets, accounts} {
		if p[i+1], err = json.Marshal(v); err != nil {
			return p, err
		}
	}
	return p, nil
}

// deletionRow is a deleted_users row as clerksync_apply reads it.
type deletionRow struct {
	ID         string    `json:"id"`
	ExternalID *string   `json:"external_id"`
	DeletedAt  time.Time `json:"deleted_at"`
}

func newDeletionRow(e clerksync.Event) deletionRow {
	// ParseEvent stored any NUL of external_id as U+FFFD already (storable).
	return deletionRow{ID: e.UserID, ExternalID: e.ExternalID, DeletedAt: e.Timestamp}
}
