package clerksync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The verification statuses an import knows: the Dashboard export lists each
// address under "verified" or "unverified". A primary address that appears in
// neither list gets no status (NULL): the export does not say.
const (
	Verified   = "verified"
	Unverified = "unverified"
)

// ImportUser is one validated row of a Clerk Dashboard CSV export, normalised
// for the mirror. It never holds a credential: the password digest, its hasher
// and the TOTP secret stay inside the CSV parser, and only the facts that
// they were present survive, as booleans.
type ImportUser struct {
	// Line is the physical line of the file where the row starts; it is used
	// for reports only and is never stored.
	Line int
	// ID is a valid Clerk user id (see ValidUserID).
	ID        string
	FirstName *string
	LastName  *string
	Username  *string
	// Emails holds each address once (compared case-insensitively, the first
	// spelling kept): verified ones first, then unverified ones, then the
	// primary address if neither list held it. At most one IsPrimary.
	Emails []ImportContact
	// Phones holds each number once (compared exactly), in the same order.
	Phones []ImportContact
	// PasswordEnabled is true when the row carried a password digest.
	PasswordEnabled bool
	// TOTPEnabled is true when the row carried a TOTP secret; Clerk counts
	// TOTP as a second factor, so it also means two_factor_enabled.
	TOTPEnabled bool
}

// ImportContact is one email address or phone number of an imported user.
//
// Contact values have no length limit, here or on the webhook path: a
// value is stored as Clerk has it (the mirror's indexes on them are hash
// indexes, which take any length), so that neither path drops a user, or
// a batch of them, over one long address. What bounds a value is what
// carries it: a webhook body (1 MiB) or a CSV row (importer.MaxRowBytes,
// 1 MiB). Values are validated otherwise alike: valid UTF-8, no NUL
// (stored as U+FFFD on the webhook path, rejected by the importer, where a
// NUL means a file that is not text).
type ImportContact struct {
	// ID is stable: derived from the user id and the value (see
	// ImportEmailID, ImportPhoneID), so that importing a file again writes the
	// same rows.
	ID    string
	Value string
	// Status is Verified, Unverified, or "" when the export does not say.
	Status    string
	IsPrimary bool
}

// Primary returns the primary contact of cs, or nil.
func Primary(cs []ImportContact) *ImportContact {
	for i := range cs {
		if cs[i].IsPrimary {
			return &cs[i]
		}
	}
	return nil
}

// ImportEmailID returns the id of an imported email row: "imp_em_", the
// user id without its "user_" prefix, "_", and 16 hex digits of SHA-256 of
// the lower-cased address. The same user and address always give the same
// id, so importing a file again writes the same rows; the ids never collide
// with Clerk's own (idn_...), which a later webhook snapshot writes instead.
// The user id leads so that a user's contacts sort next to each other and a
// chunk's inserts land on few index pages, in the order users are loaded.
func ImportEmailID(userID, address string) string {
	return importID("imp_em_", userID, strings.ToLower(address))
}

// ImportPhoneID returns the id of an imported phone row, built as
// ImportEmailID's from the number as written: "imp_ph_" + user id suffix +
// "_" + 16 hex digits.
func ImportPhoneID(userID, number string) string {
	return importID("imp_ph_", userID, number)
}

func importID(prefix, userID, value string) string {
	sum := sha256.Sum256([]byte(value))
	rest := strings.TrimPrefix(userID, "user_")
	b := make([]byte, 0, len(prefix)+len(rest)+1+16)
	b = append(b, prefix...)
	b = append(b, rest...)
	b = append(b, '_')
	b = hex.AppendEncode(b, sum[:8])
	return string(b)
}

// LoadResult counts what loading a batch of ImportUsers did, one count per
// user.
type LoadResult struct {
	// Inserted users were not in the mirror and are now, with source import.
	Inserted int
	// Updated users came from an earlier import and differed; their row and
	// contacts were replaced.
	Updated int
	// Unchanged users came from an earlier import with the same data; nothing
	// was written.
	Unchanged int
	// Mirrored users were already mirrored from a webhook or a backfill, which
	// is fresher than any export; they were left untouched.
	Mirrored int
	// Deleted users have a tombstone: Clerk deleted them after the export was
	// taken, so they were not brought back.
	Deleted int
}

// Add returns the sum of r and o.
func (r LoadResult) Add(o LoadResult) LoadResult {
	return LoadResult{
		Inserted: r.Inserted + o.Inserted, Updated: r.Updated + o.Updated,
		Unchanged: r.Unchanged + o.Unchanged, Mirrored: r.Mirrored + o.Mirrored,
		Deleted: r.Deleted + o.Deleted,
	}
}

// Imported is the number of users now in the mirror from this import:
// inserted, updated or found unchanged.
func (r LoadResult) Imported() int { return r.Inserted + r.Updated + r.Unchanged }

// Skipped is the number of users left alone: mirrored from a webhook or a
// backfill, or deleted.
func (r LoadResult) Skipped() int { return r.Mirrored + r.Deleted }

// Loader writes imported users into the mirror in bulk.
type Loader interface {
	// Load writes users, which have distinct ids, taking the same per-user
	// locks as the webhook path so that an import and a webhook for one user
	// never interleave. It inserts users the mirror does not hold, replaces
	// users an earlier import wrote (rows and contacts as a whole) when they
	// differ, and never touches a user that came from a webhook or backfill
	// or that has a tombstone. Loading the same users again changes nothing.
	// A batch is one transaction unless Postgres cannot hold its locks at
	// once; on error, part of it may be written, and loading it again
	// completes it. The error wraps ErrUnavailable when Postgres did not
	// answer or the batch lost a deadlock repeatedly.
	Load(ctx context.Context, users []ImportUser) (LoadResult, error)
}
