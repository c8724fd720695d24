package testenv_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/clerksync/clerksync/internal/testenv"
)

// recorder catches the errors a check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

// TestAssertPublicEmptyFindsTables: the check every Mirror test ends with
// does see a table left in public.
func TestAssertPublicEmptyFindsTables(t *testing.T) {
	url, _ := testenv.Mirror(t, 1)
	rec := &recorder{TB: t}
	testenv.AssertPublicEmpty(rec, url)
	if len(rec.errs) != 0 {
		t.Fatalf("a fresh mirror: %v", rec.errs)
	}
	conn, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TABLE public.stray (id int)`); err != nil {
		t.Fatal(err)
	}
	testenv.AssertPublicEmpty(rec, url)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "stray") {
		t.Fatalf("errors %v, want one naming the stray table", rec.errs)
	}
	conn.Exec(`DROP TABLE public.stray`)
}
