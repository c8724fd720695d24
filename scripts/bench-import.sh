#!/usr/bin/env bash
# Benchmarks `clerksync import` against `psql \copy` of the same generated
# Clerk Dashboard export into a flat, unindexed table, at ROWS/4, ROWS/2 and
# ROWS users (default ROWS: 1000000), and prints rows/s, the import/psql time
# ratio and the import's peak RSS for each. Goal (issue 3): at 1M rows, a
# ratio of at most 8 and at most 100 MB of RSS, and cost linear in rows.
#
#   bash scripts/bench-import.sh [ROWS]
#
# It starts services only through scripts/services.sh, works in scratch
# databases named clerksync_bench_<random>_<rows> that it drops afterwards,
# and writes its files to a temporary directory it removes.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-1000000}
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
GOAL_RATIO=8 GOAL_RSS_MB=100

bash scripts/services.sh >/dev/null

work=$(mktemp -d)
run_id=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
dbs=()
cleanup() {
  for db in "${dbs[@]}"; do
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

go build -o bin/clerksync ./cmd/clerksync
go build -o "$work/gencsv" ./cmd/gencsv

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

bench() { # bench N REPEAT: prints one result line, the medians of REPEAT runs of each side
  local n=$1 repeat=$2 file="$work/users-$1.csv"
  "$work/gencsv" -rows "$n" -seed 1 -o "$file" 2>"$work/gen.txt"
  local good
  good=$(sed -n 's/.*(\([0-9]*\) good.*/\1/p' "$work/gen.txt")
  : >"$work/copy.txt"; : >"$work/import.txt"; : >"$work/rss.txt"
  for r in $(seq 1 "$repeat"); do
    local db="clerksync_bench_${run_id}_${n}_$r"
    dbs+=("$db")
    psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null

    # The baseline: the same file into a flat table of 13 text columns.
    psql -qX -d "$db" -c "CREATE TABLE flat (id text, first_name text, last_name text, username text,
      primary_email_address text, primary_phone_number text, verified_email_addresses text,
      unverified_email_addresses text, verified_phone_numbers text, unverified_phone_numbers text,
      totp_secret text, password_digest text, password_hasher text)"
    local t0 t1 t2 t3
    t0=$(now)
    psql -qX -d "$db" -c "\\copy flat FROM '$file' WITH (FORMAT csv, HEADER true)"
    t1=$(now)
    psql -qX -d "$db" -c "DROP TABLE flat" -c "CHECKPOINT" >/dev/null 2>&1 || true
    secs "$t0" "$t1" >>"$work/copy.txt"; echo >>"$work/copy.txt"

    # The import, into a freshly migrated mirror.
    export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db?sslmode=disable"
    bin/clerksync migrate >/dev/null
    t2=$(now)
    /usr/bin/time -v bin/clerksync import "$file" >"$work/summary.txt" 2>"$work/time.txt" || {
      echo "bench-import: the import of $n rows failed:" >&2; cat "$work/summary.txt" "$work/time.txt" >&2; exit 1; }
    t3=$(now)
    secs "$t2" "$t3" >>"$work/import.txt"; echo >>"$work/import.txt"
    sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt" >>"$work/rss.txt"
    local loaded
    loaded=$(psql -qXtA -d "$db" -c "SELECT count(*) FROM ${DATABASE_SCHEMA:-clerk}.users")
    if [ "$loaded" != "$good" ]; then
      echo "bench-import: $loaded users in the mirror, want $good" >&2; exit 1
    fi
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  done
  local copy_s import_s rss_kb
  copy_s=$(grep . "$work/copy.txt" | median) import_s=$(grep . "$work/import.txt" | median)
  rss_kb=$(sort -g "$work/rss.txt" | tail -n1)
  awk -v n="$n" -v c="$copy_s" -v i="$import_s" -v r="$rss_kb" 'BEGIN {
    printf "%9d  %9.2f  %9.2f  %6.1fx  %9.0f  %9.0f  %7.1f  %8.1f\n", n, c, i, i / c, n / c, n / i, i * 1e6 / n, r / 1024 }' \
    | tee -a "$work/results.txt"
  rm -f "$file"
}

echo "clerksync import vs psql \\copy (generated Clerk exports, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "(the last line: medians of ${BENCH_IMPORT_REPEAT:-3} runs of each)"
printf "%9s  %9s  %9s  %7s  %9s  %9s  %7s  %8s\n" rows "psql s" "import s" ratio "psql r/s" "import r/s" "us/row" "RSS MB"
# The full size runs REPEAT times (medians; peak RSS is the largest), the
# smaller ones once, for linearity.
bench $((ROWS / 4)) 1
bench $((ROWS / 2)) 1
bench "$ROWS" "${BENCH_IMPORT_REPEAT:-3}"

# The verdict on the largest size, and linearity: the cost per row at ROWS
# against ROWS/4.
paste -sd' ' <(sed -n '1p;3p' "$work/results.txt") | awk -v goal="$GOAL_RATIO" -v rss="$GOAL_RSS_MB" '{
  ratio = $12 + 0; mem = $16 + 0; lin = $15 / $7
  printf "at %d rows: ratio %.1fx (goal <= %dx): %s; peak RSS %.1f MB (goal <= %d MB): %s; cost per row %.2fx that at %d rows (linear: ~1)\n",
    $9, ratio, goal, (ratio <= goal ? "met" : "NOT met"), mem, rss, (mem <= rss ? "met" : "NOT met"), lin, $1 }'
