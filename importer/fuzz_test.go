package importer_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/importer"
)

// FuzzReader feeds whole files (header included) to the row parser. It must
// never panic, everything it accepts must be loadable, and no credential
// (totp_secret, password_digest, password_hasher, as encoding/csv splits
// the same bytes) may appear in anything it returns: users, contacts,
// rejects or errors.
func FuzzReader(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "*.csv"))
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "import", "*.csv"))
	for _, name := range append(seeds, more...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	header := "id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher\n"
	f.Add([]byte(header + `user_1,"Ada,""x""",L,,a@x.io,,"a@x.io|b@x.io",,,,JBSWY3DPEHPK3PXP,"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",argon2id` + "\n"))
	f.Add([]byte(header + "user_2,\"unterminated,,,,,,,,,,S3CR3TTOTP,$2b$10$digestdigestdigest,bcrypt\nuser_3,,,,,,,,,,,,\n"))
	f.Add([]byte("\ufeffID , Password_Digest\nuser_4 , $2b$10$onlytwocolumns\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		creds := credentials(file)
		var outputs []string
		r, err := importer.NewReader(bytes.NewReader(file))
		if err != nil {
			outputs = append(outputs, err.Error())
		} else {
			for rows := 0; ; rows++ {
				if rows > len(file)+1 {
					t.Fatal("Next does not reach the end")
				}
				u, rej, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					outputs = append(outputs, err.Error())
					break
				}
				if rej != nil {
					outputs = append(outputs, rej.ID, rej.Reason)
					continue
				}
				checkImportUser(t, u)
				outputs = append(outputs, userStrings(u)...)
			}
		}
		for _, c := range creds {
			for _, out := range outputs {
				if strings.Contains(out, c) {
					t.Fatalf("credential %q returned in %q", c, out)
				}
			}
		}
	})
}

// credentials lists the values of the credential columns as encoding/csv
// reads the file, leaving out those too short to tell from other text or
// that also stand in a column that is not a credential.
func credentials(file []byte) []string {
	c := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\ufeff"))))
	c.FieldsPerRecord = -1
	header, err := c.Read()
	if err != nil {
		return nil
	}
	isCred := map[int]bool{}
	for i, name := range header {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "totp_secret", "password_digest", "password_hasher":
			isCred[i] = true
		}
	}
	var creds []string
	var other strings.Builder
	for {
		rec, err := c.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue
		}
		for i, v := range rec {
			if v = strings.TrimSpace(v); isCred[i] {
				creds = append(creds, v)
			} else {
				other.WriteString(v + "\x00")
			}
		}
	}
	out := creds[:0]
	for _, c := range creds {
		if len(c) >= 8 && !strings.Contains(other.String(), c) {
			out = append(out, c)
		}
	}
	return out
}

func userStrings(u clerksync.ImportUser) []string {
	out := []string{u.ID}
	for _, p := range []*string{u.FirstName, u.LastName, u.Username} {
		if p != nil {
			out = append(out, *p)
		}
	}
	for _, c := range append(append([]clerksync.ImportContact(nil), u.Emails...), u.Phones...) {
		out = append(out, c.ID, c.Value, c.Status)
	}
	return out
}

// checkImportUser asserts what the loader relies on.
func checkImportUser(t *testing.T, u clerksync.ImportUser) {
	t.Helper()
	if !clerksync.ValidUserID(u.ID) {
		t.Fatalf("accepted id %q", u.ID)
	}
	for _, s := range userStrings(u) {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("accepted %q: invalid UTF-8 or NUL", s)
		}
	}
	primary := 0
	for _, e := range u.Emails {
		if e.IsPrimary {
			primary++
		}
	}
	if primary > 1 {
		t.Fatalf("%d primary emails", primary)
	}
}
