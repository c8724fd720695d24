// Command pgbenchscript prints the pgbench script make bench runs: the
// worker's single-event transaction for the multi-contact fixture user.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgbenchscript:", err)
		os.Exit(1)
	}
}

func run() error {
	body, err := os.ReadFile("testdata/21-user.updated.composed-multi-contact.json")
	if err != nil {
		return err
	}
	const marker = "BENCHUSER"
	s := strings.ReplaceAll(string(body), "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs", "user_"+marker)
	s = strings.ReplaceAll(s, "idn_", "idn_"+marker)
	s = strings.ReplaceAll(s, "eac_", "eac_"+marker)
	ev, err := clerksync.ParseEvent("msg_bench", []byte(s))
	if err != nil {
		return err
	}
	script, err := db.PgbenchScript(ev.User, marker)
	if err != nil {
		return err
	}
	fmt.Print(script)
	return nil
}
