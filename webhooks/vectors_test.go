package webhooks_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// vector is one entry of testdata/svix-signature-vectors.json.
type vector struct {
	Source            string   `json:"source"`
	Secret            string   `json:"secret"`
	Secrets           []string `json:"secrets"`
	SvixID            string   `json:"svix_id"`
	SvixTimestamp     string   `json:"svix_timestamp"`
	Body              string   `json:"body"`
	BodyFile          string   `json:"body_file"`
	BodySHA256        string   `json:"body_sha256"`
	ExpectedSignature string   `json:"expected_signature"`
	SignatureHeader   string   `json:"svix_signature_header"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(fixture(t, "svix-signature-vectors.json"), &file); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(file.Vectors) < 4 {
		t.Fatalf("found %d vectors, want at least 4", len(file.Vectors))
	}
	return file.Vectors
}

func (v vector) body(t *testing.T) []byte {
	t.Helper()
	if v.BodyFile == "" {
		return []byte(v.Body)
	}
	b := fixture(t, v.BodyFile)
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != v.BodySHA256 {
		t.Fatalf("%s has changed since the vector was computed: sha256 %x", v.BodyFile, sum)
	}
	return b
}

func (v vector) header() string {
	if v.SignatureHeader != "" {
		return v.SignatureHeader
	}
	return v.ExpectedSignature
}

func (v vector) time(t *testing.T) time.Time {
	t.Helper()
	secs, err := strconv.ParseInt(v.SvixTimestamp, 10, 64)
	if err != nil {
		t.Fatalf("vector timestamp %q: %v", v.SvixTimestamp, err)
	}
	return time.Unix(secs, 0)
}

// secretConfig is a set of secrets a handler is configured with.
type secretConfig struct {
	name    string
	secrets []string
}

// secretConfigs are the configurations that must accept the vector: each of
// its secrets alone, and all of them together.
func (v vector) secretConfigs() []secretConfig {
	if len(v.Secrets) == 0 {
		return []secretConfig{{"OneSecret", []string{v.Secret}}}
	}
	out := make([]secretConfig, 0, len(v.Secrets)+1)
	for i, s := range v.Secrets {
		out = append(out, secretConfig{"OnlySecret" + strconv.Itoa(i+1), []string{s}})
	}
	return append(out, secretConfig{"AllSecrets", v.Secrets})
}

// name labels the vector's subtests by position and id (two vectors share an id).
func (v vector) name(i int) string { return "Vector" + strconv.Itoa(i+1) + "_" + v.SvixID }

// otherVersions is the vector's signatures relabelled v1a: the same bytes
// under a version the receiver must skip.
func (v vector) otherVersions() string {
	return strings.ReplaceAll(v.header(), "v1,", "v1a,")
}

// request replays the vector as Svix sent it, with signature as its
// svix-signature header.
func (v vector) request(t *testing.T, signature string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/clerk", bytes.NewReader(v.body(t)))
	r.Header.Set("svix-id", v.SvixID)
	r.Header.Set("svix-timestamp", v.SvixTimestamp)
	r.Header.Set("svix-signature", signature)
	return r
}

// Every published vector verifies through the real handler with the clock at
// the vector's time. Bodies that are not Clerk events must get past the
// signature (400, not 401); the Clerk event must be queued byte for byte.
func TestSvixVectorsVerify(t *testing.T) {
	for i, v := range loadVectors(t) {
		headers := []struct{ name, value string }{
			{"AsSent", v.header()},
			{"AmongOtherVersions", v.otherVersions() + " " + v.header()},
		}
		for _, cfg := range v.secretConfigs() {
			for _, hdr := range headers {
				t.Run(v.name(i)+"/"+cfg.name+"/"+hdr.name, func(t *testing.T) {
					s := newSetupAt(t, v.time(t), cfg.secrets...)
					rec := s.serve(v.request(t, hdr.value))
					if v.BodyFile == "" {
						if rec.Code != http.StatusBadRequest {
							t.Fatalf("status = %d, want 400 (signature accepted, body not a Clerk event)", rec.Code)
						}
						return
					}
					if rec.Code != http.StatusOK {
						t.Fatalf("status = %d, want 200", rec.Code)
					}
					assertFixture20Delivery(t, s, v.body(t))
				})
			}
		}
	}
}

func assertFixture20Delivery(t *testing.T, s *setup, body []byte) {
	t.Helper()
	_, got := s.enq.snapshot()
	if len(got) != 1 {
		t.Fatalf("queued %d deliveries, want 1", len(got))
	}
	d := got[0]
	if d.ID != "msg_2zK9nC8uF1hJ4kL7mN0pQ3rS6tV" || d.Type != clerksync.UserCreated || d.UserID != "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs" {
		t.Errorf("delivery = {%s %s %s}, want {msg_2zK9nC8uF1hJ4kL7mN0pQ3rS6tV user.created user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs}", d.ID, d.Type, d.UserID)
	}
	if !bytes.Equal(d.Body, body) {
		t.Errorf("delivery body differs from the signed bytes")
	}
}

// The same vectors are refused when something around them is wrong, so that
// the test above cannot pass by accepting everything.
func TestSvixVectorsRejected(t *testing.T) {
	const strangerSecret = "whsec_c3RyYW5nZXItc2VjcmV0LW5vdC1jbGVya3M="
	for i, v := range loadVectors(t) {
		ts := v.time(t)
		all := v.secretConfigs()[len(v.secretConfigs())-1].secrets
		tests := []struct {
			name      string
			now       time.Time
			secrets   []string
			signature string
		}{
			{name: "RejectedWrongSecret", now: ts, secrets: []string{strangerSecret}, signature: v.header()},
			{name: "RejectedSixMinutesLater", now: ts.Add(6 * time.Minute), secrets: all, signature: v.header()},
			{name: "RejectedSixMinutesEarlier", now: ts.Add(-6 * time.Minute), secrets: all, signature: v.header()},
			{name: "RejectedOnlyOtherVersions", now: ts, secrets: all, signature: v.otherVersions()},
		}
		for _, tt := range tests {
			t.Run(v.name(i)+"/"+tt.name, func(t *testing.T) {
				s := newSetupAt(t, tt.now, tt.secrets...)
				if rec := s.serve(v.request(t, tt.signature)); rec.Code != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", rec.Code)
				}
				if calls, _ := s.enq.snapshot(); calls != 0 {
					t.Errorf("Enqueue called %d times for a rejected delivery", calls)
				}
			})
		}
	}
}

// Signing the vector's inputs reproduces its signature: the vectors file and
// the library agree, so a failure above is the handler's.
func TestSvixVectorsMatchLibrarySign(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.ExpectedSignature == "" {
			continue
		}
		if got := sign(t, v.Secret, v.SvixID, v.time(t), v.body(t)); got != v.ExpectedSignature {
			t.Errorf("%s: Sign = %s, want %s", v.SvixID, got, v.ExpectedSignature)
		}
	}
}
