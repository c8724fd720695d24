#!/usr/bin/env bash
# make fuzz: runs each fuzz target for FUZZTIME (default 20s), one after the
# other (go test -fuzz takes one target at a time). A failure stops the run;
# go test writes the failing input under the package's testdata/fuzz/, where
# plain `go test` runs it from then on: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-20s}"

targets=(
	".          FuzzParseEnvelope"
	".          FuzzParseEvent"
	".          FuzzDecodeUser"
	"./importer FuzzReader"
)
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== $name ($pkg, $FUZZTIME)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done
